"""Find the input -> conv -> dense -> output chain of a graph that follows no known convention.

Static analysis only: node ops, inputs and attributes, plus the static shapes TensorFlow
infers when the GraphDef is imported into a ``tf.Graph`` (cheap; nothing is run). The
graph must have a single float or uint8 ``Placeholder`` of rank 4 (the observation stack).
Its activations (Relu, Relu6, Elu, Selu, LeakyRelu) are read in topological order: those
computed from a convolution with no matrix product in between (rank 4) are conv layers,
those computed from a matrix product (rank 2) are dense layers. The last dense activation
is the dense layer, and every conv activation it depends on is a conv layer. The output is
the rank-2 float node computed from the dense layer that nothing consumes (the widest, if
several, e.g. a policy beside a value head), else the last such node.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import TYPE_CHECKING, NamedTuple

from zoo_site.networks.conventions import Convention, uses_nchw

if TYPE_CHECKING:  # pragma: no cover
    from tensorflow.core.framework.graph_pb2 import GraphDef

ACTIVATIONS = frozenset({"Relu", "Relu6", "Elu", "Selu", "LeakyRelu"})
_CONV_OPS = frozenset({"Conv2D", "DepthwiseConv2dNative"})
_MATMUL_OPS = frozenset({"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"})
_DT_FLOAT, _DT_UINT8 = 1, 4  # tensorflow.core.framework.types_pb2 DataType values
_EXPECTED_RANK = {"conv": 4, "dense": 2}


class _Shape(NamedTuple):
    rank: int | None
    width: int  # the last dimension; 0 when unknown
    floating: bool


_UNKNOWN = _Shape(None, 0, True)


def discover_convention(graph_def: GraphDef) -> Convention | None:
    """The graph's input, conv activations, dense activation and output, or None when
    no such chain is found (no single 4-D input, no conv or dense activation, no output)."""
    g = _Graph(graph_def)
    feed = _find_input(g, graph_def)
    if feed is None:
        return None
    input_op, scale = feed
    downstream = g.reach(input_op, g.consumers)
    kinds = {n: _kind(g, n) for n in g.order if g.nodes[n].op in ACTIVATIONS and n in downstream}
    dense = [n for n, kind in kinds.items() if kind == "dense"]
    if not dense:
        return None
    upstream = g.reach(dense[-1], g.inputs)
    convs = [n for n, kind in kinds.items() if kind == "conv" and n in upstream]
    output = _find_output(g, dense[-1])
    if not convs or output is None:
        return None
    layout = "NCHW" if uses_nchw(graph_def) else "NHWC"
    return Convention("discovered", input_op, scale, (*convs, dense[-1], output), layout)


class _Graph:
    """Data edges (control inputs dropped), a topological order and static shapes."""

    def __init__(self, graph_def: GraphDef):
        self.nodes = {n.name: n for n in graph_def.node}
        self.inputs = {n.name: self._data_inputs(n) for n in graph_def.node}
        self.consumers: dict[str, list[str]] = defaultdict(list)
        for name, sources in self.inputs.items():
            for source in sources:
                self.consumers[source].append(name)
        self.order = self._topological()
        self.shapes = _static_shapes(graph_def)

    def _data_inputs(self, node) -> list[str]:
        """The nodes `node` reads tensors from ('scope/op:1' -> 'scope/op'; no '^control')."""
        sources = (i.split(":", 1)[0] for i in node.input if not i.startswith("^"))
        return [s for s in sources if s in self.nodes]

    def _topological(self) -> list[str]:
        """Kahn's algorithm, ties broken by GraphDef order; nodes on cycles go last."""
        pending = {name: len(set(sources)) for name, sources in self.inputs.items()}
        ready = deque(name for name, count in pending.items() if count == 0)
        order: list[str] = []
        while ready:
            name = ready.popleft()
            order.append(name)
            for consumer in dict.fromkeys(self.consumers[name]):
                pending[consumer] -= 1
                if pending[consumer] == 0:
                    ready.append(consumer)
        placed = set(order)
        return order + [name for name in self.nodes if name not in placed]

    def shape(self, name: str) -> _Shape:
        return self.shapes.get(name, _UNKNOWN)

    def reach(self, start: str, edges: dict[str, list[str]]) -> set[str]:
        """Every node reachable from `start` along `edges` (inputs: upstream), itself included."""
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def nearest_producer(self, name: str) -> str | None:
        """'conv' or 'dense': whether a convolution or a matrix product is the closest
        upstream of `name` (breadth-first); None when there is neither."""
        seen, todo = {name}, deque([name])
        while todo:
            node = todo.popleft()
            op = self.nodes[node].op
            if op in _CONV_OPS:
                return "conv"
            if op in _MATMUL_OPS:
                return "dense"
            for source in self.inputs[node]:
                if source not in seen:
                    seen.add(source)
                    todo.append(source)
        return None


