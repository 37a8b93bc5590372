"""Zoo sources: each layout zoo-site reads is one module here with a `SOURCE` object
(see base.Source). `read_catalog` picks the source whose layout the folder has.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from zoo_site.errors import ZooNotFound
from zoo_site.sources.base import Catalog, Source

#: Source name -> its module, in detection order (the first that recognises a folder wins).
SOURCES = {
    "atari-agents": "zoo_site.sources.atari_agents",
    "atari-model-zoo": "zoo_site.sources.zoo_layout",
}


def source(name: str) -> Source:
    src: Source = importlib.import_module(SOURCES[name]).SOURCE
    return src


def detect(zoo: Path) -> Source:
    """The source whose layout `zoo` has (the Atari Model Zoo's when none says so)."""
    for name in SOURCES:
        candidate = source(name)
        if candidate.detect(zoo):
            return candidate
    return source("atari-model-zoo")


def read_catalog(zoo: Path) -> Catalog:
    """Every entry of the zoo folder and every problem, by the source that fits it."""
    zoo = Path(zoo)
    if not zoo.is_dir():
        raise ZooNotFound(
            f"{zoo}: no such zoo folder (give one with --zoo, or omit it for the demo)"
        )
    return detect(zoo).read(zoo)
