"""The embedded default: a small, honest demo zoo made by really playing Atari games.

Agents are untrained Nature-CNN networks (random weights), frozen to TensorFlow graphs in
two conventions of the original zoo (Ape-X, NCHW; Dopamine DQN, NHWC), stored in the
zoo's own layout and played in the real emulator to make their rollouts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

from zoo_site.build.executor import make_executor
from zoo_site.config import RolloutConfig
from zoo_site.fsutil import write_bytes, write_json, write_text

MARKER = ".zoo-site-demo.json"


@dataclass(frozen=True)
class DemoSpec:
    games: tuple[str, ...] = ("Seaquest", "Breakout", "Pong")
    algos: tuple[str, ...] = ("apex", "dqn")
    runs: tuple[int, ...] = (1, 2)
    tags: tuple[str, ...] = ("initial", "final")
    steps: int = 500
    epsilon: float = 0.1
    version: int = 2  # bump when the demo's making changes

    @property
    def size(self) -> int:
        """How many entries (and so rollouts to play) the demo zoo has."""
        return len(self.games) * len(self.algos) * len(self.runs) * len(self.tags)

    def seed(self, algo: str, game: str, run: int, tag: str) -> int:
        text = f"{algo}/{game}/{run}/{tag}".encode()
        return int.from_bytes(hashlib.blake2b(text, digest_size=4).digest(), "little")


NOTICE = (
    "This is zoo-site's demo zoo. Its agents are untrained: Nature-CNN networks with random "
    "weights, frozen to TensorFlow graphs in the Ape-X (NCHW) and Dopamine DQN (NHWC) "
    "conventions of the Atari Model Zoo, then played in the real Atari emulator with the "
    "preprocessing of each convention's training (the zoo's 'tf' style for Ape-X; Dopamine's, "
    "with sticky actions 0.25, for DQN). Each step takes the network's highest-valued action, "
    "or a random one {eps:.0%} of the time. The "
    "tags 'initial' and 'final' are two different random initialisations, not training "
    "checkpoints. Scores show no skill."
)


def demo_config(spec: DemoSpec) -> str:
    """The demo zoo's zoo-site.toml: it shows off the config file and states the truth."""
    notice = NOTICE.format(eps=spec.epsilon)
    return f"""# Written by `zoo-site demo`.
title = "zoo-site demo zoo"
description = "Real Atari games, played by untrained networks, to show what zoo-site builds."
notice = {json.dumps(notice)}

[algos.apex]
label = "Ape-X convention (untrained)"

[algos.dqn]
label = "Dopamine DQN convention (untrained)"

[tags.labels]
initial = "Random init A"
final = "Random init B"
"""


def make_demo_zoo(
    path: Path,
    spec: DemoSpec = DemoSpec(),
    jobs: int | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> Path:
    """Make the demo zoo at `path` once; a complete one with the same spec is reused."""
    path = Path(path)
    marker = path / MARKER
    if marker.exists() and json.loads(marker.read_text()) == _as_json(spec):
        return path
    staging = path.with_name(f".{path.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    models = _write_models(staging, spec)
    _play_all(staging, spec, models, jobs, on_progress)
    write_text(staging / "zoo-site.toml", demo_config(spec))
    write_json(staging / MARKER, asdict(spec))
    if path.exists():
        shutil.rmtree(path)
    staging.rename(path)
    return path


def _as_json(spec: DemoSpec) -> dict:
    return json.loads(json.dumps(asdict(spec)))


def _write_models(zoo: Path, spec: DemoSpec) -> list[tuple[Path, str, str, RolloutConfig]]:
    from zoo_site.networks.netbuild import BUILDERS
    from zoo_site.rollouts.ale import AtariEnv
    from zoo_site.rollouts.protocols import ZOO_TF

    jobs = []
    for game in spec.games:
        n_actions = len(AtariEnv(game, 0, ZOO_TF).actions)
        for algo in spec.algos:
            for run in spec.runs:
                for tag in spec.tags:
                    seed = spec.seed(algo, game, run, tag)
                    model = zoo / algo / f"{game}NoFrameskip-v4" / f"model{run}_{tag}.pb"
                    write_bytes(model, BUILDERS[algo](n_actions, seed).SerializeToString())
                    cfg = RolloutConfig(steps=spec.steps, seed=seed, epsilon=spec.epsilon)
                    jobs.append((model, algo, game, cfg))
    return jobs


def _play_one(model: Path, algo: str, game: str, cfg: RolloutConfig) -> Path:
    """Play one demo model as the zoo layout says its algorithm is played."""
    from zoo_site.networks import load_network
    from zoo_site.rollouts import npz
    from zoo_site.rollouts.play import play
    from zoo_site.sources.base import ModelRef
    from zoo_site.sources.zoo_layout import PROTOCOLS

    network = load_network(ModelRef(model, "frozen_graph", algo))
    protocol = PROTOCOLS[algo].with_overrides(epsilon=cfg.epsilon)
    out = model.with_name(model.stem + "_rollout.npz")
    npz.save(out, play(network, game, protocol, cfg.steps, cfg.seed))
    return out


def _play_all(zoo, spec, models, jobs, on_progress) -> None:
    with make_executor(jobs, len(models)) as pool:
        futures = [pool.submit(_play_one, *m) for m in models]
        for future in as_completed(futures):
            out = future.result()
            if on_progress:
                on_progress(str(out.relative_to(zoo)))
