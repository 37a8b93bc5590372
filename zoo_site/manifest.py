"""The site's JSON manifest: every algo, game, run, tag and entry, deterministic."""

from __future__ import annotations

from zoo_site import __version__
from zoo_site.catalog import ENV_SUFFIX, Entry
from zoo_site.config import Config

SCHEMA_VERSION = 1


def media_url(entry: Entry, name: str, base: str = "") -> str:
    """Where an entry's file is, relative to the site; under `base` (an absolute URL ending
    in '/') when the media are hosted elsewhere (--media-url)."""
    return f"{base}media/{entry.algo}/{entry.game}/{entry.run}/{entry.tag}/{name}"


def media_base(url: str | None) -> str:
    return "" if not url else url.rstrip("/") + "/"


def build_manifest(
    config: Config,
    built: list[tuple[Entry, dict]],
    demo: bool,
    training: list[dict] | None = None,
    media: str | None = None,
) -> dict:
    """The root manifest.json for the entries that were built, in display order; with the
    training curves of their runs (see training.py)."""
    built = sorted(built, key=lambda item: _entry_order(config, item[0]))
    entries = [e for e, _ in built]
    algos = _unique(e.algo for e in entries)
    games = sorted(_unique(e.game for e in entries))
    tags = sorted(_unique(e.tag for e in entries), key=config.tag_sort_key)
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": f"zoo-site {__version__}",
        "site": {
            "title": config.title,
            "description": config.description,
            "notice": config.notice or None,
            "demo": demo,
            "media_url": media_base(media) or None,
        },
        "algos": [{"id": a, "label": config.algo_label(a)} for a in algos],
        "games": [{"id": g, "env": g + ENV_SUFFIX} for g in games],
        "runs": sorted({e.run for e in entries}),
        "tags": [{"id": t, "label": config.tag_label(t)} for t in tags],
        "entries": [_entry_json(e, info, media_base(media)) for e, info in built],
        "training": training or [],
    }


def _entry_order(config: Config, e: Entry) -> tuple:
    listed = list(config.algos)
    algo_key = (listed.index(e.algo), "") if e.algo in listed else (len(listed), e.algo)
    return (algo_key, e.game, e.run, config.tag_sort_key(e.tag))


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def _entry_json(entry: Entry, info: dict, base: str) -> dict:
    return {
        "id": entry.id,
        "algo": entry.algo,
        "game": entry.game,
        "run": entry.run,
        "tag": entry.tag,
        "video": media_url(entry, "gameplay.mp4", base),
        "poster": media_url(entry, "poster.png", base),
        "frames": info["frames"],
        "fps": info["fps"],
        "width": info["width"],
        "height": info["height"],
        "scale": info["scale"],
        "episode_returns": info["episode_returns"],
        "score": info["score"],
        "rollout": info["rollout"],
        "activations": info.get("activations") is not None,
        "details": media_url(entry, "entry.json"),
    }


def entry_manifest(entry: Entry, info: dict, media: str | None = None) -> dict:
    """media/<algo>/<game>/<run>/<tag>/entry.json: everything about one entry, per step."""
    acts = info.get("activations")
    base = media_base(media)
    return {
        "schema_version": SCHEMA_VERSION,
        "id": entry.id,
        "algo": entry.algo,
        "game": entry.game,
        "run": entry.run,
        "tag": entry.tag,
        "frames": info["frames"],
        "fps": info["fps"],
        "video": media_url(entry, "gameplay.mp4", base),
        "poster": media_url(entry, "poster.png", base),
        "episode_returns": info["episode_returns"],
        "steps": info["steps"],
        "activations": None if acts is None else _with_urls(entry, acts, base),
        "activation_error": _public_error(info.get("activation_error")),
    }


def _public_error(error: dict | None) -> str | None:
    """The reason, naming the file but not the builder's local folders."""
    return None if error is None else f"{error['file']}: {error['message']}"


def _with_urls(entry: Entry, acts: dict, base: str) -> dict:
    atlas = dict(acts["atlas"])
    atlas["video"] = media_url(entry, atlas["video"], base)
    atlas["poster"] = media_url(entry, atlas["poster"], base)
    layers = []
    for layer in acts["layers"]:
        layer = dict(layer, video=media_url(entry, layer["video"], base))
        layer["strip"] = dict(layer["strip"], image=media_url(entry, layer["strip"]["image"], base))
        layers.append(layer)
    outputs = dict(acts["outputs"], url=media_url(entry, acts["outputs"]["file"], base))
    del outputs["file"]
    return {**acts, "atlas": atlas, "layers": layers, "outputs": outputs}
