"""What every zoo source gives the rest of zoo-site: typed entries, found in a folder.

A source is one module in this package with a `SOURCE` object following `Source`: it
says whether a folder is in its layout, and reads the folder into a `Catalog` of `Entry`
records and `Problem`s (each naming its file). Nothing after the catalog knows which
source an entry came from, except through the entry's fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from zoo_site.errors import Problem
from zoo_site.rollouts.protocols import PlayProtocol

ENV_SUFFIX = "NoFrameskip-v4"


@dataclass(frozen=True)
class ModelRef:
    """A model file and how to load it (a key of zoo_site.networks.LOADERS)."""

    path: Path
    format: str
    """"frozen_graph", "torch_state", ..."""
    family: str = ""
    """A hint for the loader: the convention or architecture ("apex", "dqn", "c51")."""
    files: tuple[Path, ...] = ()
    """Every file the model is made of, when more than `path` (hashed for the cache)."""

    @property
    def all_files(self) -> tuple[Path, ...]:
        return self.files or (self.path,)


@dataclass(frozen=True)
class SourceSettings:
    """What a zoo's files cannot say about themselves, from zoo-site.toml ([episodes], or a
    [[sources]] table): episode recordings do not name their game or agent."""

    algo: str = ""
    game: str = ""
    label: str = ""
    tag: str = ""


NO_SETTINGS = SourceSettings()


@dataclass(frozen=True)
class Entry:
    """One agent snapshot, keyed by (algo, game, run, tag)."""

    algo: str
    game: str
    run: int
    tag: str
    source: str = "atari-model-zoo"
    """The source's name (a key of zoo_site.sources.SOURCES)."""
    model: ModelRef | None = None
    rollout: Path | None = None
    rollout_format: str = "zoo"
    """"zoo": the Atari Model Zoo's rollout npz; "episode": an episode file (obs, action)."""
    protocol: PlayProtocol | None = None
    """How to play the model where there is no rollout (the source's own protocol)."""
    algo_label: str = ""
    """The source's display name for the algo ("DQN (modern)"); config labels win."""
    tag_label: str = ""
    """The source's display name for the tag ("50M steps"); config labels win."""
    tag_rank: float | None = None
    """Where the tag sits in training order (e.g. its training step); None: by name."""
    training_step: int | None = None
    """Agent steps of training behind this checkpoint, where known."""
    checkpoints: Path | None = None
    log: Path | None = None
    zoo: Path | None = None
    """The zoo folder, so files can be named relative to it."""

    @property
    def id(self) -> str:
        return f"{self.algo}/{self.game}/{self.run}/{self.tag}"

    @property
    def env(self) -> str:
        return self.game + ENV_SUFFIX

    @property
    def file(self) -> Path | None:
        """The file that names this entry in messages."""
        return self.rollout or (self.model.path if self.model else None)

    def relative(self, path: Path | None) -> str | None:
        """`path` relative to the zoo (its name if outside), for manifests and reports."""
        if path is None:
            return None
        if self.zoo is not None:
            try:
                return Path(path).resolve().relative_to(Path(self.zoo).resolve()).as_posix()
            except ValueError:
                pass
        return Path(path).name


@dataclass
class Catalog:
    zoo: Path
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


class Source(Protocol):
    """A zoo layout: how to recognise it and read it."""

    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str:
        """For people: "Atari Model Zoo", "atari-agents"."""
        ...

    def detect(self, folder: Path) -> bool:
        """Whether `folder` looks like this source's layout (cheap: a few stat calls)."""
        ...

    def read(self, folder: Path, settings: SourceSettings = NO_SETTINGS) -> Catalog:
        """Every valid entry and every problem, each naming its file; `settings` says what
        the files cannot (most sources need nothing)."""
        ...

    def is_zoo_file(self, parts: list[str]) -> bool:
        """Whether the file at these path components (inside the zoo) is one this source
        reads: what `zoo-site index` lists and a remote zoo's mirror downloads."""
        ...

    def is_zoo_folder(self, parts: list[str]) -> bool:
        """Whether the folder at these components may hold such files (walks stop elsewhere)."""
        ...


def subdirs(folder: Path) -> list[Path]:
    """The folder's visible subfolders, sorted (none if it cannot be listed)."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return []


def known_game(game_dir: Path, problems: list[Problem]) -> bool:
    """Whether a game folder names a game ale-py ships; if not, a problem naming it."""
    from zoo_site.names import check_name

    why = check_name(game_dir.name)
    if why:
        problems.append(Problem(str(game_dir), f"game folder name {why}; skipped"))
        return False
    from zoo_site.rollouts.ale import rom_path

    try:
        rom_path(game_dir.name)
    except ValueError as exc:
        hint = "the folder must be the ALE game's name, e.g. SpaceInvaders"
        problems.append(Problem(str(game_dir), f"{exc}; its checkpoints were skipped ({hint})"))
        return False
    return True
