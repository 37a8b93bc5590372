"""Training logs of the original zoo's layout, read into the curves the site draws.

``<zoo>/<algo>/checkpoints/<Game>NoFrameskip-v4_<run>_log.json`` is a list of rows with
``time`` (seconds), ``score`` and ``frames``; rows with ``initial`` set are left out, as the
original's own plotting did, and gaps of more than three hours in ``time`` (Ape-X runs
restarted after an outage) are closed up. ``…_<run>.json`` lists the tagged checkpoints
(``criteria`` is the tag). A tag is marked on the curve where its row says when it was
taken (``time`` or ``frames`` in the row or in ``best_checkpoint``); without that, only
``initial`` (the first point) and ``final`` (the last) can be placed, and the others are
listed beside the chart, not guessed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from zoo_site.errors import Problem
from zoo_site.sources.base import Entry

GAP = 3 * 60 * 60  # seconds: a longer pause in a log is a restart, not training
MAX_POINTS = 400


def training_curves(entries: list[Entry]) -> tuple[list[dict], list[Problem]]:
    """One curve per (algo, game, run) that has a readable log, in a stable order."""
    curves, problems, seen = [], [], set()
    for entry in sorted(entries, key=lambda e: (e.algo, e.game, e.run)):
        key = (entry.algo, entry.game, entry.run)
        if entry.log is None or key in seen:
            continue
        seen.add(key)
        try:
            axis, points, raw = read_log(entry.log)
        except ValueError as exc:
            problems.append(
                Problem(str(entry.log), f"training log skipped: {exc}", level="warning")
            )
            continue
        tags = sorted({e.tag for e in entries if (e.algo, e.game, e.run) == key})
        marks = _marks(entry.checkpoints, axis, points, raw, tags, problems)
        curves.append({"algo": entry.algo, "game": entry.game, "run": entry.run, "x": axis,
                       "points": _thin(points), "marks": marks})  # fmt: skip
    return curves, problems


def read_log(path: Path) -> tuple[str, list[list[float]], list[float]]:
    """('hours' or 'frames', [[x, score], ...] sorted by x, each row's own time or frames)."""
    try:
        rows = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not readable JSON ({exc})") from None
    if not isinstance(rows, list):
        raise ValueError("not a list of rows")
    rows = [r for r in rows if isinstance(r, dict) and not r.get("initial")]
    if not rows:
        raise ValueError("no rows")
    axis = "hours" if all(_number(r.get("time")) for r in rows) else "frames"
    key = "time" if axis == "hours" else "frames"
    for i, row in enumerate(rows):
        if not _number(row.get(key)) or not _number(row.get("score")):
            raise ValueError(f"row {i} has no numeric {key!r} and 'score'")
    rows.sort(key=lambda r: r[key])
    raw = [float(r[key]) for r in rows]
    xs = [x / 3600 for x in _close_gaps(raw)] if axis == "hours" else raw
    return axis, [[round(x, 4), float(r["score"])] for x, r in zip(xs, rows, strict=True)], raw


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _close_gaps(times: list[float]) -> list[float]:
    out, shift = [times[0] - times[0]], 0.0
    for prev, now in zip(times, times[1:], strict=False):
        if now - prev > GAP:
            shift += now - prev
        out.append(now - times[0] - shift)
    return out


def _thin(points: list[list[float]]) -> list[list[float]]:
    if len(points) <= MAX_POINTS:
        return points
    step = (len(points) - 1) / (MAX_POINTS - 1)
    return [points[round(i * step)] for i in range(MAX_POINTS)]


def _marks(path, axis, points, raw, tags, problems) -> list[dict]:
    when = {}
    if path is not None:
        try:
            rows = json.loads(Path(path).read_text(encoding="utf-8"))
            for row in rows:
                ckpt = row.get("best_checkpoint")
                source = ckpt if isinstance(ckpt, dict) else row
                value = source.get("time" if axis == "hours" else "frames")
                if _number(value):
                    when[str(row["criteria"])] = value
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            problems.append(
                Problem(str(path), f"checkpoint tags not placed: {exc}", level="warning")
            )
    marks = []
    for tag in tags:
        if tag in when:  # the row taken nearest to the checkpoint
            i = min(range(len(raw)), key=lambda j: abs(raw[j] - when[tag]))
        elif tag in ("initial", "final"):
            i = 0 if tag == "initial" else len(points) - 1
        else:
            marks.append({"tag": tag, "x": None, "score": None})
            continue
        marks.append({"tag": tag, "x": points[i][0], "score": points[i][1]})
    return marks
