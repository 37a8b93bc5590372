"""Run a rollout's observations through its frozen graph, batched, keeping every layer.

Activations come back in one canonical layout: conv layers (N, H, W, C) whatever the
graph's own layout, dense and output layers (N, units). The chosen action at every step is
the argmax of the output layer (the rollout's recorded action, where it has one, is kept
separately: it includes exploration and sticky actions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo_site.errors import EntryError
from zoo_site.graphs import Convention

BATCH = 256
OBS_SHAPE = (84, 84, 4)


@dataclass
class Layer:
    name: str  # canonical: conv1, conv2, ..., fc, output
    op: str  # the graph's op name
    kind: str  # "conv", "dense" or "output"
    values: np.ndarray  # (N, H, W, C) for conv, (N, units) otherwise; float32


@dataclass
class Activations:
    convention: Convention
    layers: list[Layer]

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def greedy_actions(self) -> np.ndarray:
        return np.argmax(self.output.values, axis=1).astype(np.int32)


def layer_names(convention: Convention) -> list[tuple[str, str]]:
    """(canonical name, kind) for each of the convention's layers."""
    n_conv = len(convention.layers) - 2
    names = [(f"conv{i + 1}", "conv") for i in range(n_conv)]
    return [*names, ("fc", "dense"), ("output", "output")]


def load_observations(path: Path, steps: int, obs: np.ndarray | None = None) -> np.ndarray:
    """The rollout's observations (read from `path` unless given) as float32 (N, 84, 84, 4)
    in [0, 1]."""
    if obs is None:
        with np.load(path, allow_pickle=False) as npz:
            obs = npz["observations"]
    if obs.ndim == 4 and obs.shape[1:] == (4, 84, 84):
        obs = np.transpose(obs, (0, 2, 3, 1))  # stored channels-first
    if obs.ndim != 4 or obs.shape[1:] != OBS_SHAPE:
        raise EntryError(path, f"observations must be (N, 84, 84, 4), got shape {obs.shape}")
    if len(obs) != steps:
        raise EntryError(path, f"observations has {len(obs)} steps, frames has {steps}")
    obs = obs.astype(np.float32, copy=False)
    if obs.max(initial=0.0) > 1.0 + 1e-6:  # stored 0-255
        obs = obs / np.float32(255.0)
    return obs


def compute(runner, observations: np.ndarray, model: Path) -> Activations:
    """All layers for all observations, `BATCH` at a time, checked for NaN and Inf."""
    conv = runner.convention
    chunks = [runner(observations[i : i + BATCH]) for i in range(0, len(observations), BATCH)]
    layers = []
    for j, (name, kind) in enumerate(layer_names(conv)):
        values = np.concatenate([c[j] for c in chunks]).astype(np.float32, copy=False)
        values = _canonical(values, kind, conv.data_format, name, model)
        _check_finite(values, name, conv.layers[j], model)
        layers.append(Layer(name, conv.layers[j], kind, values))
    return Activations(conv, layers)


def _canonical(values: np.ndarray, kind: str, data_format: str, name: str, model: Path):
    if kind == "conv":
        if values.ndim != 4:
            raise EntryError(model, f"layer {name} should be 4-D, got shape {values.shape}")
        return (
            np.ascontiguousarray(np.transpose(values, (0, 2, 3, 1)))
            if data_format == "NCHW"
            else values
        )
    if values.ndim != 2:
        values = values.reshape(len(values), -1)
    return values


def _check_finite(values: np.ndarray, name: str, op: str, model: Path) -> None:
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        step = int(np.argmin(finite))
        kind = "NaN" if np.isnan(values[step]).any() else "Inf"
        raise EntryError(model, f"layer {name} ({op}) has {kind} values at step {step}")
