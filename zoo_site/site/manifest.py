"""The site's JSON manifests, split so that no page fetches more than it shows:

- `manifest.json`, the root index: the site, every algo, game, run and tag, counts, and a
  compact table of which (game, algo, run) has which tags (`groups`), enough for the
  catalog to filter, count and lay out every entry without loading any of them;
- `manifests/<game>.json`, one shard per game: its entries (media URLs, frames, scores)
  and its training curves;
- `cards/<game>.json`, per game what the catalog's cards show (poster, training step,
  returns, score, protocol, activations: a sixth of the shard), one row per entry;
- `a/<algo>/<game>/<run>/<tag>/entry.json`, one per entry: everything per step (beside the
  entry's page, index.html, and its media: one folder per agent).

In memory the build keeps one "full" manifest (the root's fields plus every entry and
training curve: `build_manifest`); `split_manifest` cuts it into the root and the shards,
`card_file` makes a shard's card file, and `read_manifest` puts a built site's files back
together (card files aside: they hold nothing else). Deterministic, schema-versioned
(docs/manifest.schema.json, docs/game.schema.json, docs/cards.schema.json,
docs/entry.schema.json)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from zoo_site import __version__
from zoo_site.config import Config
from zoo_site.records import EntryMedia, FileError
from zoo_site.sources.base import ENV_SUFFIX, Entry

SCHEMA_VERSION = 3
"""3: entries moved from manifest.json to one shard per game (manifests/<game>.json)."""

SHARDS = "manifests"
CARDS = "cards"
ENTRY_FOLDER = "a"
"""Each entry's folder, a/<algo>/<game>/<run>/<tag>/: its page (the link to share), its
entry.json and its media. One folder for all three: a site of 25,500 entries makes 25,500
folders fewer than with pages and media apart, and folders cost as much as files to make."""
GROUP_COLUMNS = ["game", "algo", "run", "source", "protocol", "tags", "activations", "saliency"]
CARD_COLUMNS = ["algo", "run", "tag", "poster", "width", "height", "training_step", "protocol",
                "best", "mean", "episodes", "score", "activations"]  # fmt: skip


def media_url(entry: Entry, name: str, base: str = "") -> str:
    """Where an entry's file is, relative to the site; under `base` (an absolute URL ending
    in '/') when the media are hosted elsewhere (--media-url)."""
    return f"{base}{ENTRY_FOLDER}/{entry.algo}/{entry.game}/{entry.run}/{entry.tag}/{name}"


def media_base(url: str | None) -> str:
    return "" if not url else url.rstrip("/") + "/"


class Labels:
    """Display names and orders: the config's first, then each entry's source's."""

    def __init__(self, config: Config, entries: Iterable[Entry]):
        self.config = config
        entries = list(entries)
        self._algo = {e.algo: e.algo_label for e in entries if e.algo_label}
        self._tag = {e.tag: e.tag_label for e in entries if e.tag_label}
        ranks: dict[str, float] = {}
        for e in entries:
            if e.tag_rank is not None:
                ranks[e.tag] = min(ranks.get(e.tag, e.tag_rank), e.tag_rank)
        self._rank = ranks

    def algo(self, algo: str) -> str:
        return self.config.algo_label(algo) or self._algo.get(algo, algo)

    def tag(self, tag: str) -> str:
        return self.config.tag_label(tag) or self._tag.get(tag, tag)

    def tag_key(self, tag: str) -> tuple[int, float, str]:
        """Config order first; then tags a source ranks (training steps); then by name."""
        order = self.config.tags.order
        if tag in order:
            return (0, order.index(tag), "")
        if tag in self._rank:
            return (1, self._rank[tag], tag)
        return (2, 0.0, tag)


