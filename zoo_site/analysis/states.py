"""A map of states: each game's steps, of every entry, placed in 2-D by what the agents
represent (the dense layer's activations) or by the console's RAM, as the Atari Model Zoo
did with PCA + t-SNE in matplotlib.

Two stages:
- per entry (in its job, beside the activations): `sample` keeps up to `per_entry` evenly
  spaced steps: the dense layer's values there (the network's real outputs, read from the
  activations), the RAM where the rollout recorded it, the action taken, the score, and a
  small thumbnail of the frame (every 4th pixel) — `states.npz` in the entry's cache;
- per game (after every entry): `embed` pools the entries' samples, thins them to at most
  `points` (evenly, deterministic), reduces each feature to 50 dimensions by PCA and then
  to 2 by t-SNE (scikit-learn), both seeded: the same inputs and seed give the same map.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo_site.fsutil import atomic_path

STATES_FILE = "states.npz"
THUMB_STEP = 4
"""Thumbnails keep every 4th pixel of the 210x160 frame: 53x40."""
PCA_DIMS = 50


@dataclass(frozen=True)
class MapSettings:
    method: str = "tsne"
    """"tsne" (PCA to 50, then t-SNE), "pca" (the first two components) or "off"."""
    points: int = 3000
    """Points per game at most (thinned evenly over the pooled samples)."""
    per_entry: int = 250
    """Steps sampled per entry at most."""
    perplexity: float = 30.0
    seed: int = 0

    def as_json(self) -> dict:
        return asdict(self)


def sample_steps(steps: int, limit: int) -> np.ndarray:
    """Up to `limit` evenly spaced steps of `steps`, first and last included, sorted."""
    if steps <= limit:
        return np.arange(steps)
    return np.unique(np.linspace(0, steps - 1, limit).round().astype(np.int64))


def _rows(values: Any, steps: np.ndarray, chunk: int = 256) -> np.ndarray:
    """values[steps] for arrays or slice-only readers (spilled activations)."""
    if isinstance(values, np.ndarray):
        return values[steps]
    out = []
    for start in range(0, int(steps[-1]) + 1, chunk):
        inside = steps[(steps >= start) & (steps < start + chunk)]
        if len(inside):
            out.append(values[start : start + chunk][inside - start])
    return np.concatenate(out)


def sample(path: Path, steps: int, frames: Any, *, dense: Any = None, ram: Any = None,
           actions: np.ndarray | None = None, score: np.ndarray | None = None,
           limit: int = 250) -> None:  # fmt: skip
    """Write the entry's samples to `path` (an npz; see the module's docstring)."""
    at = sample_steps(steps, limit)
    thumbs = np.asarray(frames[at])[:, ::THUMB_STEP, ::THUMB_STEP]
    arrays: dict[str, np.ndarray] = {"steps": at.astype(np.int32), "thumbs": thumbs}
    if dense is not None:
        arrays["dense"] = _rows(dense, at).astype(np.float32)
    if ram is not None and len(ram) == steps:
        arrays["ram"] = np.asarray(ram)[at].astype(np.uint8)
    if actions is not None:
        arrays["actions"] = np.asarray(actions)[at].astype(np.int32)
    if score is not None:
        arrays["score"] = np.asarray(score)[at].astype(np.float32)
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]


@dataclass
class GameMap:
    """A game's map: the points (entry index, step, action, score), each view's 2-D
    coordinates in [0, 1] for the points it covers, and the points' thumbnails."""

    entries: list[dict]
    entry: np.ndarray
    step: np.ndarray
    action: np.ndarray
    score: np.ndarray
    views: dict[str, dict[str, Any]]
    thumbs: np.ndarray
    notes: list[str]


def _reduce(features: np.ndarray, settings: MapSettings) -> np.ndarray:
    """(n, d) -> (n, 2) in [0, 1]: PCA to 50 dimensions, then t-SNE (or the first two
    principal components); seeded."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # several BLAS/OpenMP threads on a busy machine: 10-30x slower
        return _reduce_one_thread(features, settings)


def _reduce_one_thread(features: np.ndarray, settings: MapSettings) -> np.ndarray:
    from sklearn.decomposition import PCA

    x = features.astype(np.float64)
    x -= x.mean(axis=0)
    n, d = x.shape
    if n < 3 or not np.any(x):
        return np.full((n, 2), 0.5)
    dims = max(2, min(PCA_DIMS, d, n - 1))
    reduced = PCA(n_components=dims, svd_solver="full", random_state=settings.seed).fit_transform(x)
    if settings.method == "tsne" and n >= 5:
        from sklearn.manifold import TSNE

        perplexity = min(settings.perplexity, (n - 1) / 3)
        reduced = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                       random_state=settings.seed, n_jobs=1).fit_transform(reduced)  # fmt: skip
    xy = reduced[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return (xy - lo) / np.where(hi > lo, hi - lo, 1)


def embed(samples: list[tuple[dict, Path]], settings: MapSettings) -> GameMap:
    """One game's map from its entries' samples ({id, algo, run, tag}, states.npz)."""
    loaded = []
    for meta, path in samples:
        with np.load(path, allow_pickle=False) as z:
            loaded.append((meta, {k: z[k] for k in z.files}))
    notes: list[str] = []
    widths = Counter(a["dense"].shape[1] for _, a in loaded if "dense" in a)
    width = widths.most_common(1)[0][0] if widths else None
    if len(widths) > 1:
        left = [m["id"] for m, a in loaded if "dense" in a and a["dense"].shape[1] != width]
        notes.append(f"dense layers of another width than {width} left out: {', '.join(left)}")
    rows: list[tuple[int, int]] = [(i, j) for i, (_, a) in enumerate(loaded)
                                   for j in range(len(a["steps"]))]  # fmt: skip
    keep = [rows[k] for k in sample_steps(len(rows), settings.points)]

    def gather(key: str, default: float) -> np.ndarray:
        return np.array([loaded[i][1][key][j] if key in loaded[i][1] else default
                         for i, j in keep])  # fmt: skip

    views: dict[str, dict[str, Any]] = {}
    for view in ("dense", "ram"):
        covered = [k for k, (i, _) in enumerate(keep) if view in loaded[i][1]
                   and (view != "dense" or loaded[i][1][view].shape[1] == width)]  # fmt: skip
        if len(covered) < 2:
            continue
        features = np.stack([loaded[keep[k][0]][1][view][keep[k][1]] for k in covered])
        xy = _reduce(features, settings)
        views[view] = {"points": covered, "xy": xy}
    thumbs = np.stack([loaded[i][1]["thumbs"][j] for i, j in keep]) if keep else np.zeros(
        (0, 1, 1, 3), np.uint8)  # fmt: skip
    return GameMap(
        entries=[m for m, _ in loaded],
        entry=np.array([i for i, _ in keep], np.int32),
        step=np.array([loaded[i][1]["steps"][j] for i, j in keep], np.int32),
        action=gather("actions", -1).astype(np.int32),
        score=gather("score", np.nan).astype(np.float64),
        views=views, thumbs=thumbs, notes=notes,
    )  # fmt: skip
