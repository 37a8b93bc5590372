"""Episode files without a model (World-Models-style recordings) read as a `Rollout`.

``record/<n>.npz`` with ``obs`` (N, H, W) uint8 grayscale or (N, H, W, 3) uint8 RGB and
``action`` (N,) integers, (N, A) one-hot, or (N, A) floats (continuous control, e.g. the
CarRacing original). The video is the observations themselves: one frame per step, each
pixel an exact integer block (the render scales it). These files record no reward or
score, so none is shown (never a made-up 0) and no episode return is claimed.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from zoo_site.errors import EntryError
from zoo_site.rollouts.npz import Rollout

REQUIRED = ("obs", "action")


def is_episode_file(path: Path) -> bool:
    """Whether an npz holds `obs` and `action` (read from its member names only)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = {n.removesuffix(".npy") for n in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return False
    return set(REQUIRED) <= names


def load(path: Path) -> Rollout:
    """Open and validate one episode; any problem is an EntryError naming the file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in REQUIRED if k not in npz.files]
            if missing:
                raise EntryError(path, f"missing key(s) {', '.join(missing)} (has: "
                                 f"{', '.join(npz.files) or 'nothing'})")  # fmt: skip
            obs, action = npz["obs"], npz["action"]
    except EntryError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise EntryError(path, f"not a readable npz file (truncated or corrupt?): {exc}") from None
    frames = _frames(path, obs)
    actions, values = _actions(path, action, len(frames))
    n = len(frames)
    return Rollout(path, frames, n, None, np.zeros(0), actions, None, action_values=values)


def _frames(path: Path, obs: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB from (N, H, W) gray or (N, H, W, 3) RGB observations."""
    if obs.dtype != np.uint8:
        raise EntryError(path, f"obs must be uint8 images, got {obs.dtype}")
    if obs.ndim == 3:
        obs = np.repeat(obs[..., None], 3, axis=3)
    elif not (obs.ndim == 4 and obs.shape[3] == 3):
        raise EntryError(path, f"obs must be (N, H, W) or (N, H, W, 3), got shape {obs.shape}")
    if len(obs) == 0:
        raise EntryError(path, "empty episode (0 steps)")
    if obs.shape[1] < 2 or obs.shape[2] < 2:
        raise EntryError(path, f"obs images of {obs.shape[1]}x{obs.shape[2]} are too small")
    return np.ascontiguousarray(obs)


def _actions(path: Path, action: np.ndarray, n: int) -> tuple[np.ndarray | None, list | None]:
    """(indices, None) for integer or one-hot actions; (None, values) for continuous ones."""
    if len(action) != n:
        raise EntryError(path, f"obs has {n} steps but action has {len(action)}")
    if action.ndim == 1 and np.issubdtype(action.dtype, np.integer):
        return action.astype(np.int32), None
    if action.ndim == 1 and np.issubdtype(action.dtype, np.floating):
        if np.all(action == np.round(action)) and np.all(action >= 0):
            return action.astype(np.int32), None  # integers stored as floats
        return None, [[float(v)] for v in action]
    if action.ndim == 2 and (np.issubdtype(action.dtype, np.number) or action.dtype == bool):
        one_hot = np.isin(action, (0, 1)).all() and (action.sum(axis=1) == 1).all()
        if one_hot:
            return np.argmax(action, axis=1).astype(np.int32), None
        if np.issubdtype(action.dtype, np.floating):
            return None, np.round(action.astype(np.float64), 6).tolist()
    raise EntryError(path, f"action must be (N,) integers, (N, A) one-hot or (N, A) floats, "
                     f"got {action.dtype} of shape {action.shape}")  # fmt: skip
