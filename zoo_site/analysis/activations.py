"""Run a rollout's observations through its network, batched, keeping every layer.

Activations come back canonical whatever the network (see networks/base.py): conv layers
(N, H, W, C), dense and output layers (N, units). The chosen action at every step is the
argmax of the output layer (the rollout's recorded action, where it has one, is kept
separately: it includes exploration and sticky actions).

The observations are read `BATCH` steps at a time and each batch's layers go to a `Store`:
in memory, or (`spill_dir`) to an unnamed temporary file read back a slice at a time, so a
worker's memory does not grow with the rollout's length. Either way each layer's range
(`lo`, `hi`: the minimum and maximum of each channel or unit over the rollout) is gathered
on the way; the values are the same, batch for batch.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo_site.errors import EntryError
from zoo_site.networks.base import OBS_SHAPE, Network

BATCH = 256
"""Steps per network call; also the slice of observations held at once."""


class Spilled:
    """(N, ...) float32 rows in a region of a temporary file, read back by slice
    (`spilled[i:j]`), with `shape`, `dtype` and `len` as the array's."""

    def __init__(self, fd: int, offset: int, shape: tuple[int, ...]):
        self.fd, self.offset, self.shape = fd, offset, shape
        self.dtype = np.dtype(np.float32)
        self.ndim = len(shape)
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * 4

    def __len__(self) -> int:
        return self.shape[0]

    def write(self, start: int, rows: np.ndarray) -> None:
        data = np.ascontiguousarray(rows, np.float32).reshape(-1).view(np.uint8)
        view, at = data.data, self.offset + start * self.row_bytes
        while len(view):
            n = os.pwrite(self.fd, view, at)
            view, at = view[n:], at + n

    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            i = int(index) + (len(self) if index < 0 else 0)
            return self[i : i + 1][0]
        if not isinstance(index, slice):
            raise IndexError(f"spilled activations are read by slice, not {index!r}")
        start, stop, step = index.indices(len(self))
        if step != 1:
            raise IndexError("spilled activations are read by slices of step 1")
        stop = max(start, stop)
        out = np.empty((stop - start, *self.shape[1:]), np.float32)
        view, at = out.reshape(-1).view(np.uint8).data, self.offset + start * self.row_bytes
        while len(view):
            n = os.preadv(self.fd, [view], at)
            if n <= 0:
                raise OSError("the spill file ended early")
            view, at = view[n:], at + n
        return out


class Store:
    """Where each layer's rows go as batches arrive: arrays in memory, or regions of one
    temporary file (`spill_dir`; the file has no name and vanishes with the process).
    Names in `keep` stay in memory either way (the small output layer)."""

    def __init__(self, steps: int, spill_dir: Path | None = None, keep: tuple[str, ...] = ()):
        self.steps, self.keep = steps, set(keep)
        self.arrays: dict[str, np.ndarray | Spilled] = {}
        self._file = None
        self._size = 0
        if spill_dir is not None:
            Path(spill_dir).mkdir(parents=True, exist_ok=True)
            self._file = tempfile.TemporaryFile(dir=spill_dir, prefix="activations-")

    def add(self, name: str, start: int, rows: np.ndarray) -> None:
        target = self.arrays.get(name)
        if target is None:
            shape = (self.steps, *rows.shape[1:])
            target = self.arrays[name] = self._allocate(name, shape)
        if isinstance(target, Spilled):
            target.write(start, rows)
        else:
            target[start : start + len(rows)] = rows

    def _allocate(self, name: str, shape: tuple[int, ...]) -> np.ndarray | Spilled:
        if self._file is None or name in self.keep:
            return np.empty(shape, np.float32)
        spilled = Spilled(self._file.fileno(), self._size, shape)
        self._size += spilled.row_bytes * shape[0]
        return spilled

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass
class Layer:
    name: str  # canonical: conv1, conv2, ..., fc, output
    op: str  # the network's own name for it
    kind: str  # "conv", "dense" or "output"
    values: Any  # (N, H, W, C) for conv, (N, units) otherwise; float32 (array or Spilled)
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    """The minimum of each channel (conv) or unit over the rollout; `hi` the maximum."""
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


@dataclass
class Activations:
    network: Network
    layers: list[Layer]
    extras: dict[str, Any]
    """What the network gives beside its layers: "distribution", "value"."""
    store: Store | None = None

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def greedy_actions(self) -> np.ndarray:
        return np.argmax(self.output.values, axis=1).astype(np.int32)

    def close(self) -> None:
        """Free the spill file, if any (spilled values are unreadable after)."""
        if self.store is not None:
            self.store.close()


