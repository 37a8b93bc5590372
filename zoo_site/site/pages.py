"""Render the site's HTML pages from the manifest and copy the static assets beside them."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from zoo_site import __version__, fsutil
from zoo_site.resources import site_src_dir
from zoo_site.site import charts, previews
from zoo_site.site import robustness as noise
from zoo_site.site.entry_pages import write_entry_pages
from zoo_site.site.manifest import card_file, cards_of, shard_of, split_manifest
from zoo_site.site.templating import make_environment

PAGES = ("index.html", "video.html", "video2.html", "grid.html", "map.html", "404.html")
ASSETS = "assets"
SCORES = "scores"
"""Each game's score charts: scores/<game>.html (linked from its catalog heading)."""


def write_pages(
    site_dir: Path,
    manifest: dict,
    *,
    template_override: Path | None = None,
    robustness: dict[str, list[dict]] | None = None,
    keys: previews.PageKeys | None = None,
) -> list[Path]:
    """Write the site of the full manifest `manifest` (site/manifest.py) into `site_dir`:
    the assets, each game's score charts, the root index, a shard and a card file per game,
    the pages, and, with `robustness` (game -> its evaluated entries,
    `site.robustness.game_data`), a robustness page and its data per game. With `keys`,
    every entry page's key goes to `keys.new`, and a page whose key is in `keys.old` is
    linked from the site being replaced (`site_dir` is then a `stage.Stage` with the
    previous site). Return the paths written."""
    site_dir = Path(site_dir)
    assets = copy_assets(site_src_dir(), site_dir / ASSETS)
    written = [site_dir / ASSETS / name for name in assets]
    env = make_environment(template_override)
    asset = asset_url_maker(assets)
    scores = score_pages(manifest)
    full = {
        **manifest,
        "games": [
            {**g, "scores": f"{SCORES}/{g['id']}.html" if g["id"] in scores else None}
            for g in manifest["games"]
        ],
    }
    root, shards = split_manifest(full)
    fsutil.write_json(site_dir / "manifest.json", root)
    written.append(site_dir / "manifest.json")
    for game, shard in shards.items():
        fsutil.write_json(site_dir / shard_of(game), shard)
        fsutil.write_json(site_dir / cards_of(game), card_file(root, shard))
        written += [site_dir / shard_of(game), site_dir / cards_of(game)]
    context = page_context(root, asset)
    for name in PAGES:
        root_path = _not_found_root(manifest) if name == "404.html" else ""
        html = env.get_template(name).render(context, page=name.removesuffix(".html"),
                                             root=root_path)  # fmt: skip
        fsutil.write_text(site_dir / name, html)
        written.append(site_dir / name)
    for game, group in scores.items():
        html = env.get_template("scores.html").render(context, page="scores", root="../",
                                                       game=game, group=group)  # fmt: skip
        fsutil.write_text(site_dir / SCORES / f"{game}.html", html)
        written.append(site_dir / SCORES / f"{game}.html")
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
    shared = {**{k: context[k] for k in previews.SHARED}, "asset": {n: asset(n) for n in assets}}
    assert env.loader is not None
    sources = [env.loader.get_source(env, name)[0] for name in sorted(env.list_templates())]
    key = previews.shared_key(sources, shared, sorted(shared["asset"].values()))
    written += write_entry_pages(site_dir, full, template_override, shared, (key, keys))
    return written + write_previews(site_dir, full)


def _not_found_root(manifest: dict) -> str:
    """404.html's prefix to the site's files: GitHub Pages serves it at any missing path
    (a/apex/Pong/9/final/ too), where relative links break; with a base URL its path is
    known ("/zoo/"), otherwise links stay relative (right at the site's top level)."""
    base = manifest["site"].get("base_url")
    return urlsplit(base).path.rstrip("/") + "/" if base else ""


def write_previews(site_dir: Path, manifest: dict) -> list[Path]:
    """robots.txt and, with a base URL, sitemap.xml (every entry's page is in it)."""
    base = manifest["site"].get("base_url")
    fsutil.write_text(site_dir / "robots.txt", previews.robots(base))
    written = [site_dir / "robots.txt"]
    if base:
        pages = ["", "grid.html", *(["map.html"] if manifest.get("maps") else []),
                 *(p["page"] for p in manifest.get("robustness", [])),
                 *(g["scores"] for g in manifest["games"] if g.get("scores"))]  # fmt: skip
        fsutil.write_text(site_dir / "sitemap.xml", previews.sitemap(base, manifest, pages))
        written.append(site_dir / "sitemap.xml")
    return written


