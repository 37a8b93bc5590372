"""The Atari Model Zoo's layout, read into typed entries.

Layout: ``<zoo>/<algo>/<Game>NoFrameskip-v4/model<run>[_<tag>].pb`` and
``..._rollout.npz``; optional ``<zoo>/<algo>/checkpoints/<Game>NoFrameskip-v4_<run>.json``
(tags) and ``..._<run>_log.json`` (training log). Every problem is kept with its file; the
entries that are fine are returned all the same.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from zoo_site.errors import Problem, ZooNotFound
from zoo_site.names import check_name
from zoo_site.rollouts.protocols import DOPAMINE, ZOO_TF, ZOO_TF_SAMPLED, PlayProtocol
from zoo_site.sources.base import ENV_SUFFIX, NO_SETTINGS, Catalog, Entry, ModelRef, SourceSettings

#: An untagged file (model1.pb) is the run's final snapshot, as in Dopamine's release.
UNTAGGED = "final"

_GAME_DIR = re.compile(rf"(?P<game>[A-Za-z0-9]+){re.escape(ENV_SUFFIX)}")
_MEDIA_FILE = re.compile(r"model(?P<run>\d+)(?:_(?P<tag>.+?))?(?P<kind>_rollout\.npz|\.pb)")
_CKPT_FILE = re.compile(
    rf"(?P<game>[A-Za-z0-9]+){re.escape(ENV_SUFFIX)}_(?P<run>\d+)(?P<log>_log)?\.json"
)


#: The original Atari Model Zoo's checkpoint tags, in training order.
TAG_ORDER = ["initial", "1HR", "2HR", "4HR", "6HR", "10HR", "400M", "1B", "final"]
TAG_LABELS = {
    "initial": "Initial",
    "1HR": "1 hour",
    "2HR": "2 hours",
    "4HR": "4 hours",
    "6HR": "6 hours",
    "10HR": "10 hours",
    "400M": "400M frames",
    "1B": "1B frames",
    "final": "Final",
}
ALGO_LABELS = {
    "apex": "Ape-X",
    "a2c": "A2C",
    "es": "ES",
    "ga": "GA",
    "dqn": "DQN",
    "rainbow": "Rainbow",
    "impala": "IMPALA",
}


#: How each algorithm of the original zoo was trained, so its models are played the same
#: way: its atari_wrappers.py 'tf' style for the baselines-era agents (A2C sampled its
#: actions), Dopamine's own preprocessing for Dopamine's DQN and Rainbow.
PROTOCOLS: dict[str, PlayProtocol] = {
    "apex": ZOO_TF,
    "es": ZOO_TF,
    "ga": ZOO_TF,
    "a2c": ZOO_TF_SAMPLED,
    "dqn": DOPAMINE,
    "rainbow": DOPAMINE,
}
#: Algorithms the original zoo did not have are played in its default ('tf') style.
DEFAULT_PROTOCOL = ZOO_TF


class ZooLayout:
    """<zoo>/<algo>/<Game>NoFrameskip-v4/model<run>[_<tag>].pb / _rollout.npz"""

    name = "atari-model-zoo"
    label = "Atari Model Zoo"

    def detect(self, folder: Path) -> bool:
        return any(p.is_dir() and _GAME_DIR.fullmatch(p.name) for p in _subdirs_of_subdirs(folder))

    def read(self, folder: Path, settings: SourceSettings = NO_SETTINGS) -> Catalog:
        return read_catalog(folder)

    def is_zoo_file(self, parts: list[str]) -> bool:
        """``<algo>/<Game>NoFrameskip-v4/model…`` (``.pb`` or ``.npz``, misnamed ones
        included: the catalog reports them) and
        ``<algo>/checkpoints/<Game>NoFrameskip-v4_<run>[_log].json``."""
        if len(parts) != 3:
            return False
        _algo, folder, name = parts
        if folder == "checkpoints":
            return _CKPT_FILE.fullmatch(name) is not None
        if not _GAME_DIR.fullmatch(folder) or not name.startswith("model"):
            return False
        return _MEDIA_FILE.fullmatch(name) is not None or name.endswith((".pb", ".npz"))

    def is_zoo_folder(self, parts: list[str]) -> bool:
        if len(parts) == 1:
            return True
        return len(parts) == 2 and (
            parts[1] == "checkpoints" or bool(_GAME_DIR.fullmatch(parts[1]))
        )


def _subdirs_of_subdirs(folder: Path) -> list[Path]:
    try:
        return [g for a in _subdirs(folder) for g in _subdirs(a)]
    except OSError:
        return []


SOURCE = ZooLayout()


@dataclass
class _Files:
    model: Path | None = None
    rollout: Path | None = None


def read_catalog(zoo: Path) -> Catalog:
    """Scan `zoo` and return every valid entry plus every problem found."""
    zoo = Path(zoo)
    if not zoo.is_dir():
        raise ZooNotFound(
            f"{zoo}: no such zoo folder (give one with --zoo, or omit it for the demo)"
        )
    catalog = Catalog(zoo=zoo)
    for algo_dir in _subdirs(zoo):
        why = check_name(algo_dir.name)
        if why:
            catalog.problems.append(Problem(str(algo_dir), f"algorithm folder name {why}; skipped"))
            continue
        catalog.entries.extend(_read_algo(algo_dir, catalog.problems))
    if not catalog.entries and not catalog.problems:
        raise ZooNotFound(
            f"{zoo}: no entries found; expected <algo>/<Game>{ENV_SUFFIX}/model<run>_<tag>.pb "
            "or ..._rollout.npz (see docs/zoo-layout.md)"
        )
    catalog.entries.sort(key=lambda e: (e.algo, e.game, e.run, e.tag))
    return catalog


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_algo(algo_dir: Path, problems: list[Problem]) -> list[Entry]:
    ckpts = _read_checkpoints(algo_dir / "checkpoints", problems)
    entries: list[Entry] = []
    for game_dir in _subdirs(algo_dir):
        if game_dir.name == "checkpoints":
            continue
        m = _GAME_DIR.fullmatch(game_dir.name)
        if not m:
            msg = f"not a game folder (expected <Game>{ENV_SUFFIX}); skipped"
            problems.append(Problem(str(game_dir), msg, level="warning"))
            continue
        game = m["game"]
        for (run, tag), files in sorted(_read_game(game_dir, problems).items()):
            algo = algo_dir.name
            model = ModelRef(files.model, "frozen_graph", algo) if files.model else None
            entries.append(
                Entry(
                    algo=algo, game=game, run=run, tag=tag, source=SOURCE.name, model=model,
                    rollout=files.rollout, protocol=PROTOCOLS.get(algo, DEFAULT_PROTOCOL),
                    algo_label=ALGO_LABELS.get(algo, ""), tag_label=TAG_LABELS.get(tag, ""),
                    tag_rank=float(TAG_ORDER.index(tag)) if tag in TAG_ORDER else None,
                    checkpoints=ckpts.get((game, run, False)), log=ckpts.get((game, run, True)),
                    zoo=algo_dir.parent,
                )
            )  # fmt: skip
    return entries


def _read_game(game_dir: Path, problems: list[Problem]) -> dict[tuple[int, str], _Files]:
    found: dict[tuple[int, str], _Files] = {}
    # Explicitly tagged files first: model1_final.pb wins over model1.pb for the same entry.
    for path, run, tag, kind in sorted(_media_files(game_dir, problems), key=_untagged_last):
        files = found.setdefault((run, tag), _Files())
        kept = getattr(files, kind)
        if kept is not None:
            problems.append(
                Problem(str(path), f"names the same entry as {kept.name}; ignored", level="warning")
            )
            continue
        setattr(files, kind, path)
    return found


def _untagged_last(f: tuple[Path, int, str, str]) -> bool:
    return f[0].name in (f"model{f[1]}.pb", f"model{f[1]}_rollout.npz")


def _media_files(game_dir: Path, problems: list[Problem]) -> list[tuple[Path, int, str, str]]:
    out = []
    for path in sorted(game_dir.iterdir()):
        if path.name.startswith(".") or not path.name.startswith("model"):
            continue
        m = _MEDIA_FILE.fullmatch(path.name)
        if not m:
            if path.suffix in (".pb", ".npz"):
                msg = "not a model<run>[_<tag>].pb or model<run>[_<tag>]_rollout.npz name; skipped"
                problems.append(Problem(str(path), msg))
            continue
        tag = m["tag"] or UNTAGGED
        why = check_name(tag)
        if why:
            problems.append(Problem(str(path), f"tag {why}; skipped"))
            continue
        out.append((path, int(m["run"]), tag, "model" if m["kind"] == ".pb" else "rollout"))
    return out


def _read_checkpoints(folder: Path, problems: list[Problem]) -> dict[tuple[str, int, bool], Path]:
    out: dict[tuple[str, int, bool], Path] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        m = _CKPT_FILE.fullmatch(path.name)
        if not m:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(
                Problem(str(path), f"unreadable JSON ({exc}); ignored", level="warning")
            )
            continue
        if not isinstance(data, list):
            problems.append(Problem(str(path), "expected a JSON list; ignored", level="warning"))
            continue
        out[(m["game"], int(m["run"]), bool(m["log"]))] = path
    return out
