"""Run a rollout's observations through its network, batched, keeping every layer.

Activations come back canonical whatever the network (see networks/base.py): conv layers
(N, H, W, C), dense and output layers (N, units). The chosen action at every step is the
argmax of the output layer (the rollout's recorded action, where it has one, is kept
separately: it includes exploration and sticky actions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo_site.errors import EntryError
from zoo_site.networks.base import OBS_SHAPE, Network

BATCH = 256


@dataclass
class Layer:
    name: str  # canonical: conv1, conv2, ..., fc, output
    op: str  # the network's own name for it
    kind: str  # "conv", "dense" or "output"
    values: np.ndarray  # (N, H, W, C) for conv, (N, units) otherwise; float32


@dataclass
class Activations:
    network: Network
    layers: list[Layer]
    extras: dict[str, np.ndarray]
    """What the network gives beside its layers: "distribution", "value"."""

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def greedy_actions(self) -> np.ndarray:
        return np.argmax(self.output.values, axis=1).astype(np.int32)


def load_observations(path: Path, steps: int, obs: np.ndarray | None = None) -> np.ndarray:
    """The rollout's observations (read from `path` unless given) as canonical float32
    (N, 84, 84, 4) in [0, 1]: integer arrays and floats stored 0-255 are divided by 255."""
    if obs is None:
        with np.load(path, allow_pickle=False) as npz:
            obs = npz["observations"]
    if obs.ndim == 4 and obs.shape[1:] == (4, 84, 84):
        obs = np.transpose(obs, (0, 2, 3, 1))  # stored channels-first
    if obs.ndim != 4 or obs.shape[1:] != OBS_SHAPE:
        raise EntryError(path, f"observations must be (N, 84, 84, 4), got shape {obs.shape}")
    if len(obs) != steps:
        raise EntryError(path, f"observations has {len(obs)} steps, frames has {steps}")
    integer = np.issubdtype(obs.dtype, np.integer)
    obs = obs.astype(np.float32, copy=False)
    if integer or obs.max(initial=0.0) > 1.0 + 1e-6:  # stored 0-255
        obs = obs / np.float32(255.0)
    return obs


def compute(network: Network, observations: np.ndarray, model: Path) -> Activations:
    """All layers (and extras) for all observations, `BATCH` at a time, checked for NaN
    and Inf."""
    chunks = [network.run(observations[i : i + BATCH]) for i in range(0, len(observations), BATCH)]
    names = list(chunks[0]) if chunks else []
    values = {n: np.concatenate([c[n] for c in chunks]).astype(np.float32, copy=False)
              for n in names}  # fmt: skip
    layers = []
    for spec in network.layers:
        array = values.pop(spec.name)
        _check_shape(array, spec.kind, spec.name, model)
        _check_finite(array, spec.name, spec.op, model)
        layers.append(Layer(spec.name, spec.op, spec.kind, array))
    return Activations(network, layers, values)


def _check_shape(values: np.ndarray, kind: str, name: str, model: Path) -> None:
    want = 4 if kind == "conv" else 2
    if values.ndim != want:
        raise EntryError(model, f"layer {name} should be {want}-D, got shape {values.shape}")


def _check_finite(values: np.ndarray, name: str, op: str, model: Path) -> None:
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        step = int(np.argmin(finite))
        kind = "NaN" if np.isnan(values[step]).any() else "Inf"
        raise EntryError(model, f"layer {name} ({op}) has {kind} values at step {step}")
