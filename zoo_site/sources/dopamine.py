"""Dopamine (google/dopamine): the TensorFlow checkpoints of its 2018 baselines.

Layout, as the release's download links name it
(``download-dopamine-rl/lucid/${AGENT}/${GAME}/${RUN}/tf_ckpt-199.${SUFFIX}``):
``[lucid/]<agent>/<Game>/<run>/tf_ckpt-<N>.index``, ``.data-00000-of-00001`` and ``.meta``,
for the agents ``dqn``, ``c51``, ``rainbow`` and ``iqn``; runs 1 to 5. A run folder may
instead be a Dopamine ``base_dir``: its Runner writes the agent's checkpoints to
``<base_dir>/checkpoints/`` (beside ``ckpt.<N>``, ``sentinel_checkpoint_complete.<N>`` and
the replay buffer's files, all ignored here), so ``<run>/checkpoints/tf_ckpt-<N>.*`` is read
too. algo = the agent folder; game = the folder, the ALE game's name (``Pong``,
``SpaceInvaders``); run = the run folder's number; tag = N.

N is the iteration number. Dopamine's Runner numbers iterations from 0 and, at the end of
iteration N (its training phase, then its evaluation phase), saves ``tf_ckpt-<N>``: the
release's ``tf_ckpt-199`` is the last of 200 iterations. Each training phase runs whole
episodes until at least ``Runner.training_steps`` agent steps, 250,000 in every release
config (dqn.gin, c51.gin, rainbow.gin, implicit_quantile.gin), so checkpoint N follows
(N + 1) x 250,000 agent steps of training (a few more: the last episode of each phase is
finished), i.e. 4 times as many emulator frames; ``training_step`` is (N + 1) x 250,000
(tf_ckpt-199: 50M steps, 200M frames). Evaluation steps are not training and not counted.

A checkpoint is listed when its ``.index`` exists; its ModelRef names the index and lists
the index and every data shard (what the cache hashes). A data shard without its index is
a warning. Models are played with Dopamine's protocol (`DOPAMINE`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from zoo_site.errors import Problem
from zoo_site.rollouts.protocols import DOPAMINE
from zoo_site.sources.base import (
    ENV_SUFFIX,
    NO_SETTINGS,
    Catalog,
    Entry,
    ModelRef,
    SourceSettings,
    known_game,
    subdirs,
)

#: Agent folder -> its label.
AGENTS = {
    "dqn": "DQN (Dopamine)",
    "c51": "C51 (Dopamine)",
    "rainbow": "Rainbow (Dopamine)",
    "iqn": "IQN (Dopamine)",
}
#: Runner.training_steps in every config of the release: agent steps per iteration.
TRAINING_STEPS_PER_ITERATION = 250_000
#: Where a Dopamine Runner's base_dir keeps the agent's checkpoints.
CHECKPOINT_DIR = "checkpoints"
#: The release's bucket folder above the agents, kept when a mirror copies it.
RELEASE_ROOT = "lucid"
FORMAT = "tf_checkpoint"
_INDEX = re.compile(r"tf_ckpt-(?P<n>\d+)\.index")
_DATA = re.compile(r"tf_ckpt-(?P<n>\d+)\.data-\d{5}-of-\d{5}")


class Dopamine:
    """Dopamine's checkpoints: <agent>/<Game>/<run>/tf_ckpt-<N>.index + .data-*."""

    name = "dopamine"
    label = "Dopamine"

    def detect(self, folder: Path) -> bool:
        """An agent folder (dqn, c51, rainbow, iqn) with a game folder (not the Atari
        Model Zoo's <Game>NoFrameskip-v4) holding a run with a tf_ckpt-<N>.index."""
        root = _root(folder)
        return any(
            _has_index(run)
            for agent in subdirs(root)
            if agent.name in AGENTS
            for game in subdirs(agent)
            if not game.name.endswith(ENV_SUFFIX)
            for run in subdirs(game)
        )

    def read(self, folder: Path, settings: SourceSettings = NO_SETTINGS) -> Catalog:
        """Every checkpoint with its .index (the files say everything: `settings` unused)."""
        catalog = Catalog(zoo=folder)
        root = _root(folder)
        for agent_dir in subdirs(root):
            if agent_dir.name in AGENTS:
                catalog.entries.extend(_read_agent(agent_dir, folder, catalog.problems))
            elif any(_has_index(run) for game in subdirs(agent_dir) for run in subdirs(game)):
                known = ", ".join(AGENTS)
                catalog.problems.append(Problem(
                    str(agent_dir), f"not one of Dopamine's agent folders ({known}); skipped",
                    level="warning",
                ))  # fmt: skip
        catalog.entries.sort(key=lambda e: (e.algo, e.game, e.run, e.tag_rank or 0))
        return catalog

    def is_zoo_file(self, parts: list[str]) -> bool:
        """``[lucid/]<agent>/<Game>/<run>/[checkpoints/]tf_ckpt-<N>.index`` and its data
        shards (the .meta graph is never read, so a mirror does without it)."""
        parts = parts[1:] if parts[:1] == [RELEASE_ROOT] else parts
        name = parts[-1] if len(parts) in (4, 5) else ""
        return self.is_zoo_folder(parts[:-1]) and bool(
            _INDEX.fullmatch(name) or _DATA.fullmatch(name)
        )

    def is_zoo_folder(self, parts: list[str]) -> bool:
        parts = parts[1:] if parts[:1] == [RELEASE_ROOT] else parts
        if not parts:
            return True
        return (
            len(parts) <= 4
            and parts[0] in AGENTS
            and (len(parts) < 2 or not parts[1].endswith("NoFrameskip-v4"))  # the zoo's
            and (len(parts) < 3 or parts[2].isdigit())
            and (len(parts) < 4 or parts[3] == CHECKPOINT_DIR)
        )