def page_context(manifest: dict, asset: Callable[[str], str]) -> dict[str, Any]:
    """What every template sees: the root index (`manifest`, no entries) and helpers."""
    return {
        "manifest": manifest,
        "site": manifest["site"],
        "version": __version__,
        "asset": asset,
        "tag_labels": {tag["id"]: tag["label"] for tag in manifest["tags"]},
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


def asset_url_maker(assets: dict[str, bytes]) -> Callable[[str], str]:
    """`asset(name)` gives the relative URL of a copied asset (`assets`: name -> the bytes
    copied), busting caches by its content (each digest computed once)."""
    digests: dict[str, str] = {}

    def asset(name: str) -> str:
        if name not in digests:
            digests[name] = fsutil.bytes_digest(assets[name])[:10]
        return f"{ASSETS}/{name}?v={digests[name]}"

    return asset


IMPORT = re.compile(r"""(\bfrom\s*|\bimport\s*\(?\s*)(["'])\./([\w.-]+\.js)\2""")
"""A JavaScript module's static or dynamic import of a sibling module: `from "./x.js"`."""


def copy_assets(src_dir: Path, dest_dir: Path) -> dict[str, bytes]:
    """Copy site_src/ into the site's assets/; return what was written, by name. ES
    modules import their siblings by a URL with the sibling's content digest
    (`./player.js?v=…`), as the pages load them, so a browser never mixes an old module
    with a new one and each module is loaded once."""
    files = {src.relative_to(src_dir).as_posix(): src for src in sorted(src_dir.rglob("*"))
             if src.is_file() and not any(part.startswith(".")
                                          for part in src.relative_to(src_dir).parts)}  # fmt: skip
    done: dict[str, bytes] = {}

    def content(name: str, seen: tuple[str, ...] = ()) -> bytes:
        if name in seen:
            raise ValueError(f"site_src/{name}: modules import each other in a cycle: "
                             + " -> ".join((*seen, name)))  # fmt: skip
        if name not in done:
            data = files[name].read_bytes()
            if name.endswith(".js"):

                def versioned(m: re.Match[str]) -> str:
                    dep = m.group(3)
                    if dep not in files:
                        raise ValueError(f"site_src/{name} imports ./{dep}, which does not exist")
                    digest = fsutil.bytes_digest(content(dep, (*seen, name)))[:10]
                    return f"{m.group(1)}{m.group(2)}./{dep}?v={digest}{m.group(2)}"

                data = IMPORT.sub(versioned, data.decode("utf-8")).encode("utf-8")
            done[name] = data
        return done[name]

    for name in files:
        fsutil.write_bytes(dest_dir / name, content(name))
    return done


def score_pages(manifest: dict) -> dict[str, dict[str, Any]]:
    """Each game's charts (only games with one): the episode returns by algo and run, the
    scores over training per algo, the zoo's training curves; all SVG drawn here."""
    labels = {tag["id"]: tag["label"] for tag in manifest["tags"]}
    buckets: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for entry in manifest["entries"]:
        buckets[entry["game"], entry["algo"]].append(entry)
    runs = {run: i for i, run in enumerate(manifest["runs"])}
    tags = {tag["id"]: i for i, tag in enumerate(manifest["tags"])}

    def order(entry: dict) -> tuple:
        return (runs.get(entry["run"], len(runs)), entry["run"], tags.get(entry["tag"], len(tags)))

    pages = {}
    for game in manifest["games"]:
        algos = [(algo, sorted(buckets[game["id"], algo["id"]], key=order))
                 for algo in manifest["algos"] if buckets[game["id"], algo["id"]]]  # fmt: skip
        entries = [e for _, items in algos for e in items]
        group = {
            "game": game,
            "chart": charts.returns_chart(game["id"], [a for a, _ in algos], entries, list(tags),
                                          labels),
            "training": _training(manifest, game["id"], entries, labels),
            "progress": [chart for algo, items in algos
                         if (chart := charts.progress_chart(game["id"], algo, items, labels))],
        }  # fmt: skip
        if group["chart"] or group["progress"] or group["training"]:
            pages[game["id"]] = group
    return pages


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
