"""What every network is to the rest of zoo-site: what it eats, its layers in order, what
its output means, and one call that runs a batch and returns every layer.

Observations cross this boundary in one canonical form, the Atari Model Zoo's: float32
(N, 84, 84, 4) in [0, 1], frames last. A network converts them to its own input
(`ObsSpec`: layout, dtype, scale) and returns its layers canonically too: conv layers
(N, H, W, C), dense layers (N, units), the output (N, actions) as the values the agent
acts on (Q-values, the expected return of a distribution, or logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

LayerKind = Literal["conv", "dense", "output"]
OutputKind = Literal["q_values", "logits", "distribution", "values"]
#: Canonical observations: (N, 84, 84, 4) float32 in [0, 1].
OBS_SHAPE = (84, 84, 4)


@dataclass(frozen=True)
class ObsSpec:
    """The network's own input."""

    shape: tuple[int, ...]
    """One observation in the network's layout, e.g. (84, 84, 4) or (4, 84, 84)."""
    dtype: str
    """"uint8" or "float32"."""
    layout: Literal["NHWC", "NCHW"]
    scale: float
    """The network is fed canonical observations (in [0, 1]) times this (255 for uint8)."""
    input: str = ""
    """The network's own name for its input (a graph op, "uint8 NCHW tensor")."""


@dataclass(frozen=True)
class LayerSpec:
    name: str
    """Canonical: conv1, conv2, ..., fc, output."""
    op: str
    """The network's own name for it (a graph op, a state_dict prefix, a variable scope)."""
    kind: LayerKind


@dataclass(frozen=True)
class OutputSpec:
    """What the output layer means."""

    kind: OutputKind
    """"q_values", "logits" (a policy), "distribution" (C51: the output layer holds each
    action's expected return; `run` also returns "distribution", (N, actions, atoms)
    probabilities over `support`), or "values" (meaning unknown)."""
    actions: int
    label: str
    """For people, e.g. "Q-values"."""
    support: tuple[float, ...] | None = None
    value_head: str | None = None
    """The name of a layer holding a state value (N,) where the network has one."""


@runtime_checkable
class Network(Protocol):
    """A loaded network, ready to run batches of canonical observations."""

    @property
    def family(self) -> str:
        """Which convention or architecture, for people and the manifest ("apex", "C51")."""
        ...

    @property
    def obs(self) -> ObsSpec: ...

    @property
    def layers(self) -> tuple[LayerSpec, ...]:
        """In order, input to output; the last has kind "output"."""
        ...

    @property
    def output(self) -> OutputSpec: ...

    def run(
        self, observations: np.ndarray, layers: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Run a batch of canonical observations; return the named layers (all when None)
        in canonical layouts, float32, plus "distribution" / the value head when asked."""
        ...


def to_network_input(observations: np.ndarray, spec: ObsSpec) -> np.ndarray:
    """Canonical (N, 84, 84, 4) [0, 1] observations -> the network's own input."""
    x = np.asarray(observations, np.float32) * np.float32(spec.scale)
    if spec.layout == "NCHW":
        x = np.transpose(x, (0, 3, 1, 2))
    if np.issubdtype(np.dtype(spec.dtype), np.integer):  # clipped: a cast would wrap around
        info = np.iinfo(np.dtype(spec.dtype))
        x = np.clip(np.rint(x), info.min, info.max)
    return np.ascontiguousarray(x.astype(spec.dtype, copy=False))


def action_values(network: Network, observations: np.ndarray) -> np.ndarray:
    """The output layer only: (N, actions) float32."""
    return network.run(observations, ["output"])["output"]
