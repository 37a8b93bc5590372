"""atari-agents (floringogianu/atari-agents): PyTorch checkpoints of DQN, M-DQN and C51.

Layout: ``[models/]<ALGO>_<protocol>[_<variant>]/<Game>/<seed>/model_<step>.gz``, e.g.
``DQN_modern/Pong/0/model_50000000.gz`` or ``C51_classic/Breakout/1/...``; 51 checkpoints
per training run. The folder name gives the algorithm and the protocol (as the release's
play.py reads it: ``_modern`` in the path is the modern protocol, anything else classic;
``C51_`` a distributional head); the game folder is the ALE game's name; run = the seed;
tag = the training step of the checkpoint, in agent steps (one agent step is 4 emulator
frames: 50,000,000 steps = 200M frames), ordered by step.
"""

from __future__ import annotations

import re
from pathlib import Path

from zoo_site.errors import Problem
from zoo_site.names import check_name
from zoo_site.rollouts.protocols import ATARI_AGENTS_CLASSIC, ATARI_AGENTS_MODERN, PlayProtocol
from zoo_site.sources.base import (
    NO_SETTINGS,
    Catalog,
    Entry,
    ModelRef,
    SourceSettings,
    known_game,
    subdirs,
)

_ALGO_DIR = re.compile(
    r"(?P<algo>[A-Za-z0-9-]+?)_(?P<protocol>modern|classic)(?:_(?P<variant>[A-Za-z0-9_-]+))?"
)
_CHECKPOINT = re.compile(r"model_(?P<step>\d+)\.gz")
_ALGO_NAMES = {"DQN": "DQN", "MDQN": "M-DQN", "M-DQN": "M-DQN", "C51": "C51"}


class AtariAgents:
    """The atari-agents release, as downloaded (with or without its `models/` folder)."""

    name = "atari-agents"
    label = "atari-agents"

    def detect(self, folder: Path) -> bool:
        return bool(_algo_dirs(_root(folder)))

    def is_zoo_file(self, parts: list[str]) -> bool:
        """``[models/]<ALGO>_<protocol>/<Game>/<seed>/<name>.gz``."""
        parts = parts[1:] if parts[:1] == ["models"] else parts
        return len(parts) == 4 and self.is_zoo_folder(parts[:3]) and parts[3].endswith(".gz")

    def is_zoo_folder(self, parts: list[str]) -> bool:
        parts = parts[1:] if parts[:1] == ["models"] else parts
        return len(parts) <= 3 and (not parts or bool(_ALGO_DIR.fullmatch(parts[0])))

    def read(self, folder: Path, settings: SourceSettings = NO_SETTINGS) -> Catalog:
        catalog = Catalog(zoo=folder)
        root = _root(folder)
        for algo_dir in _algo_dirs(root):
            catalog.entries.extend(_read_algo(algo_dir, folder, catalog.problems))
        catalog.entries.sort(key=lambda e: (e.algo, e.game, e.run, e.tag_rank or 0))
        return catalog


SOURCE = AtariAgents()


def _root(folder: Path) -> Path:
    models = folder / "models"
    return models if models.is_dir() else folder


def _algo_dirs(root: Path) -> list[Path]:
    """Folders named like DQN_modern that hold game folders."""
    return [d for d in subdirs(root) if _ALGO_DIR.fullmatch(d.name) and subdirs(d)]


def family(algo_dir_name: str) -> str:
    """ "C51", "MDQN" or "DQN": what the network's head is."""
    m = _ALGO_DIR.fullmatch(algo_dir_name)
    base = (m["algo"] if m else algo_dir_name).upper()
    return "C51" if base == "C51" else ("MDQN" if base in ("MDQN", "M-DQN") else "DQN")


def protocol_of(algo_dir_name: str) -> PlayProtocol:
    """play.py's rule: `_modern/` in the path is the modern protocol, else classic."""
    return ATARI_AGENTS_MODERN if "_modern" in algo_dir_name else ATARI_AGENTS_CLASSIC


def algo_label(algo_dir_name: str) -> str:
    """'DQN_modern' -> 'DQN (modern)'; 'DQN_classic_adam' -> 'DQN adam (classic)'."""
    m = _ALGO_DIR.fullmatch(algo_dir_name)
    if not m:
        return algo_dir_name
    name = _ALGO_NAMES.get(m["algo"].upper(), m["algo"])
    variant = f" {m['variant'].replace('_', ' ')}" if m["variant"] else ""
    return f"{name}{variant} ({m['protocol']})"


def step_label(step: int) -> str:
    """50000000 -> '50M steps'; 250000 -> '250k steps' (agent steps, 4 frames each)."""
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if step >= size:
            return f"{step / size:g}{unit} steps"
    return f"{step} steps"


def _read_algo(algo_dir: Path, zoo: Path, problems: list[Problem]) -> list[Entry]:
    entries: list[Entry] = []
    why = check_name(algo_dir.name)
    if why:
        problems.append(Problem(str(algo_dir), f"algorithm folder name {why}; skipped"))
        return entries
    for game_dir in subdirs(algo_dir):
        if not known_game(game_dir, problems):
            continue
        for seed_dir in subdirs(game_dir):
            if not seed_dir.name.isdigit():
                problems.append(Problem(str(seed_dir), "not a seed folder (expected a number); "
                                        "skipped", level="warning"))  # fmt: skip
                continue
            entries.extend(_read_run(algo_dir.name, game_dir.name, seed_dir, zoo, problems))
    return entries


def _read_run(algo: str, game: str, seed_dir: Path, zoo: Path,
              problems: list[Problem]) -> list[Entry]:  # fmt: skip
    entries = []
    for path in sorted(seed_dir.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        m = _CHECKPOINT.fullmatch(path.name)
        if not m:
            if path.suffix == ".gz":
                problems.append(Problem(str(path), "not a model_<step>.gz name; skipped",
                                        level="warning"))  # fmt: skip
            continue
        step = int(m["step"])
        entries.append(Entry(
            algo=algo, game=game, run=int(seed_dir.name), tag=str(step), source=SOURCE.name,
            model=ModelRef(path, "torch_state", family(algo)), protocol=protocol_of(algo),
            algo_label=algo_label(algo), tag_label=step_label(step), tag_rank=float(step),
            training_step=step, zoo=zoo,
        ))  # fmt: skip
    return entries
