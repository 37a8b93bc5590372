"""Frozen TensorFlow graphs of the Atari Model Zoo: their conventions, and running them.

TensorFlow is imported lazily (inside functions) so the CLI, the catalog and the site
stages start fast. Graphs in NCHW layout (Ape-X) are rewritten to NHWC, because TF's CPU
kernels refuse NCHW convolutions; the rewrite keeps every node name and its NCHW output,
so layer names and values are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo_site.errors import EntryError

if TYPE_CHECKING:  # pragma: no cover
    from tensorflow.core.framework.graph_pb2 import GraphDef


@dataclass(frozen=True)
class Convention:
    """How one algorithm family names and feeds its frozen graph."""

    family: str
    input: str
    """Op whose output is fed the observation stack (N, 84, 84, 4)."""
    input_scale: float
    """Observations are stored in [0, 1]; they are multiplied by this before feeding."""
    layers: tuple[str, ...]
    """conv1, conv2, conv3, the fully connected layer, the output layer (op names)."""
    data_format: str = "NHWC"

    @property
    def output(self) -> str:
        return self.layers[-1]

    @property
    def dense(self) -> str:
        return self.layers[-2]


def _conv_chain(prefix: str, names: tuple[str, str, str]) -> tuple[str, ...]:
    return tuple(f"{prefix}{n}" for n in names)


CONVENTIONS: dict[str, Convention] = {
    "apex": Convention(
        "apex",
        "X_t",
        1.0,
        (
            *_conv_chain("deepq/q_func/convnet/", ("Conv/Relu", "Conv_1/Relu", "Conv_2/Relu")),
            "deepq/q_func/state_value/Relu",
            "deepq/q_func/q_values",
        ),
        "NCHW",
    ),
    "a2c": Convention(
        "a2c",
        "X_t",
        1.0,
        ("a2c/conv1/Relu", "a2c/conv2/Relu", "a2c/conv3/Relu", "a2c/fc/Relu", "a2c/policy/BiasAdd"),
    ),
    "ga": Convention(
        "ga",
        "X_t",
        1.0,
        ("ga/conv1/relu", "ga/conv2/relu", "ga/conv3/relu", "ga/fc/relu", "ga/out/signal"),
    ),
    "es": Convention(
        "es",
        "X_t",
        1.0,
        (
            "es/layer1/Relu",
            "es/layer2/Relu",
            "es/layer3/Relu",
            "es/layer4/Relu",
            "es/layer5/out/out",
        ),
    ),
    "dqn": Convention(
        "dqn",
        "Online/Cast",
        255.0,
        (
            *_conv_chain("Online/", ("Conv/Relu", "Conv_1/Relu", "Conv_2/Relu")),
            "Online/fully_connected/Relu",
            "Online/fully_connected_1/BiasAdd",
        ),
    ),
    "rainbow": Convention(
        "rainbow",
        "Online/Cast",
        255.0,
        (
            *_conv_chain("Online/", ("Conv/Relu", "Conv_1/Relu", "Conv_2/Relu")),
            "Online/fully_connected/Relu",
            "Online/Sum",
        ),
    ),
}


def load_graph_def(path: Path) -> GraphDef:
    """Parse a frozen graph, with a clear error for anything that is not one."""
    from zoo_site.tfload import tensorflow

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
    from zoo_site.discover import discover_convention

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


_LAYOUT_OPS = {"Conv2D", "BiasAdd", "MaxPool", "AvgPool", "DepthwiseConv2dNative"}
_PER_DIM_ATTRS = ("strides", "dilations", "ksize")


def uses_nchw(graph_def: GraphDef) -> bool:
    return any(n.op in _LAYOUT_OPS and n.attr["data_format"].s == b"NCHW" for n in graph_def.node)


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
        if node.op in _LAYOUT_OPS and node.attr["data_format"].s == b"NCHW":
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


class GraphRunner:
    """Runs a frozen graph on batches of observations, fetching chosen layers."""

    def __init__(self, graph_def: GraphDef, convention: Convention, fetch: list[str]):
        import tensorflow as tf

        if uses_nchw(graph_def):
            graph_def = to_cpu_layout(graph_def)
        self.convention = convention
        self.fetch = list(fetch)

        def _import() -> None:
            tf.compat.v1.import_graph_def(graph_def, name="")

        wrapped = tf.compat.v1.wrap_function(_import, [])
        graph = wrapped.graph
        feed = graph.get_tensor_by_name(convention.input + ":0")
        self._dtype = feed.dtype.as_numpy_dtype
        outs = [graph.get_tensor_by_name(name + ":0") for name in self.fetch]
        self._fn = wrapped.prune(feeds=feed, fetches=outs)

    def __call__(self, observations: np.ndarray) -> list[np.ndarray]:
        """Feed observations in [0, 1], shape (N, 84, 84, 4); return each fetched layer."""
        x = np.asarray(observations, np.float32) * np.float32(self.convention.input_scale)
        if np.issubdtype(self._dtype, np.integer):
            x = np.rint(x)
        import tensorflow as tf

        outs = self._fn(tf.convert_to_tensor(x.astype(self._dtype)))
        return [o.numpy() for o in outs]


def load_runner(path: Path, algo: str, every_layer: bool = False, override: Any = None):
    """Load `path`; fetch the output and dense layer (to act) or every layer."""
    graph_def = load_graph_def(path)
    if override is not None and override.layers:
        conv = configured_convention(graph_def, algo, path, override)
    else:
        conv = detect_convention(graph_def, algo, path)
    fetch = list(conv.layers) if every_layer else [conv.output, conv.dense]
    try:
        return GraphRunner(graph_def, conv, fetch)
    except Exception as exc:  # TF raises many types for a malformed graph
        raise EntryError(path, f"TensorFlow cannot load the graph: {exc}") from None