def build_manifest(
    config: Config,
    built: list[tuple[Entry, EntryMedia]],
    demo: bool,
    training: list[dict] | None = None,
    media: str | None = None,
) -> dict[str, Any]:
    """The full manifest of the entries that were built, in display order, with the
    training curves of their runs (see training.py); `split_manifest` makes its files."""
    labels = Labels(config, (e for e, _ in built))
    built = sorted(built, key=lambda item: _entry_order(config, labels, item[0]))
    entries = [e for e, _ in built]
    algos = _unique(e.algo for e in entries)
    games = sorted(_unique(e.game for e in entries))
    tags = sorted(_unique(e.tag for e in entries), key=labels.tag_key)
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": f"zoo-site {__version__}",
        "site": {
            "title": config.title,
            "description": config.description,
            "notice": config.notice or None,
            "demo": demo,
            "media_url": media_base(media) or None,
            "base_url": None,
        },
        "algos": [{"id": a, "label": labels.algo(a)} for a in algos],
        "games": [{"id": g, "env": g + ENV_SUFFIX} for g in games],
        "runs": sorted({e.run for e in entries}),
        "tags": [{"id": t, "label": labels.tag(t)} for t in tags],
        "entries": [_entry_json(e, info, media_base(media)) for e, info in built],
        "training": training or [],
        "robustness": [],
        "maps": [],
    }


def _entry_order(config: Config, labels: Labels, e: Entry) -> tuple:
    listed = list(config.algos)
    algo_key = (listed.index(e.algo), "") if e.algo in listed else (len(listed), e.algo)
    return (algo_key, e.game, e.run, labels.tag_key(e.tag))


