"""A Nature-CNN checkpoint fed uint8 stacks, as a `Network`: the class atari-agents'
PyTorch checkpoints and Dopamine's TF checkpoints share (only their weights' names,
layouts and padding differ; see torch_state.py and tf_checkpoint.py).

The input is the uint8 stack the agent saw (canonical observations rounded back to bytes)
divided by 255; the head holds Q-values, or for distributional agents (C51, Rainbow)
`actions x atoms` logits: softmax over the atoms, and the values acted on are
Σ probabilities × support.

`gradient` (gradient saliency) is a hand-written reverse pass (`NatureCNN.backward`, and
the softmax over the atoms for distributional heads). The rounding to bytes has zero
gradient almost everywhere: it is taken as the identity (straight-through), so the
gradient with respect to the canonical input is that with respect to the network's input
(bytes / 255 = the canonical values, rounded).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo_site.errors import EntryError
from zoo_site.networks.base import OBS_SHAPE, LayerSpec, ObsSpec, OutputSpec
from zoo_site.networks.nature_cnn import NatureCNN, NatureCNNWeights


class UInt8NatureCNN:
    """Subclasses set `obs` and `layers` (the network's own names for its layers)."""

    obs: ObsSpec
    layers: tuple[LayerSpec, ...]

    def __init__(self, weights: NatureCNNWeights, actions: int, support: np.ndarray | None,
                 family: str, path: Path):  # fmt: skip
        self.path = path
        self.actions = actions
        self.support = support
        self._family = family
        self._cnn = NatureCNN(weights, OBS_SHAPE)
        if support is None:
            self._output = OutputSpec("q_values", actions, "Q-values")
        else:
            self._output = OutputSpec(
                "distribution", actions, f"expected return ({family})",
                support=tuple(float(s) for s in support),
            )  # fmt: skip

    @property
    def family(self) -> str:
        return self._family

    @property
    def output(self) -> OutputSpec:
        return self._output

    @property
    def names(self) -> tuple[str, ...]:
        """Every name `run` answers to, in order."""
        extra = ("distribution",) if self.support is not None else ()
        return tuple(spec.name for spec in self.layers) + extra

    def run(
        self, observations: np.ndarray, layers: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Canonical observations (N, 84, 84, 4) in [0, 1] -> the named layers (all when
        None), float32, computed only as far as the deepest one asked for."""
        names = self.names if layers is None else tuple(layers)
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise KeyError(
                f"{self.path}: no layer {', '.join(unknown)} (layers: {', '.join(self.names)})"
            )
        deepest = max((self.names.index(n) for n in names), default=-1)
        if deepest < 0:
            return {}
        upto = "head" if deepest >= self.names.index("output") else self.names[deepest]
        acts: dict[str, Any] = self._cnn.forward(self._input(observations), upto)
        if "head" in acts:
            acts["output"], dist = self._values(acts.pop("head"))
            if dist is not None:
                acts["distribution"] = dist
        return {name: acts[name] for name in names}

    def gradient(self, observations: np.ndarray, layer: str, weights: np.ndarray) -> np.ndarray:
        """∂(Σ_k weights[n, k] · layer[n, k]) / ∂I for each canonical observation I, by the
        reverse pass, straight through the rounding to bytes: (N, 84, 84, 4) float32.
        `weights` has the layer's shape as `run` returns it, or its flattening (N, K)."""
        if layer not in self.names:
            raise KeyError(f"{self.path}: no layer {layer} (layers: {', '.join(self.names)})")
        x = self._input(observations)
        n = len(x)
        w = np.asarray(weights, np.float32).reshape(n, -1)
        if layer not in ("output", "distribution"):
            return self._cnn.backward(self._cnn.forward(x, layer), layer, w)
        acts = self._cnn.forward(x, "head")
        if self.support is None:
            return self._cnn.backward(acts, "head", w)
        # output_a = Σ_j p_aj z_j with p_a = softmax(logits_a): for a weight g_aj on each
        # p_aj, ∂/∂logit_aj = p_aj (g_aj − Σ_i p_ai g_ai); the output's weight w_a is
        # g_aj = w_a z_j.
        _, probs = self._values(acts["head"])
        assert probs is not None
        g = w.reshape(probs.shape) if layer == "distribution" else w[:, :, None] * self.support
        logits = probs * (g - (probs * g).sum(axis=2, keepdims=True))
        return self._cnn.backward(acts, "head", logits.reshape(n, -1))

    def _input(self, observations: np.ndarray) -> np.ndarray:
        """The uint8 stack (canonical values rounded back to bytes) divided by 255, NHWC."""
        obs = np.asarray(observations)
        if obs.ndim != 4 or obs.shape[1:] != OBS_SHAPE:
            raise EntryError(self.path, f"observations must be (N, 84, 84, 4), got {obs.shape}")
        x = np.multiply(obs, np.float32(255), dtype=np.float32)
        np.rint(x, out=x)
        np.clip(x, 0, 255, out=x)
        x /= np.float32(255)
        return x

    def _values(self, head: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The head's output -> (values acted on, the probabilities or None): logits
        reshaped (actions, atoms), softmax over the atoms, Σ probabilities × support."""
        if self.support is None:
            return head, None
        logits = head.reshape(len(head), self.actions, len(self.support))
        logits = logits - logits.max(axis=2, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=2, keepdims=True)
        return (probs * self.support).sum(axis=2, dtype=np.float32), probs
