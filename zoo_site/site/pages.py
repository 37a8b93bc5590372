"""Render the site's HTML pages from the manifest and copy the static assets beside them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2

from zoo_site import __version__, fsutil
from zoo_site.resources import site_src_dir, templates_dir
from zoo_site.site import charts, previews
from zoo_site.site import robustness as noise

PAGES = ("index.html", "video.html", "video2.html", "grid.html", "map.html", "404.html")
ASSETS = "assets"


def write_pages(
    site_dir: Path,
    manifest: dict,
    *,
    template_override: Path | None = None,
    robustness: dict[str, list[dict]] | None = None,
) -> list[Path]:
    """Write the pages and the assets into `site_dir`; with `robustness` (game -> its
    evaluated entries, `site.robustness.game_data`) also a robustness page and its data per
    game. Return the paths written."""
    site_dir = Path(site_dir)
    written = copy_assets(site_src_dir(), site_dir / ASSETS)
    env = make_environment(template_override)
    context = page_context(manifest, asset_url_maker(site_src_dir()))
    for name in PAGES:
        html = env.get_template(name).render(context, page=name.removesuffix(".html"))
        fsutil.write_text(site_dir / name, html)
        written.append(site_dir / name)
    for game, items in (robustness or {}).items():
        lines = noise.summary(manifest["algos"], items)
        html = env.get_template("robustness.html").render(
            context, page="robustness", root=noise.ROOT, game=game, lines=lines,
            chart=noise.chart(game, lines), data_url=noise.data_of(game),
            sigmas=sorted({r["sigma"] for line in lines for r in line["rows"]}),
        )  # fmt: skip
        fsutil.write_text(site_dir / noise.page_of(game), html)
        fsutil.write_json(site_dir / noise.data_of(game), items)
        written += [site_dir / noise.page_of(game), site_dir / noise.data_of(game)]
    return written + write_previews(site_dir, manifest, env, context)


def write_previews(site_dir: Path, manifest: dict, env: jinja2.Environment,
                   context: dict[str, Any]) -> list[Path]:  # fmt: skip
    """Every entry's own page (site/previews.py), robots.txt and, with a base URL,
    sitemap.xml."""
    base = manifest["site"].get("base_url")
    template = env.get_template("entry.html")
    written = []
    for name, extra in previews.contexts(manifest, base):
        html = template.render(context, page="entry", root=previews.ROOT, **extra)
        fsutil.write_text(site_dir / name, html)
        written.append(site_dir / name)
    fsutil.write_text(site_dir / "robots.txt", previews.robots(base))
    written.append(site_dir / "robots.txt")
    if base:
        pages = ["", "grid.html", *(["map.html"] if manifest.get("maps") else []),
                 *(p["page"] for p in manifest.get("robustness", []))]  # fmt: skip
        fsutil.write_text(site_dir / "sitemap.xml", previews.sitemap(base, manifest, pages))
        written.append(site_dir / "sitemap.xml")
    return written


def make_environment(template_override: Path | None = None) -> jinja2.Environment:
    loaders = [jinja2.FileSystemLoader(templates_dir())]
    if template_override is not None:
        loaders.insert(0, jinja2.FileSystemLoader(template_override))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.filters["protocol_short"] = protocol_short
    env.filters["steps"] = steps_label
    return env


def page_context(manifest: dict, asset: Callable[[str], str]) -> dict[str, Any]:
    tag_labels = {tag["id"]: tag["label"] for tag in manifest["tags"]}
    return {
        "manifest": manifest,
        "site": manifest["site"],
        "version": __version__,
        "asset": asset,
        "groups": index_groups(manifest, tag_labels),
        "tag_labels": tag_labels,
        "media_origin": _origin(manifest["site"].get("media_url")),
        "root": "",
        "robustness_pages": {p["game"]: p["page"] for p in manifest.get("robustness", [])},
        "map_pages": {m["game"]: m["page"] for m in manifest.get("maps", [])},
    }


def _origin(url: str | None) -> str:
    """scheme://host[:port] of `url`, for the Content-Security-Policy ('' if none)."""
    if not url:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def asset_url_maker(src_dir: Path) -> Callable[[str], str]:
    """`asset(name)` gives the relative URL of an asset, busting caches by its content."""

    def asset(name: str) -> str:
        return f"{ASSETS}/{name}?v={fsutil.file_digest(src_dir / name)[:10]}"

    return asset


def copy_assets(src_dir: Path, dest_dir: Path) -> list[Path]:
    written = []
    for src in sorted(src_dir.rglob("*")):
        relative = src.relative_to(src_dir)
        if src.is_file() and not any(part.startswith(".") for part in relative.parts):
            fsutil.write_bytes(dest_dir / relative, src.read_bytes())
            written.append(dest_dir / relative)
    return written


def index_groups(manifest: dict, labels: dict[str, str]) -> list[dict[str, Any]]:
    """Entries by game, then algo (manifest order); inside, sorted by run, then tag."""
    buckets: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for entry in manifest["entries"]:
        buckets[entry["game"], entry["algo"]].append(entry)
    runs = {run: i for i, run in enumerate(manifest["runs"])}
    tags = {tag["id"]: i for i, tag in enumerate(manifest["tags"])}

    def order(entry: dict) -> tuple:
        return (runs.get(entry["run"], len(runs)), entry["run"], tags.get(entry["tag"], len(tags)))

    groups = []
    for game in manifest["games"]:
        algos = [
            {"algo": algo, "entries": sorted(buckets[game["id"], algo["id"]], key=order)}
            for algo in manifest["algos"]
            if buckets[game["id"], algo["id"]]
        ]
        if algos:
            entries = [e for item in algos for e in item["entries"]]
            groups.append({
                "game": game, "algos": algos,
                "chart": charts.returns_chart(game["id"], [i["algo"] for i in algos], entries,
                                              list(tags), labels),
                "training": _training(manifest, game["id"], entries, labels),
                "progress": [chart for item in algos
                             if (chart := charts.progress_chart(game["id"], item["algo"],
                                                                item["entries"], labels))],
            })  # fmt: skip
    return groups


def _training(manifest: dict, game: str, entries: list[dict], labels: dict) -> list:
    algo_labels = {a["id"]: a["label"] for a in manifest["algos"]}
    out = []
    for curve in manifest.get("training", []):
        if curve["game"] != game:
            continue
        tagged = {
            e["tag"]: e for e in entries if (e["algo"], e["run"]) == (curve["algo"], curve["run"])
        }
        out.append(charts.training_chart(curve, algo_labels.get(curve["algo"], curve["algo"]),
                                         tagged, labels))  # fmt: skip
    return out


def format_number(x: float) -> str:
    """1234.0 -> '1,234'; 12.5 -> '12.5' (at most two decimals, like the viewer's JS)."""
    return f"{x:,.2f}".rstrip("0").rstrip(".")


def protocol_short(protocol: dict | None) -> str:
    """The protocol's label up to its first ':' ('modern: sticky actions…' -> 'modern');
    '' when there is none."""
    return protocol["label"].split(":")[0].strip() if protocol else ""


def steps_label(step: int) -> str:
    """50000000 -> '50M agent steps' (one agent step is 4 frames in Atari)."""
    return f"{charts.short_steps(step)} agent steps"
