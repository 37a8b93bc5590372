"""Reading a built site's manifests in the tests: the root index and every game's shard,
each checked against its schema (docs/manifest.schema.json, docs/game.schema.json)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from zoo_site.site.manifest import read_manifest

DOCS = Path(__file__).resolve().parents[1] / "docs"
ROOT_SCHEMA = json.loads((DOCS / "manifest.schema.json").read_text())
GAME_SCHEMA = json.loads((DOCS / "game.schema.json").read_text())


def validate_site(site: Path) -> dict:
    """Validate `site`'s manifest.json and each shard; return the full manifest (the root
    with every game's entries, as `read_manifest` puts it together)."""
    root = json.loads((Path(site) / "manifest.json").read_text())
    jsonschema.validate(root, ROOT_SCHEMA)
    for game in root["games"]:
        shard = json.loads((Path(site) / game["shard"]).read_text())
        jsonschema.validate(shard, GAME_SCHEMA)
        assert shard["game"] == game["id"] and len(shard["entries"]) == game["entries"]
    return read_manifest(site)
