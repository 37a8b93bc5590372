"""The noise-robustness pages: one per game, with the score against the noise's σ for each
algorithm (an SVG drawn at build time, like the other charts), the numbers in a table, each
evaluated agent's returns, and the films of what the networks saw.

The data of a game's page is also written beside it (`robustness/<game>.json`), and the
root manifest lists the pages (`robustness`)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from markupsafe import Markup, escape

from zoo_site.records import EntryMedia
from zoo_site.site.charts import BOTTOM, HEIGHT, LEFT, PALETTE, RIGHT, TOP, _fmt, _frame, _ticks
from zoo_site.site.manifest import media_base, media_url
from zoo_site.sources.base import Entry

FOLDER = "robustness"
ROOT = "../"
"""The pages' way back to the site's root (they live in FOLDER)."""


def page_of(game: str) -> str:
    return f"{FOLDER}/{game}.html"


def data_of(game: str) -> str:
    return f"{FOLDER}/{game}.json"


def game_data(built: list[tuple[Entry, EntryMedia]], media: str | None) -> dict[str, list[dict]]:
    """Each game's evaluated entries: id, keys, protocol, per level σ and returns, and the
    film's URL and σ (None without one)."""
    base = media_base(media)
    out: dict[str, list[dict]] = defaultdict(list)
    for entry, info in built:
        r = info.robustness
        if not r:
            continue
        video = r.get("video")
        out[entry.game].append({
            "id": entry.id, "algo": entry.algo, "run": entry.run, "tag": entry.tag,
            "protocol": r.get("protocol"),
            "episodes": r["settings"]["episodes"], "max_steps": r["settings"]["max_steps"],
            "levels": [{"sigma": lv["sigma"], "returns": lv["returns"],
                        "finished": lv["finished"]} for lv in r["levels"]],
            "video": media_url(entry, video["file"], base) if video else None,
            "video_sigma": video["sigma"] if video else None,
        })  # fmt: skip
    return dict(sorted(out.items()))


def manifest_pages(data: dict[str, list[dict]]) -> list[dict[str, Any]]:
    """The root manifest's `robustness`: which games have a page, where, with how many agents."""
    return [{"game": game, "page": page_of(game), "data": data_of(game), "entries": len(items)}
            for game, items in data.items()]  # fmt: skip


