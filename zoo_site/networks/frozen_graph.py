"""Frozen TensorFlow graphs (the Atari Model Zoo's models) as a `Network`.

TensorFlow is imported lazily (inside functions) so the CLI, the catalog and the site
stages start fast. Graphs in NCHW layout (Ape-X) are rewritten to NHWC, because TF's CPU
kernels refuse NCHW convolutions; the rewrite keeps every node name and its NCHW output,
so layer names and values are unchanged.

`gradient` (gradient saliency) differentiates the pruned function with
`tf.GradientTape`. The canonical input I is fed as I x scale, so the chain rule multiplies
by the scale. A uint8 feed has no gradient (the rounding, then the cast to float): its
consumers, casts to float, are fed instead with the rounded values, so the forward pass is
the same and the rounding counts as the identity (straight-through).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo_site.errors import EntryError
from zoo_site.networks.base import OBS_SHAPE, LayerSpec, ObsSpec, OutputSpec, to_network_input
from zoo_site.networks.conventions import CONVENTIONS, LAYOUT_OPS, Convention, uses_nchw

if TYPE_CHECKING:  # pragma: no cover
    from tensorflow.core.framework.graph_pb2 import GraphDef


def load_graph_def(path: Path) -> GraphDef:
    """Parse a frozen graph, with a clear error for anything that is not one."""
    from zoo_site.networks.tfload import tensorflow

    tensorflow()
    from google.protobuf.message import DecodeError
    from tensorflow.core.framework.graph_pb2 import GraphDef

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise EntryError(path, f"cannot read the model file ({exc.strerror})") from None
    graph_def = GraphDef()
    try:
        graph_def.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise EntryError(path, f"not a TensorFlow frozen graph (.pb): {exc}") from None
    if not graph_def.node:
        raise EntryError(path, "not a TensorFlow frozen graph (.pb): it holds no nodes")
    return graph_def


def detect_convention(graph_def: GraphDef, algo: str, path: Path) -> Convention:
    """The convention whose node names the graph has (preferring the algorithm's own),
    else one found by analysing the graph; an EntryError when neither works."""
    names = {n.name for n in graph_def.node}
    consumed = {_op_name(i) for n in graph_def.node for i in n.input}
    matches = [
        c
        for c in CONVENTIONS.values()
        if c.input in names and all(layer in names for layer in c.layers)
    ]
    # A Rainbow graph holds every DQN name too: a match whose output feeds nothing further
    # is the network's real output; the algorithm's own family breaks ties.
    matches.sort(key=lambda c: (c.output in consumed, c.family != algo))
    if matches:
        return matches[0]
    from zoo_site.networks.discover import discover_convention

    found = discover_convention(graph_def)
    if found is not None:
        return found
    known = ", ".join(sorted(CONVENTIONS))
    raise EntryError(
        path,
        f"the graph's node names match no known convention ({known}) and no input -> "
        "conv -> dense -> output chain was found; set [algos.<id>] layers in zoo-site.toml",
    )


def _op_name(tensor: str) -> str:
    return tensor.lstrip("^").split(":")[0]


def configured_convention(graph_def: GraphDef, algo: str, path: Path, cfg: Any) -> Convention:
    """The layers named in zoo-site.toml ([algos.<id>] layers/input/input_scale)."""
    names = {n.name for n in graph_def.node}
    feed = cfg.input or _single_placeholder(graph_def, path)
    missing = [op for op in [feed, *cfg.layers] if op not in names]
    if missing:
        raise EntryError(path, f"ops named in zoo-site.toml [algos.{algo}] are not in the graph: "
                         + ", ".join(missing))  # fmt: skip
    layout = "NCHW" if uses_nchw(graph_def) else "NHWC"
    return Convention(f"{algo} (zoo-site.toml)", feed, cfg.input_scale, tuple(cfg.layers), layout)


def _single_placeholder(graph_def: GraphDef, path: Path) -> str:
    placeholders = [n.name for n in graph_def.node if n.op == "Placeholder"]
    if len(placeholders) != 1:
        raise EntryError(path, f"set [algos.<id>] input: the graph has {len(placeholders)} inputs")
    return placeholders[0]


_PER_DIM_ATTRS = ("strides", "dilations", "ksize")


def to_cpu_layout(graph_def: GraphDef) -> GraphDef:
    """Rewrite NCHW ops as transpose -> NHWC op -> transpose, keeping every name.

    The op named X still outputs the same NCHW tensor, so every layer keeps its name,
    shape and values; only the kernel that computes it changes to one the CPU has.
    """
    from tensorflow.core.framework.graph_pb2 import GraphDef

    out = GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    out.node.extend([_perm_const("zoo_site/to_nhwc", [0, 2, 3, 1])])
    out.node.extend([_perm_const("zoo_site/to_nchw", [0, 3, 1, 2])])
    for node in graph_def.node:
        if node.op in LAYOUT_OPS and node.attr["data_format"].s == b"NCHW":
            out.node.extend(_rewrite_nchw(node))
        else:
            out.node.add().CopyFrom(node)
    return out


def _perm_const(name: str, perm: list[int]) -> Any:
    import tensorflow as tf
    from tensorflow.core.framework.node_def_pb2 import NodeDef

    node = NodeDef(name=name, op="Const")
    node.attr["dtype"].type = tf.int32.as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.array(perm, np.int32)))
    return node


def _transpose(name: str, source: str, perm: str, dtype_attr: Any) -> Any:
    from tensorflow.core.framework.node_def_pb2 import NodeDef

    node = NodeDef(name=name, op="Transpose", input=[source, perm])
    node.attr["T"].CopyFrom(dtype_attr)
    node.attr["Tperm"].type = 3  # DT_INT32
    return node


def _rewrite_nchw(node: Any) -> list[Any]:
    from tensorflow.core.framework.node_def_pb2 import NodeDef

    inner = NodeDef()
    inner.CopyFrom(node)
    inner.name = f"{node.name}/zoo_site_nhwc"
    inner.attr["data_format"].s = b"NHWC"
    for attr in _PER_DIM_ATTRS:
        if attr in inner.attr and len(inner.attr[attr].list.i) == 4:
            n, c, h, w = inner.attr[attr].list.i
            del inner.attr[attr].list.i[:]
            inner.attr[attr].list.i.extend([n, h, w, c])
    before = _transpose(
        f"{node.name}/zoo_site_in", node.input[0], "zoo_site/to_nhwc", node.attr["T"]
    )
    inner.input[0] = before.name
    after = _transpose(node.name, inner.name, "zoo_site/to_nchw", node.attr["T"])
    return [before, inner, after]


def layer_specs(convention: Convention) -> tuple[LayerSpec, ...]:
    """Canonical names for the convention's layers: conv1.., fc, output."""
    n_conv = len(convention.layers) - 2
    names = [(f"conv{i + 1}", "conv") for i in range(n_conv)]
    names += [("fc", "dense"), ("output", "output")]
    return tuple(
        LayerSpec(name, op, kind)  # type: ignore[arg-type]
        for (name, kind), op in zip(names, convention.layers, strict=True)
    )


class FrozenGraphNetwork:
    """A frozen graph, run on batches; one pruned function per set of layers fetched."""

    def __init__(self, graph_def: GraphDef, convention: Convention, path: Path):
        import tensorflow as tf

        if uses_nchw(graph_def):
            graph_def = to_cpu_layout(graph_def)
        self.convention = convention
        self.path = path

        def _import() -> None:
            tf.compat.v1.import_graph_def(graph_def, name="")

        self._wrapped = tf.compat.v1.wrap_function(_import, [])
        graph = self._wrapped.graph
        self._feed = graph.get_tensor_by_name(convention.input + ":0")
        dtype = np.dtype(self._feed.dtype.as_numpy_dtype).name
        self.obs = ObsSpec((84, 84, 4), dtype, "NHWC", convention.input_scale, convention.input)
        self.layers = layer_specs(convention)
        names = {op.name for op in graph.get_operations()}
        value = convention.value_head if convention.value_head in names else None
        width = self._static_width(graph, convention.output)
        self.output = OutputSpec(convention.output_kind, width, convention.output_label,
                                 value_head="value" if value else None)  # fmt: skip
        self._ops = {spec.name: spec.op for spec in self.layers} | ({"value": value} if value
                                                                    else {})  # fmt: skip
        self._functions: dict[tuple[str, ...], Any] = {}
        self._gradients: dict[str, tuple[Any, int]] = {}

    @property
    def family(self) -> str:
        return self.convention.family

    @staticmethod
    def _static_width(graph: Any, op: str) -> int:
        shape = graph.get_tensor_by_name(op + ":0").shape
        return int(shape[-1]) if shape.rank and shape[-1] is not None else 0

    def _function(self, names: tuple[str, ...]) -> Any:
        if names not in self._functions:
            graph = self._wrapped.graph
            outs = [graph.get_tensor_by_name(self._ops[n] + ":0") for n in names]
            self._functions[names] = self._wrapped.prune(feeds=self._feed, fetches=outs)
        return self._functions[names]

    def _gradient_function(self, name: str) -> tuple[Any, int]:
        """(The pruned function of one layer fed float tensors, how many feeds it takes):
        the feed itself, or for an integer feed its consumers (casts to float)."""
        if name not in self._gradients:
            graph = self._wrapped.graph
            feeds = [self._feed]
            if not self._feed.dtype.is_floating:
                casts = self._feed.consumers()
                feeds = [op.outputs[0] for op in casts]
                if not casts or any(op.type != "Cast" or not op.outputs[0].dtype.is_floating
                                    for op in casts):  # fmt: skip
                    raise NotImplementedError(
                        f"{self.path}: gradient saliency needs the {self._feed.dtype.name} "
                        f"input {self.convention.input} to be cast to float before any other "
                        'use; use method = "perturbation"'
                    )
            out = graph.get_tensor_by_name(self._ops[name] + ":0")
            self._gradients[name] = (self._wrapped.prune(feeds=feeds, fetches=[out]), len(feeds))
        return self._gradients[name]

    def gradient(self, observations: np.ndarray, layer: str, weights: np.ndarray) -> np.ndarray:
        """∂(Σ_k weights[n, k] · layer[n, k]) / ∂I for each canonical observation I:
        (N, 84, 84, 4) float32. `weights` has the layer's canonical shape as `run` returns
        it (a value head's (N,) as (N, 1)), or its flattening (N, K)."""
        import tensorflow as tf

        if layer not in self._ops:
            raise KeyError(f"{self.path}: no layer {layer}")
        function, feeds = self._gradient_function(layer)
        x = tf.convert_to_tensor(to_network_input(observations, self.obs).astype(np.float32))
        w = tf.convert_to_tensor(np.asarray(weights, np.float32).reshape(len(x), -1))
        kind = {spec.name: spec.kind for spec in self.layers}.get(layer, "value")
        with tf.GradientTape() as tape:
            tape.watch(x)
            (out,) = _call(function, *[x] * feeds)
            if kind == "conv" and self.convention.data_format == "NCHW":
                out = tf.transpose(out, [0, 2, 3, 1])
            total = tf.reduce_sum(tf.reshape(out, [len(x), -1]) * w)
        grad = tape.gradient(total, x)
        if grad is None:  # the layer does not depend on the input
            return np.zeros((len(x), *OBS_SHAPE), np.float32)
        grad = grad.numpy() * np.float32(self.obs.scale)  # ∂(I x scale)/∂I
        if self.obs.layout == "NCHW":
            grad = np.transpose(grad, (0, 2, 3, 1))
        return np.ascontiguousarray(grad, np.float32)

    def run(
        self, observations: np.ndarray, layers: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Feed canonical observations; return each asked layer, canonical and float32."""
        import tensorflow as tf

        names = tuple(layers) if layers is not None else tuple(self._ops)
        unknown = [n for n in names if n not in self._ops]
        if unknown:
            raise KeyError(f"{self.path}: no layer {', '.join(unknown)}")
        x = to_network_input(observations, self.obs)
        outs = _call(self._function(names), tf.convert_to_tensor(x))
        kinds = {spec.name: spec.kind for spec in self.layers}
        return {
            name: _canonical(o.numpy(), kinds.get(name, "value"), self.convention.data_format)
            for name, o in zip(names, outs, strict=True)
        }


def _call(function: Any, *tensors: Any) -> Any:
    """A pruned function on its tensors, through its flat signature. Called plainly, TF
    first tries to bind the argument to its structured signature, which takes none; the
    failure formats the whole input as text for its message before the flat call is made
    (half of a batch-1 call's time, 10 % of a batch of 289). The same outputs either way."""
    flat = getattr(function, "_call_flat", None)
    if flat is not None:
        try:
            return flat(list(tensors), function.captured_inputs)
        except TypeError:  # another TensorFlow's private API: the public call below
            pass
    return function(*tensors)


def _canonical(values: np.ndarray, kind: str, data_format: str) -> np.ndarray:
    """conv (N, H, W, C) whatever the graph's layout; everything else (N, units), float32."""
    values = values.astype(np.float32, copy=False)
    if kind == "conv":
        if values.ndim == 4 and data_format == "NCHW":
            return np.ascontiguousarray(np.transpose(values, (0, 2, 3, 1)))
        return values
    if values.ndim == 2 and values.shape[1] == 1 and kind not in ("dense", "output"):
        return values[:, 0]
    return values.reshape(len(values), -1) if values.ndim != 2 else values


def load(ref: Any, *, actions: int | None = None, override: Any = None) -> FrozenGraphNetwork:
    """Load a frozen graph (`ref` a ModelRef); its convention is detected (preferring
    ref.family's) unless `override` ([algos.<id>] in zoo-site.toml) names the layers."""
    path = Path(ref.path)
    graph_def = load_graph_def(path)
    if override is not None and override.layers:
        conv = configured_convention(graph_def, ref.family, path, override)
    else:
        conv = detect_convention(graph_def, ref.family, path)
    try:
        network = FrozenGraphNetwork(graph_def, conv, path)
    except Exception as exc:  # TF raises many types for a malformed graph
        raise EntryError(path, f"TensorFlow cannot load the graph: {exc}") from None
    if actions and network.output.actions not in (0, actions):
        raise EntryError(path, f"the output layer has {network.output.actions} units, but the "
                         f"game has {actions} actions")  # fmt: skip
    return network
