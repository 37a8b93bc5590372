"""Zoo sources: each layout zoo-site reads is one module here with a `SOURCE` object
(see base.Source). `read_catalog` picks the source whose layout a folder has; `read_zoos`
reads several zoos into one catalog (one site).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from zoo_site.errors import Problem, ZooNotFound
from zoo_site.games import canonical_game
from zoo_site.sources.base import NO_SETTINGS, Catalog, Entry, Source, SourceSettings

#: Source name -> its module, in detection order (the first that recognises a folder wins).
SOURCES = {
    "atari-agents": "zoo_site.sources.atari_agents",
    "dopamine": "zoo_site.sources.dopamine",
    "atari-model-zoo": "zoo_site.sources.zoo_layout",
    "episodes": "zoo_site.sources.episodes",
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


def read_catalog(zoo: Path, kind: str = "", settings: SourceSettings = NO_SETTINGS) -> Catalog:
    """Every entry of the zoo folder and every problem, by the source that fits it (or the
    one named by `kind`); game names made canonical (see zoo_site.games)."""
    zoo = Path(zoo)
    if not zoo.is_dir():
        raise ZooNotFound(
            f"{zoo}: no such zoo folder (give one with --zoo, or omit it for the demo)"
        )
    catalog = (source(kind) if kind else detect(zoo)).read(zoo, settings)
    catalog.entries = [_canonical(e) for e in catalog.entries]
    return catalog


def _canonical(entry: Entry) -> Entry:
    game = canonical_game(entry.game)
    return entry if game == entry.game else replace(entry, game=game)


@dataclass(frozen=True)
class ZooSpec:
    """One zoo of a site: its folder, its layout (empty: detected), algo renames."""

    path: Path
    kind: str = ""
    rename: dict[str, str] = field(default_factory=dict)
    settings: SourceSettings = NO_SETTINGS


def read_zoos(zoos: list[ZooSpec]) -> Catalog:
    """One catalog from several zoos. Two entries with the same (algo, game, run, tag) are
    an error naming both files (the first zoo's is kept): rename an algo to keep both."""
    merged = Catalog(zoo=zoos[0].path)
    seen: dict[str, Entry] = {}
    for spec in zoos:
        catalog = read_catalog(spec.path, spec.kind, spec.settings)
        merged.problems.extend(catalog.problems)
        for entry in catalog.entries:
            if entry.algo in spec.rename:
                entry = replace(entry, algo=spec.rename[entry.algo])
            first = seen.get(entry.id)
            if first is not None:
                merged.problems.append(_collision(first, entry, spec))
                continue
            seen[entry.id] = entry
            merged.entries.append(entry)
    return merged


def _collision(first: Entry, second: Entry, spec: ZooSpec) -> Problem:
    return Problem(
        str(second.file),
        f"names the same entry {second.id} as {first.file}; only the first is built "
        f"(rename the algo of one source: [[sources]] path = {str(spec.path)!r}, "
        f'rename = {{ {second.algo} = "{second.algo}-2" }})',
        second.id,
    )
