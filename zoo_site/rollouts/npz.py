"""Rollout files in the Atari Model Zoo's npz format: written atomically, read and validated.

The npz format is the Atari Model Zoo's: ``observations`` (N, 84, 84, 4) float in [0, 1],
``frames`` (N, 210, 160, 3) uint8, ``ram`` (N, 128) uint8, ``representation`` (N, 512),
``score`` (N) the running score *before* step n's action, ``ep_rewards`` (returns of the
completed episodes). zoo-site adds ``actions`` (N, index into the minimal action set),
``rewards`` (N, reward after step n) and ``action_names``.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo_site.errors import EntryError
from zoo_site.fsutil import atomic_path

REQUIRED_KEYS = ("frames", "observations")


@dataclass
class Rollout:
    """A validated rollout: frames in memory, everything else small or lazily read."""

    path: Path
    frames: np.ndarray
    steps: int
    score: np.ndarray | None
    """The running score before each step; None when the file records none."""
    ep_rewards: np.ndarray
    actions: np.ndarray | None
    action_names: list[str] | None
    rewards: np.ndarray | None = None
    observations: np.ndarray | None = None
    action_values: list | None = None
    """Continuous actions (one list of floats per step), where `actions` cannot say them."""


def as_arrays(rec: dict[str, list], returns: list[float], names: list[str]) -> dict:
    """The recorded lists as the zoo's arrays (and zoo-site's additions)."""
    dtypes = dict(observations=np.float32, frames=np.uint8, ram=np.uint8, representation=np.float32,
                  score=np.float32, actions=np.int32, rewards=np.float32)  # fmt: skip
    out = {k: np.asarray(v, dtype=dtypes[k]) for k, v in rec.items()}
    out["ep_rewards"] = np.asarray(returns, np.float32)
    out["action_names"] = np.asarray(names)
    return out


def save(path: Path, data: dict[str, np.ndarray]) -> None:
    """Write a rollout npz atomically (compressed, as the zoo's own files are)."""
    with atomic_path(Path(path), suffix=".npz") as tmp:
        np.savez_compressed(tmp, **data)  # type: ignore[arg-type]


def load(path: Path, observations: bool = True) -> Rollout:
    """Open and validate a rollout; any problem is an EntryError naming the file.

    Every array is read once, in full, which checks its CRC (a damaged member is found
    before it is used); with `observations=False` the (large) observations are only
    checked for shape, not read.
    """
    path = Path(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise EntryError(path, "the rollout file does not exist") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise EntryError(path, f"not a readable npz file (truncated or corrupt?): {exc}") from None
    with npz:
        missing = [k for k in REQUIRED_KEYS if k not in npz.files]
        if missing:
            raise EntryError(
                path, f"missing key(s) {', '.join(missing)} (has: {', '.join(npz.files)})"
            )
        lengths = {k: _member_shape(npz, path, k)[0] for k in npz.files if k != "action_names"}
        lengths.pop("ep_rewards", None)
        frames = _read(npz, path, "frames")
        _check_frames(path, frames)
        n = len(frames)
        if n == 0:
            raise EntryError(path, "empty rollout (0 steps)")
        bad = {k: m for k, m in lengths.items() if m != n}
        if bad:
            detail = ", ".join(f"{k} has {m}" for k, m in sorted(bad.items()))
            raise EntryError(path, f"frames has {n} steps but {detail}")
        score = _read(npz, path, "score") if "score" in npz.files else None
        ep = _read(npz, path, "ep_rewards") if "ep_rewards" in npz.files else np.zeros(0)
        actions = _read(npz, path, "actions") if "actions" in npz.files else None
        names = (
            [str(a) for a in _read(npz, path, "action_names")]
            if "action_names" in npz.files
            else None
        )
        rewards = _read(npz, path, "rewards") if "rewards" in npz.files else None
        obs = _read(npz, path, "observations") if observations else None
        for key in set(npz.files) - {"frames", "observations", "score", "ep_rewards",
                                     "actions", "action_names", "rewards"}:  # fmt: skip
            _read(npz, path, key)  # ram, representation, ...: checked, not kept
    score = None if score is None else np.asarray(score, np.float64).reshape(n)
    return Rollout(path, frames, n, score,
                   np.asarray(ep, np.float64).reshape(-1), actions, names, rewards,
                   obs)  # fmt: skip


def _member_shape(npz, path: Path, key: str) -> tuple[int, ...]:
    """The shape of one array, read from its header only (observations can be huge)."""
    try:
        with npz.zip.open(f"{key}.npy") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, _ = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, _ = np.lib.format.read_array_header_2_0(f)
    except Exception as exc:
        raise EntryError(path, f"cannot read key {key!r}: {exc}") from None
    if not shape:
        raise EntryError(path, f"key {key!r} is a scalar, expected one value per step")
    return shape


def _read(npz, path: Path, key: str) -> np.ndarray:
    try:
        return npz[key]
    except Exception as exc:  # zipfile, zlib and numpy raise many kinds for damaged data
        raise EntryError(path, f"cannot read key {key!r} (truncated or corrupt?): {exc}") from None


def _check_frames(path: Path, frames: np.ndarray) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise EntryError(
            path, f"frames must be (N, height, width, 3) RGB, got shape {frames.shape}"
        )
    if frames.dtype != np.uint8:
        raise EntryError(path, f"frames must be uint8, got {frames.dtype}")