SOURCE = Dopamine()


def iteration_label(n: int) -> str:
    return f"iteration {n}"


def training_step(n: int) -> int:
    """Agent steps of training behind tf_ckpt-<n>, at the release's 250,000 a iteration."""
    return (n + 1) * TRAINING_STEPS_PER_ITERATION


def _root(folder: Path) -> Path:
    release = folder / RELEASE_ROOT
    return release if release.is_dir() else folder


def _checkpoint_dirs(run_dir: Path) -> list[Path]:
    """The run folder, and its checkpoints/ folder where a Runner wrote there."""
    nested = run_dir / CHECKPOINT_DIR
    return [run_dir, nested] if nested.is_dir() else [run_dir]


def _has_index(run_dir: Path) -> bool:
    return any(
        _INDEX.fullmatch(p.name) for d in _checkpoint_dirs(run_dir) for p in _files(d)
    )  # fmt: skip


def _files(folder: Path) -> Iterator[Path]:
    try:
        yield from (p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError:
        return


def _read_agent(agent_dir: Path, zoo: Path, problems: list[Problem]) -> list[Entry]:
    entries: list[Entry] = []
    for game_dir in subdirs(agent_dir):
        if not _known_game(game_dir, problems):
            continue
        for run_dir in subdirs(game_dir):
            if not (run_dir.name.isascii() and run_dir.name.isdigit()):
                problems.append(Problem(str(run_dir), "not a run folder (expected a number); "
                                        "skipped", level="warning"))  # fmt: skip
                continue
            entries.extend(_read_run(agent_dir.name, game_dir.name, run_dir, zoo, problems))
    return entries


def _known_game(game_dir: Path, problems: list[Problem]) -> bool:
    if game_dir.name.endswith(ENV_SUFFIX):
        layout = "the Atari Model Zoo's layout, not Dopamine's; skipped (give it as its own zoo)"
        problems.append(Problem(str(game_dir), layout, level="warning"))
        return False
    return known_game(game_dir, problems)


def _read_run(agent: str, game: str, run_dir: Path, zoo: Path,
              problems: list[Problem]) -> list[Entry]:  # fmt: skip
    indexes: dict[int, Path] = {}
    shards: dict[int, list[Path]] = {}
    for folder in _checkpoint_dirs(run_dir):
        found: dict[int, Path] = {}
        for path in sorted(_files(folder)):
            if not path.is_file():
                continue
            if m := _INDEX.fullmatch(path.name):
                found[int(m["n"])] = path
            elif m := _DATA.fullmatch(path.name):
                shards.setdefault(int(m["n"]), []).append(path)
            elif path.name.startswith("tf_ckpt") and path.suffix == ".index":
                problems.append(Problem(str(path), "not a tf_ckpt-<N>.index name; skipped",
                                        level="warning"))  # fmt: skip
        for n, path in found.items():
            if n in indexes:
                problems.append(Problem(
                    str(path), f"a second tf_ckpt-{n} of this run (the first: "
                    f"{indexes[n]}); skipped", level="warning",
                ))  # fmt: skip
            else:
                indexes[n] = path
    for n, data in sorted(shards.items()):
        orphans = [p for p in data if n not in indexes or p.parent != indexes[n].parent]
        for path in orphans:
            problems.append(Problem(
                str(path), f"a data shard without its index (tf_ckpt-{n}.index is not beside "
                "it); skipped: download the .index too", level="warning",
            ))  # fmt: skip
    entries = []
    for n, index in sorted(indexes.items()):
        beside = tuple(p for p in shards.get(n, ()) if p.parent == index.parent)
        entries.append(Entry(
            algo=agent, game=game, run=int(run_dir.name), tag=str(n), source=SOURCE.name,
            model=ModelRef(index, FORMAT, agent, (index, *beside)), protocol=DOPAMINE,
            algo_label=AGENTS[agent], tag_label=iteration_label(n), tag_rank=float(n),
            training_step=training_step(n), zoo=zoo,
        ))  # fmt: skip
    return entries
