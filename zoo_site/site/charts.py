"""Score charts as inline SVG on each game's scores page, drawn at build time: no chart
library, no script, and every text escaped. Each point links to the video it summarises."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from urllib.parse import urlencode

from markupsafe import Markup, escape

HEIGHT, TOP, BOTTOM, LEFT, RIGHT = 220, 16, 44, 56, 12
PALETTE = ("#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04")


def _ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(count + 2) if start + i * step <= hi + step * 0.999]


def _fmt(x: float) -> str:
    return f"{x:,.2f}".rstrip("0").rstrip(".")


def _frame(width: int, label: str, ticks: list[float], y) -> list[str]:
    parts = [f'<svg class="chart-svg" viewBox="0 0 {width} {HEIGHT}" role="group" '
             f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(label)}</title>"]  # fmt: skip
    for t in ticks:
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y(t):.1f}" '
                     f'y2="{y(t):.1f}"/><text class="tick" x="{LEFT - 6}" y="{y(t) + 4:.1f}" '
                     f'text-anchor="end">{_fmt(t)}</text>')  # fmt: skip
    return parts


ROOT = "../"
"""The charts live on scores/<game>.html: the viewer is one folder up."""


def _viewer(entry: dict, page: str = "video.html") -> str:
    keys = {k: str(entry[k]) for k in ("algo", "game", "run", "tag")}
    if all(map(_PLAIN.fullmatch, keys.values())):  # names are plain (names.py): no quoting
        return f"{ROOT}{page}?" + "&".join(f"{k}={v}" for k, v in keys.items())
    return f"{ROOT}{page}?{urlencode(keys)}"


_PLAIN = re.compile(r"[A-Za-z0-9_.-]*")
"""Values that urlencode leaves as they are."""


def returns_chart(game: str, algos: list[dict], entries: list[dict], tag_order: list[str],
                  tag_labels: dict) -> Markup | None:  # fmt: skip
    """Episode returns per algo and run (each run's latest checkpoint): a dot per episode,
    a bar at the mean. None when no episode of this game ended."""
    latest: dict[tuple[str, int], dict] = {}
    rank = {t: i for i, t in enumerate(tag_order)}
    for e in entries:
        key = (e["algo"], e["run"])
        if key not in latest or rank.get(e["tag"], -1) > rank.get(latest[key]["tag"], -1):
            latest[key] = e
    bands = [(a, sorted((e for (al, _), e in latest.items() if al == a["id"]),
                        key=lambda e: e["run"])) for a in algos]  # fmt: skip
    bands = [(a, runs) for a, runs in bands if runs]
    values = [r for _, runs in bands for e in runs for r in e["episode_returns"]]
    if not values:
        return None
    lo, hi = min(0.0, min(values)), max(values)
    ticks = _ticks(lo, hi)
    lo, hi = min(ticks[0], lo), max(ticks[-1], hi)
    slot = 30
    width = LEFT + RIGHT + sum(len(runs) * slot + 24 for _, runs in bands)

    def y(v: float) -> float:
        return HEIGHT - BOTTOM - (v - lo) / (hi - lo or 1) * (HEIGHT - TOP - BOTTOM)

    parts = _frame(width, f"{game}: episode returns by algorithm and run", ticks, y)
    x0 = LEFT + 12
    for i, (algo, runs) in enumerate(bands):
        colour = PALETTE[i % len(PALETTE)]
        for j, e in enumerate(runs):
            cx = x0 + j * slot + slot / 2
            tag = tag_labels.get(e["tag"], e["tag"])
            returns = e["episode_returns"]
            stats = "no episode ended"
            if returns:
                mean = sum(returns) / len(returns)
                n = len(returns)
                plural = "s" if n != 1 else ""
                stats = f"{n} episode{plural}, best {_fmt(max(returns))}, mean {_fmt(mean)}"
            summary = escape(f"{algo['label']}, run {e['run']} ({tag}): {stats}")
            parts.append(f'<a href="{escape(_viewer(e))}" class="run" aria-label="{summary}">'
                         f"<title>{summary}</title>")  # fmt: skip
            for r in returns:
                parts.append(f'<circle cx="{cx:.1f}" cy="{y(r):.1f}" r="3.5" fill="{colour}" '
                             'fill-opacity=".55"/>')  # fmt: skip
            if returns:
                m = y(sum(returns) / len(returns))
                parts.append(f'<line class="mean" x1="{cx - 9:.1f}" x2="{cx + 9:.1f}" '
                             f'y1="{m:.1f}" y2="{m:.1f}" stroke="{colour}"/>')  # fmt: skip
            parts.append(f'<text class="tick" x="{cx:.1f}" y="{HEIGHT - BOTTOM + 14}" '
                         f'text-anchor="middle">{e["run"]}</text></a>')  # fmt: skip
        mid = x0 + len(runs) * slot / 2
        parts.append(f'<text class="axis" x="{mid:.1f}" y="{HEIGHT - 10}" '
                     f'text-anchor="middle">{escape(algo["label"])}</text>')  # fmt: skip
        x0 += len(runs) * slot + 24
    parts.append("</svg>")
    return Markup("".join(parts))


def training_chart(curve: dict, algo_label: str, entries: dict, tag_labels: dict) -> Markup:
    """A run's training curve (score against hours or frames) with each checkpoint tag
    that could be placed marked and linked to its video; the others listed below."""
    points = curve["points"]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    width = 560
    yt = _ticks(min(ys), max(ys))
    ylo, yhi = min(yt[0], min(ys)), max(yt[-1], max(ys))
    xlo, xhi = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1

    def x(v: float) -> float:
        return LEFT + (v - xlo) / (xhi - xlo) * (width - LEFT - RIGHT)

    def y(v: float) -> float:
        return HEIGHT - BOTTOM - (v - ylo) / (yhi - ylo or 1) * (HEIGHT - TOP - BOTTOM)

    axis = "hours of training" if curve["x"] == "hours" else "frames"
    label = f"{curve['game']}: training curve of {algo_label}, run {curve['run']}"
    parts = _frame(width, label, yt, y)
    line = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in points)
    parts.append(f'<polyline class="curve" points="{line}"/>')
    for t in _ticks(xlo, xhi, 5):
        if xlo <= t <= xhi:
            parts.append(f'<text class="tick" x="{x(t):.1f}" y="{HEIGHT - BOTTOM + 14}" '
                         f'text-anchor="middle">{_fmt(t)}</text>')  # fmt: skip
    parts.append(f'<text class="axis" x="{(LEFT + width) / 2:.0f}" y="{HEIGHT - 10}" '
                 f'text-anchor="middle">{axis}</text>')  # fmt: skip
    unplaced = []
    for mark in curve["marks"]:
        entry = entries.get(mark["tag"])
        name = tag_labels.get(mark["tag"], mark["tag"])
        if mark["x"] is None or entry is None:
            unplaced.append((name, entry))
            continue
        cx, cy = x(mark["x"]), y(mark["score"])
        text = f"{name}: score {_fmt(mark['score'])} at {_fmt(mark['x'])} {axis}; watch it"
        parts.append(f'<a href="{escape(_viewer(entry))}" class="mark" aria-label="{escape(text)}">'
                     f'<title>{escape(text)}</title><circle cx="{cx:.1f}" cy="{cy:.1f}" r="5"/>'
                     f'<text x="{cx:.1f}" y="{cy - 9:.1f}" text-anchor="middle">{escape(name)}'
                     "</text></a>")  # fmt: skip
    parts.append("</svg>")
    html = f'<figure class="training">{"".join(parts)}<figcaption>{escape(label)}'
    if unplaced:
        links = ", ".join(f'<a href="{escape(_viewer(e))}">{escape(n)}</a>' if e else escape(n)
                          for n, e in unplaced)  # fmt: skip
        html += f"; checkpoints the log does not place: {links}"
    return Markup(html + "</figcaption></figure>")


def short_steps(n: float) -> str:
    """50000000 -> '50M'; 2500000 -> '2.5M'; 250000 -> '250k'; 0 -> '0'."""
    for size, unit in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(n) >= size:
            return f"{n / size:g}{unit}"
    return f"{n:g}"


def _score(entry: dict) -> float:
    """The mean episode return, or the final score when no episode ended."""
    returns = entry["episode_returns"]
    return sum(returns) / len(returns) if returns else entry["score"]


def _scored(entry: dict) -> bool:
    """Whether the entry has a score to draw (episode files record none)."""
    return bool(entry["episode_returns"]) or entry["score"] is not None


def progress_chart(game: str, algo: dict, entries: list[dict], tag_labels: dict) -> Markup | None:
    """One algo's score over training on one game: for each run with at least two
    checkpoints whose training step is known, a line through each checkpoint's mean episode
    return (a hollow point where no episode ended: the final score instead), each point
    linked to its video. None when no run has two such checkpoints."""
    runs: dict[int, list[dict]] = defaultdict(list)
    for e in entries:
        if e["algo"] == algo["id"] and e.get("training_step") is not None and _scored(e):
            runs[e["run"]].append(e)
    lines = [(run, sorted(runs[run], key=lambda e: e["training_step"]))
             for run in sorted(runs) if len(runs[run]) >= 2]  # fmt: skip
    if not lines:
        return None
    xs = [e["training_step"] for _, line in lines for e in line]
    ys = [_score(e) for _, line in lines for e in line]
    width = 560
    yt = _ticks(min(ys), max(ys))
    ylo, yhi = min(yt[0], min(ys)), max(yt[-1], max(ys))
    xlo, xhi = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1

    def x(v: float) -> float:
        return LEFT + (v - xlo) / (xhi - xlo) * (width - LEFT - RIGHT - 8)

    def y(v: float) -> float:
        return HEIGHT - BOTTOM - (v - ylo) / (yhi - ylo or 1) * (HEIGHT - TOP - BOTTOM)

    label = f"{game}: score of {algo['label']} over training"
    parts = _frame(width, label, yt, y)
    for t in _ticks(xlo, xhi, 5):
        if xlo <= t <= xhi:
            parts.append(f'<text class="tick" x="{x(t):.1f}" y="{HEIGHT - BOTTOM + 14}" '
                         f'text-anchor="middle">{short_steps(t)}</text>')  # fmt: skip
    parts.append(f'<text class="axis" x="{(LEFT + width) / 2:.0f}" y="{HEIGHT - 10}" '
                 'text-anchor="middle">agent steps of training</text>')  # fmt: skip
    keys, hollow = [], False
    for i, (run, line) in enumerate(lines):
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{x(e['training_step']):.1f},{y(_score(e)):.1f}" for e in line)
        parts.append(f'<polyline class="line" points="{points}" stroke="{colour}"/>')
        for e in line:
            returns = e["episode_returns"]
            n = len(returns)
            stats = f"no episode ended, final score {_fmt(e['score'])}"
            if returns:
                stats = f"mean return {_fmt(_score(e))} over {n} episode{'s' if n != 1 else ''}"
            tag = tag_labels.get(e["tag"], e["tag"])
            text = escape(f"Run {run}, {tag} ({e['training_step']:,} agent steps): {stats}; "
                          "watch it")  # fmt: skip
            dot = f'fill="{colour}"' if returns else f'class="open" stroke="{colour}"'
            hollow = hollow or not returns
            cx, cy = x(e["training_step"]), y(_score(e))
            parts.append(f'<a href="{escape(_viewer(e))}" class="point" aria-label="{text}">'
                         f'<title>{text}</title><circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" '
                         f"{dot}/></a>")  # fmt: skip
        keys.append(f'<svg class="key" width="18" height="10" aria-hidden="true">'
                    f'<line x1="0" x2="18" y1="5" y2="5" stroke="{colour}" stroke-width="3"/>'
                    f"</svg>run {run}")  # fmt: skip
    parts.append("</svg>")
    note = "; hollow points: no episode ended, the final score instead" if hollow else ""
    return Markup(f'<figure class="training progress" data-algo="{escape(algo["id"])}">'
                  f"{''.join(parts)}<figcaption>{escape(label)}: mean episode return at each "
                  f"checkpoint{note}. {''.join(keys)}</figcaption></figure>")  # fmt: skip
