"""The map of states in the site: per game, `maps/<game>.json` (the points, their entries
and steps, each view's coordinates) and `maps/<game>.png` (the points' thumbnails, a sheet
read by map.html on hover). Made from the entries' samples (analysis/states.py), cached by
those samples and the settings, so a rebuild that changes neither reuses the map."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo_site import __version__
from zoo_site.analysis import states
from zoo_site.errors import Problem
from zoo_site.fsutil import write_json
from zoo_site.records import EntryResult
from zoo_site.sources.base import Entry

FOLDER = "maps"
COLUMNS = 50
"""Thumbnails per row of the sheet."""


@dataclass(frozen=True)
class GameFiles:
    game: str
    data: Path
    sheet: Path
    points: int


def _key(game: str, samples: list[tuple[dict, Path]], settings: states.MapSettings) -> str:
    parts = [__version__, game, settings.as_json(),
             [(m["id"], p.parent.name) for m, p in samples]]  # fmt: skip
    return hashlib.blake2b(json.dumps(parts).encode(), digest_size=16).hexdigest()


def method_text(settings: states.MapSettings) -> str:
    if settings.method == "pca":
        return "the first two principal components"
    return (f"PCA to {states.PCA_DIMS} dimensions, then t-SNE (perplexity "
            f"{settings.perplexity:g}, seed {settings.seed})")  # fmt: skip


def to_json(game: str, m: states.GameMap, settings: states.MapSettings,
            action_names: list[str]) -> dict[str, Any]:  # fmt: skip
    height, width = m.thumbs.shape[1:3]
    return {
        "game": game,
        "method": method_text(settings),
        "settings": settings.as_json(),
        "entries": m.entries,
        "action_names": action_names,
        "points": {
            "entry": m.entry.tolist(), "step": m.step.tolist(), "action": m.action.tolist(),
            "score": [None if math.isnan(s) else round(float(s), 3) for s in m.score],
        },
        "views": {name: {"points": v["points"],
                         "x": [round(float(a), 4) for a in v["xy"][:, 0]],
                         "y": [round(float(b), 4) for b in v["xy"][:, 1]]}
                  for name, v in m.views.items()},
        "thumbs": {"url": f"{FOLDER}/{game}.png", "width": int(width), "height": int(height),
                   "columns": COLUMNS, "every": states.THUMB_STEP},
        "notes": m.notes,
    }  # fmt: skip


def sheet(thumbs: np.ndarray) -> np.ndarray:
    """The thumbnails in rows of COLUMNS, left to right, top to bottom."""
    n, h, w, _ = thumbs.shape
    rows = max(1, -(-n // COLUMNS))
    out = np.zeros((rows * h, COLUMNS * w, 3), np.uint8)
    for k in range(n):
        r, c = divmod(k, COLUMNS)
        out[r * h : (r + 1) * h, c * w : (c + 1) * w] = thumbs[k]
    return out


@dataclass
class Maps:
    files: list[GameFiles]
    problems: list[Problem]


def manifest_maps(files: list[GameFiles]) -> list[dict[str, Any]]:
    """The root manifest's `maps`: the games with a map, its page, data and size."""
    return [{"game": f.game, "page": f"map.html?game={f.game}", "data": f"{FOLDER}/{f.game}.json",
             "points": f.points} for f in files]  # fmt: skip


def build_maps(built: list[tuple[Entry, EntryResult]], settings: states.MapSettings,
               cache: Path, advance=lambda: None) -> Maps:  # fmt: skip
    """Each game's map (from the cache when its samples and settings are unchanged)."""
    from zoo_site.media.render import save_png

    games: dict[str, list[tuple[dict, Path]]] = {}
    names: dict[str, list[str]] = {}
    for entry, result in built:
        media = result.media
        if media is None or not media.states or result.media_dir is None:
            continue
        meta = {"id": entry.id, "algo": entry.algo, "run": entry.run, "tag": entry.tag}
        games.setdefault(entry.game, []).append((meta, result.media_dir / media.states))
        names.setdefault(entry.game, media.steps.get("action_names") or [])
    out, problems = [], []
    for game, samples in sorted(games.items()):
        key = _key(game, samples, settings)
        data, png = cache / FOLDER / f"{key}.json", cache / FOLDER / f"{key}.png"
        if not (data.exists() and png.exists()):
            try:
                m = states.embed(samples, settings)
            except Exception as exc:  # one game's map must not sink the build
                problems.append(Problem(str(samples[0][1]), f"no map of states for {game}: "
                                        f"{type(exc).__name__}: {exc}"))  # fmt: skip
                advance()
                continue
            save_png(sheet(m.thumbs), png)
            write_json(data, to_json(game, m, settings, names[game]))
        points = len(json.loads(data.read_text(encoding="utf-8"))["points"]["step"])
        out.append(GameFiles(game, data, png, points))
        advance()
    return Maps(out, problems)
