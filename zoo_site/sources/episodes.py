"""Episode files without a model: World-Models-style recordings, and the Atari Model Zoo's
rollout npz files on their own.

Layout: a folder of ``*.npz`` (or its ``record/`` subfolder), each file one run:
``obs`` (N, 64, 64) or (N, 64, 64, 3) uint8 and ``action`` (N,) or (N, A) — as written by
the World Models Atari fork's extract.py — or a zoo rollout (``frames``, ``observations``,
...). The files do not say which game or agent made them, so ``[episodes]`` in the
zoo-site.toml beside them does (``algo``, ``game``, ``label``, ``tag``), or a
``[[sources]]`` table of the site's config. run = the file's number when every file is
named by a number (``record/17.npz`` is run 17), else its place in name order (from 1).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from zoo_site.errors import Problem
from zoo_site.games import canonical_game
from zoo_site.names import check_name
from zoo_site.rollouts.episodes import is_episode_file
from zoo_site.sources.base import NO_SETTINGS, Catalog, Entry, SourceSettings

DEFAULT_TAG = "recorded"


class Episodes:
    name = "episodes"
    label = "episode files"

    def detect(self, folder: Path) -> bool:
        return any(_episode_files(_root(folder)))

    def read(self, folder: Path, settings: SourceSettings = NO_SETTINGS) -> Catalog:
        catalog = Catalog(zoo=folder)
        root = _root(folder)
        files = _episode_files(root)
        settings = settings if settings.algo and settings.game else _own_settings(folder)
        why = _settings_problem(settings)
        if why:
            catalog.problems.append(Problem(str(root), why))
            return catalog
        runs = _runs(files)
        for path in files:
            entry = _entry(path, runs[path], settings, folder, catalog.problems)
            if entry is not None:
                catalog.entries.append(entry)
        return catalog

    def is_zoo_file(self, parts: list[str]) -> bool:
        parts = parts[1:] if parts[:1] == ["record"] else parts
        return len(parts) == 1 and parts[0].endswith(".npz")

    def is_zoo_folder(self, parts: list[str]) -> bool:
        return parts == ["record"]


SOURCE = Episodes()


def _root(folder: Path) -> Path:
    record = folder / "record"
    return record if record.is_dir() else folder


def _episode_files(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.glob("*.npz") if p.is_file() and not p.name.startswith("."))
    except OSError:
        return []


def _own_settings(folder: Path) -> SourceSettings:
    """[episodes] of the zoo-site.toml beside the files (or one folder up from record/)."""
    from zoo_site.config import load_config

    for candidate in (folder / "zoo-site.toml", folder.parent / "zoo-site.toml"):
        if candidate.is_file():
            ep = load_config(candidate).episodes
            return SourceSettings(ep.algo, ep.game, ep.label, ep.tag)
    return NO_SETTINGS


def _settings_problem(settings: SourceSettings) -> str | None:
    if not settings.algo or not settings.game:
        return ("episode files do not say which game or agent made them: set algo and game "
                "under [episodes] in the zoo-site.toml beside them (or in a [[sources]] "
                "table); see docs/sources.md")  # fmt: skip
    names = (("algo", settings.algo), ("game", canonical_game(settings.game)),
             ("tag", settings.tag or DEFAULT_TAG))  # fmt: skip
    for what, value in names:
        why = check_name(value)
        if why:
            return f"[episodes] {what} {why}"
    return None


def _runs(files: list[Path]) -> dict[Path, int]:
    if files and all(p.stem.isdigit() for p in files):
        return {p: int(p.stem) for p in files}
    return {p: i + 1 for i, p in enumerate(files)}


def _entry(path: Path, run: int, settings: SourceSettings, zoo: Path,
           problems: list[Problem]) -> Entry | None:  # fmt: skip
    kind = _kind(path)
    if kind is None:
        problems.append(Problem(str(path), "neither an episode file (obs, action) nor a zoo "
                                "rollout (frames, observations); skipped"))  # fmt: skip
        return None
    return Entry(
        algo=settings.algo, game=canonical_game(settings.game), run=run,
        tag=settings.tag or DEFAULT_TAG, source=SOURCE.name, rollout=path, rollout_format=kind,
        algo_label=settings.label, zoo=zoo,
    )  # fmt: skip


def _kind(path: Path) -> str | None:
    """ "episode", "zoo" (a rollout npz), or None; a damaged file is left to the build,
    which names it (so it is counted as a failed entry, not silently dropped)."""
    if is_episode_file(path):
        return "episode"
    try:
        with zipfile.ZipFile(path) as archive:
            names = {n.removesuffix(".npy") for n in archive.namelist()}
    except (OSError, zipfile.BadZipFile):
        return "episode"
    return "zoo" if "frames" in names else None