def observation_batches(
    path: Path, steps: int, obs: Any = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(start, batch) for the rollout's observations (read from `path` unless given: an
    array or an npz `Member`), `BATCH` steps at a time, as canonical float32 (k, 84, 84, 4)
    in [0, 1]. Integer arrays, and float arrays holding any value above 1 (stored 0-255),
    are divided by 255, the same for every batch: a batch past the first that finds such
    values starts the batches again from step 0, scaled."""
    if obs is None:
        from zoo_site.rollouts.npz import Member

        obs = Member(path, "observations")
    shape = tuple(obs.shape)
    channels_first = len(shape) == 4 and shape[1:] == (4, 84, 84)
    canonical = (shape[0], *shape[2:], shape[1]) if channels_first else shape
    if len(canonical) != 4 or canonical[1:] != OBS_SHAPE:
        raise EntryError(path, f"observations must be (N, 84, 84, 4), got shape {shape}")
    if shape[0] != steps:
        raise EntryError(path, f"observations has {shape[0]} steps, frames has {steps}")
    divide = np.issubdtype(obs.dtype, np.integer)
    start = 0
    while start < steps:
        batch = obs[start : start + BATCH]
        if channels_first:
            batch = np.transpose(batch, (0, 2, 3, 1))
        batch = batch.astype(np.float32, copy=False)
        if not divide and batch.max(initial=0.0) > 1.0 + 1e-6:
            divide = True
            if start > 0:  # the batches before were not scaled: again, from the first
                start = 0
                continue
        yield start, batch / np.float32(255.0) if divide else batch
        start += len(batch)


def load_observations(path: Path, steps: int, obs: Any = None) -> np.ndarray:
    """All observations at once (see observation_batches), for tests and benchmarks."""
    out = np.empty((steps, *OBS_SHAPE), np.float32)
    for start, batch in observation_batches(path, steps, obs):
        out[start : start + len(batch)] = batch
    return out


def compute(network: Network, observations: Any, model: Path, *, steps: int | None = None,
            spill_dir: Path | None = None) -> Activations:  # fmt: skip
    """All layers (and extras) for all observations, `BATCH` at a time, checked for NaN
    and Inf. `observations`: an array of canonical observations, or (start, batch) pairs
    (`observation_batches`; then `steps` says how many); with `spill_dir`, every layer but
    the output is kept in a temporary file there."""
    if isinstance(observations, np.ndarray):
        steps, whole = len(observations), observations
        observations = ((i, whole[i : i + BATCH]) for i in range(0, steps, BATCH))
    assert steps is not None
    store = Store(steps, spill_dir, keep=("output",))
    specs = {spec.name: spec for spec in network.layers}
    lo: dict[str, np.ndarray] = {}
    hi: dict[str, np.ndarray] = {}
    try:
        for start, batch in observations:
            if start == 0:  # the first batch, or the batches started again
                lo, hi = {}, {}
            values = network.run(batch)
            order = [s.name for s in network.layers if s.name in values]
            for name in order + [k for k in values if k not in specs]:
                array = values[name]
                array = np.asarray(array).astype(np.float32, copy=False)
                spec = specs.get(name)
                if spec is not None:
                    _check_shape(array, spec.kind, name, model)
                    _check_finite(array, name, spec.op, model, start)
                    axes = tuple(range(array.ndim - 1))
                    low, high = array.min(axis=axes), array.max(axis=axes)
                    lo[name] = low if name not in lo else np.minimum(lo[name], low)
                    hi[name] = high if name not in hi else np.maximum(hi[name], high)
                store.add(name, start, array)
        layers = []
        for spec in network.layers:
            if spec.name not in store.arrays:
                raise EntryError(model, f"the network gave no layer {spec.name}")
            layers.append(Layer(spec.name, spec.op, spec.kind, store.arrays[spec.name],
                                lo[spec.name], hi[spec.name]))  # fmt: skip
    except BaseException:
        store.close()
        raise
    extras = {k: v for k, v in store.arrays.items() if k not in specs}
    return Activations(network, layers, extras, store)


def _check_shape(values: np.ndarray, kind: str, name: str, model: Path) -> None:
    want = 4 if kind == "conv" else 2
    if values.ndim != want:
        raise EntryError(model, f"layer {name} should be {want}-D, got shape {values.shape}")


def _check_finite(values: np.ndarray, name: str, op: str, model: Path, offset: int = 0) -> None:
    finite = np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if not finite.all():
        step = int(np.argmin(finite))
        kind = "NaN" if np.isnan(values[step]).any() else "Inf"
        raise EntryError(model, f"layer {name} ({op}) has {kind} values at step {offset + step}")