def _stats(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return mean, math.sqrt(var)


def summary(algos: list[dict], items: list[dict]) -> list[dict[str, Any]]:
    """Per algorithm (in `algos` order) and σ: mean and standard deviation over every run's
    episodes, the runs and episodes counted, and each run's own mean."""
    out = []
    for algo in algos:
        mine = [e for e in items if e["algo"] == algo["id"]]
        if not mine:
            continue
        pooled: dict[float, list[float]] = defaultdict(list)
        runs: dict[float, list[tuple[dict, float]]] = defaultdict(list)
        for e in mine:
            for lv in e["levels"]:
                if lv["returns"]:
                    pooled[lv["sigma"]].extend(lv["returns"])
                    runs[lv["sigma"]].append((e, sum(lv["returns"]) / len(lv["returns"])))
        rows = []
        for sigma in sorted(pooled):
            mean, sd = _stats(pooled[sigma])
            rows.append({"sigma": sigma, "mean": mean, "sd": sd, "episodes": len(pooled[sigma]),
                         "runs": runs[sigma]})  # fmt: skip
        out.append({"algo": algo, "rows": rows, "entries": mine,
                    "by_sigma": {r["sigma"]: r for r in rows}})  # fmt: skip
    return out


def _viewer(e: dict, game: str) -> str:
    return (f"{ROOT}video.html?algo={escape(e['algo'])}&amp;game={escape(game)}"
            f"&amp;run={e['run']}&amp;tag={escape(e['tag'])}")  # fmt: skip


def chart(game: str, lines: list[dict]) -> Markup | None:
    """Score against σ: per algorithm a line through the mean over runs and episodes, a band
    of ± one standard deviation, and a dot per run (its mean, linked to its viewer; the dots
    of one σ side by side, above every line)."""
    rows = [r for line in lines for r in line["rows"]]
    if not rows:
        return None
    sigmas = sorted({r["sigma"] for r in rows})
    ys = [v for r in rows for v in (r["mean"] - r["sd"], r["mean"] + r["sd"])]
    ys += [m for r in rows for _, m in r["runs"]]
    yt = _ticks(min(ys), max(ys))
    ylo, yhi = min(yt[0], min(ys)), max(yt[-1], max(ys))
    xlo, xhi = 0.0, max(sigmas) or 1.0
    width = 560

    def x(v: float) -> float:
        return LEFT + 10 + (v - xlo) / (xhi - xlo) * (width - LEFT - RIGHT - 20)

    def y(v: float) -> float:
        return HEIGHT - BOTTOM - (v - ylo) / (yhi - ylo or 1) * (HEIGHT - TOP - BOTTOM)

    label = f"{game}: score against observation noise, by algorithm"
    parts = _frame(width, label, yt, y)
    for s in sigmas:
        parts.append(f'<text class="tick" x="{x(s):.1f}" y="{HEIGHT - BOTTOM + 14}" '
                     f'text-anchor="middle">{_fmt(s)}</text>')  # fmt: skip
    parts.append(
        f'<text class="axis" x="{(LEFT + width) / 2:.0f}" y="{HEIGHT - 10}" '
        'text-anchor="middle">σ of the Gaussian noise on the [0, 1] input</text>'
    )
    keys, dots = [], []
    per_sigma = max((sum(len(line["by_sigma"].get(sg, {"runs": []})["runs"]) for line in lines)
                     for sg in sigmas), default=1)  # fmt: skip
    step = min(4.0, 40 / max(1, per_sigma))  # dots of one σ side by side, never on top
    placed: dict[float, int] = {}
    for i, line in enumerate(lines):
        colour, algo = PALETTE[i % len(PALETTE)], line["algo"]
        pts = line["rows"]
        upper = [f"{x(r['sigma']):.1f},{y(r['mean'] + r['sd']):.1f}" for r in pts]
        lower = [f"{x(r['sigma']):.1f},{y(r['mean'] - r['sd']):.1f}" for r in reversed(pts)]
        middle = " ".join(f"{x(r['sigma']):.1f},{y(r['mean']):.1f}" for r in pts)
        parts.append(f'<g class="algo-line" data-algo="{escape(algo["id"])}">'
                     f'<polygon class="band" points="{" ".join(upper + lower)}" fill="{colour}"/>'
                     f'<polyline class="line" stroke="{colour}" points="{middle}"/>'
                     "</g>")  # fmt: skip
        dots.append(f'<g class="algo-points" data-algo="{escape(algo["id"])}">')
        for r in pts:
            for e, mean in r["runs"]:
                k = placed[r["sigma"]] = placed.get(r["sigma"], -1) + 1
                cx = x(r["sigma"]) + (k - (per_sigma - 1) / 2) * step
                what = f"{algo['label']}, run {e['run']} ({e['tag']})"
                text = escape(f"{what} at σ = {_fmt(r['sigma'])}: mean return {_fmt(mean)}; "
                              "watch it")  # fmt: skip
                dots.append(f'<a href="{_viewer(e, game)}" class="point" aria-label="{text}">'
                            f'<title>{text}</title><circle cx="{cx:.1f}" '
                            f'cy="{y(mean):.1f}" r="3" fill="{colour}"/></a>')  # fmt: skip
        dots.append("</g>")
        keys.append(f'<span class="key-item"><svg class="key" width="18" height="10" '
                    f'aria-hidden="true"><line x1="0" x2="18" y1="5" y2="5" stroke="{colour}" '
                    f'stroke-width="3"/></svg>{escape(algo["label"])}</span>')  # fmt: skip
    parts += dots  # above every line and band
    parts.append("</svg>")
    return Markup(f'<figure class="robustness-chart">{"".join(parts)}<figcaption>'
                  f"{escape(label)}. Line: mean return over every run's episodes; band: ± one "
                  f"standard deviation; dots: each run's mean (click to watch it). "
                  f"{''.join(keys)}</figcaption></figure>")  # fmt: skip