def _unique(items: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def _entry_json(entry: Entry, info: EntryMedia, base: str) -> dict[str, Any]:
    return {
        "id": entry.id,
        "algo": entry.algo,
        "game": entry.game,
        "run": entry.run,
        "tag": entry.tag,
        "source": entry.source,
        "protocol": _protocol(info),
        "training_step": entry.training_step,
        "video": media_url(entry, "gameplay.mp4", base),
        "poster": media_url(entry, "poster.png", base),
        "frames": info.frames,
        "fps": info.fps,
        "width": info.width,
        "height": info.height,
        "scale": info.scale,
        "episode_returns": info.episode_returns,
        "score": info.score,
        "rollout": {"source": info.rollout["source"]},
        "activations": info.activations is not None,
        "saliency": info.saliency is not None,
        "robustness": info.robustness is not None,
        "details": media_url(entry, "entry.json"),
    }


def _protocol(info: EntryMedia) -> dict[str, str] | None:
    """How zoo-site played the model, as it really did (null for the zoo's own rollouts)."""
    name, label = info.rollout["protocol"], info.rollout.get("protocol_label")
    return None if name is None else {"name": name, "label": label or name}


def entry_manifest(entry: Entry, info: EntryMedia, media: str | None = None) -> dict[str, Any]:
    """a/<algo>/<game>/<run>/<tag>/entry.json: everything about one entry, per step."""
    acts = info.activations
    base = media_base(media)
    return {
        "schema_version": SCHEMA_VERSION,
        "id": entry.id,
        "algo": entry.algo,
        "game": entry.game,
        "run": entry.run,
        "tag": entry.tag,
        "source": entry.source,
        "protocol": _protocol(info),
        "training_step": entry.training_step,
        "files": {
            "model": entry.relative(entry.model.path) if entry.model else None,
            "rollout": entry.relative(entry.rollout),
            "played": info.rollout["source"] == "played",
        },
        "frames": info.frames,
        "fps": info.fps,
        "video": media_url(entry, "gameplay.mp4", base),
        "poster": media_url(entry, "poster.png", base),
        "episode_returns": info.episode_returns,
        "steps": info.steps,
        "activations": None if acts is None else _with_urls(entry, dict(acts), base),
        "activation_error": _public_error(info.activation_error) or _off(info),
        "saliency": None if info.saliency is None else _file_url(entry, info.saliency, base),
        "saliency_error": _public_error(info.saliency_error),
        "robustness": _robustness(entry, info.robustness, base),
        "robustness_error": _public_error(info.robustness_error),
    }


def _off(info: EntryMedia) -> str | None:
    """Why a model's activations were left out by choice, in the words of an error."""
    if not info.activations_off:
        return None
    return "not rendered for this checkpoint ([render] activations_only in zoo-site.toml)"


def _public_error(error: FileError | None) -> str | None:
    """The reason, naming the file but not the builder's local folders."""
    return None if error is None else f"{error['file']}: {error['message']}"


def _with_urls(entry: Entry, acts: dict[str, Any], base: str) -> dict[str, Any]:
    atlas = dict(acts["atlas"])
    atlas["video"] = media_url(entry, atlas["video"], base)
    atlas["poster"] = media_url(entry, atlas["poster"], base)
    layers = []
    for layer in acts["layers"]:
        video = layer["video"]  # only with [render] layer_videos
        layer = dict(layer, video=None if video is None else media_url(entry, video, base))
        layer["strip"] = dict(layer["strip"], image=media_url(entry, layer["strip"]["image"], base))
        layers.append(layer)
    outputs = _file_url(entry, acts["outputs"], base)
    dist, value = acts.get("distribution"), acts.get("value")
    return {**acts, "atlas": atlas, "layers": layers, "outputs": outputs,
            "distribution": None if dist is None else _file_url(entry, dist, base),
            "value": None if value is None else _file_url(entry, value, base)}  # fmt: skip


def _robustness(entry: Entry, info: dict | None, base: str) -> dict | None:
    """The noise evaluation, its film (if any) by URL, without the cache's key."""
    if info is None or not info.get("video"):
        return info
    video = {k: v for k, v in info["video"].items() if k != "key"}
    return {**info, "video": _file_url(entry, video, base)}


def _file_url(entry: Entry, info: Any, base: str) -> dict[str, Any]:
    """A file description with its URL in place of its name."""
    out = dict(info, url=media_url(entry, info["file"], base))
    del out["file"]
    return out


# ---- the files: a root index and a shard per game ---------------------------------------------


def shard_of(game: str) -> str:
    return f"{SHARDS}/{game}.json"


def cards_of(game: str) -> str:
    return f"{CARDS}/{game}.json"


def split_manifest(full: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The root index (manifest.json) and the shard of each game (manifests/<game>.json)
    of a full manifest. Entries keep the full manifest's order inside each shard."""
    by_game: dict[str, list[dict]] = {g["id"]: [] for g in full["games"]}
    for e in full["entries"]:
        by_game.setdefault(e["game"], []).append(e)
    curves: dict[str, list[dict]] = {}
    for curve in full.get("training", []):
        curves.setdefault(curve["game"], []).append(curve)
    shards = {
        game: {"schema_version": SCHEMA_VERSION, "game": game, "entries": entries,
               "training": curves.get(game, [])}
        for game, entries in by_game.items()
    }  # fmt: skip
    games = [{**g, "entries": len(by_game.get(g["id"], [])), "shard": shard_of(g["id"]),
              "cards": cards_of(g["id"]), "scores": g.get("scores")}
             for g in full["games"]]  # fmt: skip
    entries = full["entries"]
    root = {
        key: full[key] for key in ("schema_version", "generator", "site", "algos")
    } | {
        "games": games,
        "runs": full["runs"],
        "tags": full["tags"],
        "counts": {"entries": len(entries),
                   **{k: sum(bool(e.get(k)) for e in entries)
                      for k in ("activations", "saliency", "robustness")}},
        **_groups(full),
        "robustness": full.get("robustness", []),
        "maps": full.get("maps", []),
    }  # fmt: skip
    root["schema_version"] = SCHEMA_VERSION
    return root, shards


def _groups(full: dict[str, Any]) -> dict[str, Any]:
    """`sources`, `protocols` and `groups`: one row per (game, algo, run, source,
    protocol) with the indices of its tags as [first, last] ranges into `tags`, and how
    many of its entries have activations and saliency maps."""
    index = {key: {v: i for i, v in enumerate(values)} for key, values in (
        ("game", [g["id"] for g in full["games"]]), ("algo", [a["id"] for a in full["algos"]]),
        ("tag", [t["id"] for t in full["tags"]]), ("run", full["runs"]))}  # fmt: skip
    sources: dict[str, int] = {}
    protocols: dict[tuple[str, str], int] = {}
    rows: dict[tuple, list] = {}
    for e in full["entries"]:
        source = sources.setdefault(e["source"], len(sources))
        p = e.get("protocol")
        protocol = None if p is None else protocols.setdefault((p["name"], p["label"]),
                                                               len(protocols))  # fmt: skip
        key = (index["game"][e["game"]], index["algo"][e["algo"]], index["run"][e["run"]],
               source, -1 if protocol is None else protocol)  # fmt: skip
        row = rows.setdefault(key, [key[0], key[1], e["run"], source, protocol, [], 0, 0])
        row[5].append(index["tag"][e["tag"]])
        row[6] += bool(e.get("activations"))
        row[7] += bool(e.get("saliency"))
    table = []
    for key in sorted(rows):
        row = rows[key]
        table.append(row[:5] + [_ranges(sorted(set(row[5])))] + row[6:])
    return {
        "sources": list(sources),
        "protocols": [{"name": n, "label": label} for n, label in protocols],
        "groups": {"columns": GROUP_COLUMNS, "rows": table},
    }


def card_file(root: dict[str, Any], shard: dict[str, Any]) -> dict[str, Any]:
    """cards/<game>.json of a game's shard: what the catalog's cards show and nothing else,
    one row per entry (CARD_COLUMNS; algo, tag and protocol as indices into the root's
    lists), so that a filter change waits for a sixth of the shard's bytes."""
    index = {key: {v: i for i, v in enumerate(values)} for key, values in (
        ("algo", [a["id"] for a in root["algos"]]), ("tag", [t["id"] for t in root["tags"]]),
        ("protocol", [(p["name"], p["label"]) for p in root["protocols"]]))}  # fmt: skip
    rows = []
    for e in shard["entries"]:
        p = e["protocol"]
        protocol = None if p is None else index["protocol"][(p["name"], p["label"])]
        rows.append([index["algo"][e["algo"]], e["run"], index["tag"][e["tag"]], e["poster"],
                     e["width"], e["height"], e["training_step"], protocol,
                     *_returns(e["episode_returns"]), e["score"], e["activations"]])  # fmt: skip
    return {"schema_version": SCHEMA_VERSION, "game": shard["game"], "columns": CARD_COLUMNS,
            "rows": rows}  # fmt: skip


def _returns(returns: list[float]) -> tuple[float | None, float | None, int]:
    """Best and mean episode return and how many, as a card says them; the mean summed in
    order, as the pages' scripts sum (sum() compensates since Python 3.12: its last bit
    can differ)."""
    if not returns:
        return None, None, 0
    total = 0.0
    for r in returns:
        total += r
    return max(returns), total / len(returns), len(returns)


def _ranges(indices: list[int]) -> list[list[int]]:
    """[0, 1, 2, 5, 7, 8] -> [[0, 2], [5, 5], [7, 8]]."""
    out: list[list[int]] = []
    for i in indices:
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def read_manifest(site: Path) -> dict[str, Any]:
    """A built site's full manifest: its root index with every shard's entries (game by
    game, in the root's order) and training curves put back. FileNotFoundError when the
    folder holds no manifest.json."""
    site = Path(site)
    root: dict[str, Any] = json.loads((site / "manifest.json").read_text(encoding="utf-8"))
    entries: list[dict] = []
    training: list[dict] = []
    for game in root["games"]:
        shard = json.loads((site / game["shard"]).read_text(encoding="utf-8"))
        entries += shard["entries"]
        training += shard["training"]
    return {**root, "entries": entries, "training": training}
