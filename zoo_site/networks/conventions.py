"""The Atari Model Zoo's frozen-graph conventions: per algorithm family, the op fed the
observations, the layers' op names, and what the output means.

This is the one per-algorithm table of frozen graphs (the zoo layout's own play protocols
are in sources/zoo_layout.py). Graphs that follow none are analysed by discover.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zoo_site.networks.base import OutputKind

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
    output_kind: OutputKind = "values"
    """What the output layer holds: "q_values", "logits" or "values" (unknown meaning)."""
    value_head: str | None = None
    """The op of a state-value head (N, 1), where the graph has one."""

    @property
    def output_label(self) -> str:
        return {"q_values": "Q-values", "logits": "logits"}.get(self.output_kind, "outputs")

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
        "q_values",
    ),
    "a2c": Convention(
        "a2c",
        "X_t",
        1.0,
        ("a2c/conv1/Relu", "a2c/conv2/Relu", "a2c/conv3/Relu", "a2c/fc/Relu", "a2c/policy/BiasAdd"),
        output_kind="logits",
        value_head="a2c/value/BiasAdd",
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
        output_kind="q_values",
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
        output_kind="q_values",
    ),
}


LAYOUT_OPS = {"Conv2D", "BiasAdd", "MaxPool", "AvgPool", "DepthwiseConv2dNative"}


def uses_nchw(graph_def: GraphDef | Any) -> bool:
    """Whether any convolution-like op of the graph runs channels-first."""
    return any(n.op in LAYOUT_OPS and n.attr["data_format"].s == b"NCHW" for n in graph_def.node)
