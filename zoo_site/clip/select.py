"""`zoo-site clip`: which cells to show, from entry ids or a pasted grid.html link (read
as grid.js reads it), and which steps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from zoo_site import __version__
from zoo_site.clip.saliency import MODES, PALETTES
from zoo_site.errors import ConfigError, ZooNotFound

DIMS = (("algo", "algos"), ("run", "runs"), ("tag", "tags"))
Entry = dict[str, Any]


# ---- what to show: cells from entry ids or a grid link ----------------------------------------


@dataclass
class Selection:
    """The cells, row by row (None: no entry for that combination), and what a link asked."""

    cells: list[tuple[dict[str, str], Entry | None]]
    cols: int
    step: str | None = None  # the link's frame= or t=, as "frame=N" / "t=S"
    saliency: str | None = None
    salpha: float | None = None
    palette: str | None = None


def load_manifest(site: Path) -> dict[str, Any]:
    """The site's full manifest (its root index with every game's entries)."""
    from zoo_site.site.manifest import read_manifest

    if not (Path(site) / "manifest.json").is_file():
        raise ZooNotFound(f"{site} holds no built site (no manifest.json): run zoo-site build, "
                          "or give the site's folder with --site")  # fmt: skip
    try:
        return read_manifest(Path(site))
    except (OSError, ValueError, KeyError) as exc:
        raise ZooNotFound(
            f"{site}/manifest.json: not a site zoo-site {__version__} can read "
            f"({exc}); build it again"
        ) from None


def select_entries(manifest: dict[str, Any], ids: list[str], site: Path) -> Selection:
    """Cells for entry ids `algo/game/run/tag`, in the order given."""
    by_id = {e["id"]: e for e in manifest["entries"]}
    problems = []
    for i in ids:
        if i not in by_id:
            parts = i.split("/")
            game = parts[1] if len(parts) > 1 else None
            near = [e["id"] for e in manifest["entries"] if e["game"] == game]
            hint = f" ({parts[1]} has: {', '.join(near[:8])})" if near else ""
            form = "" if len(parts) == 4 else " (an entry id is algo/game/run/tag)"
            problems.append(f"no entry {i!r} in {site}/manifest.json{form}{hint}")
    if problems:
        raise ConfigError(problems)
    cells = [(_combo(by_id[i]), by_id[i]) for i in ids]
    return Selection(cells, max(1, math.ceil(math.sqrt(len(ids)))))


def _combo(entry: Entry) -> dict[str, str]:
    return {k: str(entry[k]) for k in ("algo", "game", "run", "tag")}


def link_params(link: str) -> dict[str, list[str]]:
    """The query of a pasted link: a full URL, `grid.html?…`, `?…` or the bare query."""
    parts = urlsplit(link.strip())
    query = parts.query if (parts.query or "?" in link) else link.strip()
    if "=" not in query:
        raise ConfigError([f"--grid {link!r} has no parameters (copy the grid page's address)"])
    return parse_qs(query, keep_blank_values=True)


def _list(params: dict[str, list[str]], key: str, plural: str) -> list[str]:
    values = params.get(plural, []) + params.get(key, [])
    picked = [v.strip() for value in values for v in value.split(",") if v.strip()]
    return list(dict.fromkeys(picked))


def _order(manifest: dict[str, Any], key: str, entries: list[Entry]) -> list[str]:
    """The values of `key` among `entries` in the manifest's order (unlisted ones last)."""
    listed = {
        "algo": [a["id"] for a in manifest["algos"]],
        "run": [str(r) for r in manifest["runs"]],
        "tag": [t["id"] for t in manifest["tags"]],
    }[key]
    present = list(dict.fromkeys(str(e[key]) for e in entries))
    return [v for v in listed if v in present] + [v for v in present if v not in listed]


def select_link(manifest: dict[str, Any], link: str) -> Selection:
    """The cells grid.html shows for `link`: the product of its algos, runs and tags in the
    manifest's order; the last of them with several values gives the columns."""
    params = link_params(link)
    games = [g["id"] for g in manifest["games"]]
    games = [g for g in games if any(e["game"] == g for e in manifest["entries"])]
    game = (params.get("game") or [""])[0] or (games[0] if games else "")
    if game not in games:
        raise ConfigError([f"--grid: no game {game!r} in this site (games: {', '.join(games)})"])
    entries = [e for e in manifest["entries"] if e["game"] == game]
    sel, problems = {}, []
    for key, plural in DIMS:
        options, wanted = _order(manifest, key, entries), _list(params, key, plural)
        bad = [v for v in wanted if v not in options]
        if bad:
            problems.append(f"--grid: no {key} {', '.join(map(repr, bad))} for {game} "
                            f"(it has: {', '.join(options)})")  # fmt: skip
        elif wanted:
            sel[key] = [v for v in options if v in wanted]
        else:  # as grid.html: every algo and run, the `final` (or last) checkpoint
            sel[key] = options if key != "tag" else ["final" if "final" in options else options[-1]]
    if problems:
        raise ConfigError(problems)
    multi = [k for k, _ in DIMS if len(sel[k]) > 1]
    col = multi[-1] if multi else None
    order = [k for k, _ in DIMS if k != col] + ([col] if col else [])
    find = {(e["algo"], str(e["run"]), e["tag"]): e for e in entries}
    cells = []
    for values in product(*(sel[k] for k in order)):
        combo = dict(zip(order, values, strict=True), game=game)
        cells.append((combo, find.get((combo["algo"], combo["run"], combo["tag"]))))
    if not any(e for _, e in cells):
        raise ConfigError([f"--grid: no entry for any cell of {link!r}"])
    step = next((f"{k}={params[k][0]}" for k in ("frame", "t") if params.get(k)), None)
    mode = _first(params, "saliency")
    alpha = _number(_first(params, "salpha"))
    palette = _first(params, "palette")
    return Selection(cells, len(sel[col]) if col else 1, step,
                     mode if mode in MODES else None,
                     alpha if alpha is not None and 0 <= alpha <= 1 else None,
                     palette if palette in PALETTES else None)  # fmt: skip


def _first(params: dict[str, list[str]], key: str) -> str | None:
    return params[key][0] if params.get(key) else None


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def step_range(sel: Selection, start: int | None, stop: int | None) -> tuple[int, int]:
    """[start, stop) in steps: by default from the link's step (or 0) to the longest video's end."""
    entries = [e for _, e in sel.cells if e]
    frames, fps = max(e["frames"] for e in entries), entries[0]["fps"]
    if start is None and sel.step:
        key, value = sel.step.split("=", 1)
        if key == "frame" and value.isdigit():
            start = min(frames - 1, int(value))
        elif key == "t" and _number(value) is not None and float(value) >= 0:
            start = min(frames - 1, math.floor(float(value) * fps + 1e-6))
        else:
            raise ConfigError([f"--grid: {sel.step!r} is not a step or a time"])
    start = 0 if start is None else start
    stop = frames if stop is None else stop
    if not 0 <= start < frames:
        raise ConfigError([f"--from {start}: the longest video has steps 0 to {frames - 1}"])
    if not start < stop <= frames:
        raise ConfigError([f"--to {stop}: must be after --from {start} and at most {frames} "
                           "(the longest video's steps; --to is exclusive)"])  # fmt: skip
    return start, stop