def _static_shapes(graph_def: GraphDef) -> dict[str, _Shape]:
    """First-output shapes, as TF infers them on import (else from `_output_shapes`)."""
    import tensorflow as tf

    graph = tf.Graph()
    try:
        with graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
    except Exception:  # an op this TF lacks, a malformed graph: fall back to the attrs
        return {n.name: _shape_attr(n) for n in graph_def.node if "_output_shapes" in n.attr}
    shapes = {}
    for op in graph.get_operations():
        if op.outputs:
            out = op.outputs[0]
            dims = out.shape.as_list() if out.shape.rank is not None else None
            width = (dims[-1] or 0) if dims else 0
            shapes[op.name] = _Shape(out.shape.rank, width, out.dtype.is_floating)
    return shapes


def _shape_attr(node) -> _Shape:
    shape = node.attr["_output_shapes"].list.shape
    if not shape or shape[0].unknown_rank:
        return _UNKNOWN
    dims = [d.size for d in shape[0].dim]
    return _Shape(len(dims), max(dims[-1], 0) if dims else 0, True)


def _find_input(g: _Graph, graph_def: GraphDef) -> tuple[str, float] | None:
    """(op to feed, input scale) for the single float or uint8 rank-4 placeholder."""
    found = [
        n
        for n in graph_def.node
        if n.op == "Placeholder"
        and n.attr["dtype"].type in (_DT_FLOAT, _DT_UINT8)
        and not n.attr["shape"].shape.unknown_rank
        and len(n.attr["shape"].shape.dim) == 4
    ]
    if len(found) != 1:
        return None
    placeholder = found[0]
    if placeholder.attr["dtype"].type == _DT_FLOAT:
        return placeholder.name, 1.0
    after = g.consumers[placeholder.name]
    if len(after) == 1 and g.nodes[after[0]].op == "Cast":
        return after[0], 255.0
    return placeholder.name, 255.0


def _kind(g: _Graph, name: str) -> str | None:
    """'conv', 'dense' or None for an activation, by its producer, checked by its rank."""
    kind = g.nearest_producer(name)
    rank = g.shape(name).rank
    if kind is None or rank not in (None, _EXPECTED_RANK[kind]):
        return None
    return kind


def _find_output(g: _Graph, dense: str) -> str | None:
    """The rank-2 (or unknown-rank) float node computed from `dense`: one nothing consumes
    (the widest, then the last), else the last in topological order."""
    below = g.reach(dense, g.consumers) - {dense}
    candidates = [
        n for n in g.order if n in below and g.shape(n).rank in (2, None) and g.shape(n).floating
    ]
    sinks = [n for n in candidates if not g.consumers[n]]
    if sinks:
        rank_of = {n: i for i, n in enumerate(sinks)}
        return max(sinks, key=lambda n: (g.shape(n).width, rank_of[n]))
    return candidates[-1] if candidates else None
