"""Reading a built site's manifests in the tests: the root index, every game's shard and
card file, each checked against its schema (docs/manifest.schema.json, game.schema.json,
cards.schema.json), and each card row against its entry."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from zoo_site.site.manifest import read_manifest

DOCS = Path(__file__).resolve().parents[1] / "docs"
ROOT_SCHEMA = json.loads((DOCS / "manifest.schema.json").read_text())
GAME_SCHEMA = json.loads((DOCS / "game.schema.json").read_text())
CARDS_SCHEMA = json.loads((DOCS / "cards.schema.json").read_text())


def validate_site(site: Path) -> dict:
    """Validate `site`'s manifest.json, each shard and each card file; return the full
    manifest (the root with every game's entries, as `read_manifest` puts it together)."""
    root = json.loads((Path(site) / "manifest.json").read_text())
    jsonschema.validate(root, ROOT_SCHEMA)
    for game in root["games"]:
        shard = json.loads((Path(site) / game["shard"]).read_text())
        jsonschema.validate(shard, GAME_SCHEMA)
        assert shard["game"] == game["id"] and len(shard["entries"]) == game["entries"]
        cards = json.loads((Path(site) / game["cards"]).read_text())
        jsonschema.validate(cards, CARDS_SCHEMA)
        assert cards["game"] == game["id"]
        assert [card_of(root, row) for row in cards["rows"]] == [
            card_of_entry(e) for e in shard["entries"]
        ]
    return read_manifest(site)


def card_of(root: dict, row: list) -> dict:
    """A card file's row with its indices looked up in the root index."""
    card = dict(zip(CARDS_SCHEMA["properties"]["columns"]["const"], row, strict=True))
    protocol = card["protocol"]
    return {**card, "algo": root["algos"][card["algo"]]["id"],
            "tag": root["tags"][card["tag"]]["id"],
            "protocol": None if protocol is None else root["protocols"][protocol]}  # fmt: skip


def card_of_entry(e: dict) -> dict:
    """What a card says of a shard's entry, worked out here on its own."""
    returns = e["episode_returns"]
    mean = None
    if returns:
        mean = 0.0
        for r in returns:  # in order, as the browser sums
            mean += r
        mean /= len(returns)
    return {**{k: e[k] for k in ("algo", "run", "tag", "poster", "width", "height",
                                  "training_step", "protocol", "score", "activations")},
            "best": max(returns, default=None), "mean": mean,
            "episodes": len(returns)}  # fmt: skip
