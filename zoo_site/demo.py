"""The embedded default: a small, honest demo zoo made by really playing Atari games.

Agents are Nature-CNN networks frozen to TensorFlow graphs in two conventions of the
original zoo (Ape-X, NCHW; Dopamine DQN, NHWC), stored in the zoo's own layout and played
in the real emulator to make their rollouts. The `initial` agents are untrained (random
weights). The `final` agents of Pong and Breakout are trained when the demo is made, by
imitating a scripted player that reads the ball and paddle from RAM (`zoo_site.demo_agents`);
the other games' `final` agents are untrained too. Their weights are kept in the zoo
(`.demo-training/`), keyed by the training's spec, so a demo made again with other
rollout settings does not train again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from zoo_site.build.executor import InlineExecutor, make_executor
from zoo_site.config import RolloutConfig
from zoo_site.demo_agents import TrainedAgent, TrainingSpec, TrainingTask, train_agent
from zoo_site.fsutil import write_bytes, write_json, write_text

MARKER = ".zoo-site-demo.json"
TRAINING_DIR = ".demo-training"
"""In the demo zoo: <key>.npz (a trained network's weights) and <key>.json (its report)."""


@dataclass(frozen=True)
class DemoSpec:
    games: tuple[str, ...] = ("Seaquest", "Breakout", "Pong")
    algos: tuple[str, ...] = ("apex", "dqn")
    runs: tuple[int, ...] = (1, 2)
    tags: tuple[str, ...] = ("initial", "final")
    steps: int = 500
    epsilon: float = 0.1
    training: TrainingSpec = field(default_factory=TrainingSpec)
    version: int = 8  # bump when the demo's making changes

    @property
    def size(self) -> int:
        """How many entries (and so rollouts to play) the demo zoo has."""
        return len(self.games) * len(self.algos) * len(self.runs) * len(self.tags)

    def seed(self, algo: str, game: str, run: int, tag: str) -> int:
        text = f"{algo}/{game}/{run}/{tag}".encode()
        return int.from_bytes(hashlib.blake2b(text, digest_size=4).digest(), "little")

    def trained(self, game: str, algo: str, tag: str) -> bool:
        """Whether this entry's network is trained (the rest have random weights)."""
        from zoo_site.networks.netbuild import WEIGHTED_BUILDERS

        return tag == TRAINED_TAG and game in self.training.games and algo in WEIGHTED_BUILDERS


TRAINED_TAG = "final"
"""The tag whose agents are trained; `initial` (and every other tag) stays untrained."""
ROBUSTNESS_EPISODES, ROBUSTNESS_STEPS = 3, 200
STATES_PER_ENTRY = 100
"""The demo's noise evaluation of its trained agents: 3 episodes of at most 200 steps per
noise level (five levels: 3,000 steps per network)."""
SALIENCY_EVERY = 5
"""The demo's saliency maps: every 5th step of its trained agents (0.08 s a step on 2
cores: about a minute of the first build)."""


def demo_config(spec: DemoSpec, reports: list[dict] | None = None) -> str:
    """The demo zoo's zoo-site.toml: it shows off the config file and states the truth."""
    notice = _notice(spec, reports or [])
    trained = sorted({r["game"] for r in reports or []})
    untrained = [g for g in spec.games if g not in trained]
    final = "Final: untrained (random weights)"
    if trained:
        final = f"Final: imitation-trained in {', '.join(trained)}"
        final += f"; untrained in {', '.join(untrained)}" if untrained else ""
    only = [f"*/{game}/*/{TRAINED_TAG}" for game in trained]
    method = "perturbation" if only else "off"
    description = (
        "Real Atari games, played by untrained and imitation-trained networks, to show what "
        "zoo-site builds."
    )
    return f"""# Written by `zoo-site demo`.
title = "zoo-site demo zoo"
description = {json.dumps(description)}
notice = {json.dumps(notice)}

[algos.apex]
label = "Ape-X convention (demo)"

[algos.dqn]
label = "Dopamine DQN convention (demo)"

[tags.labels]
initial = "Initial: untrained (random weights)"
final = {json.dumps(final)}

# Saliency maps (Greydanus et al. 2017) of the trained agents only: an untrained
# network's maps are noise.
[saliency]
method = "{method}"
every = {SALIENCY_EVERY}
only = {json.dumps(only)}

# Robustness to observation noise of the trained agents (levels: the default sigmas).
[robustness]
levels = {json.dumps([0.0, 0.05, 0.1, 0.2, 0.3] if only else [])}
episodes = {ROBUSTNESS_EPISODES}
max_steps = {ROBUSTNESS_STEPS}
only = {json.dumps(only)}

# The map of states: every agent's steps (up to {STATES_PER_ENTRY} each), by the dense layer
# and by RAM.
[states]
per_entry = {STATES_PER_ENTRY}
"""


def _notice(spec: DemoSpec, reports: list[dict]) -> str:
    head = (
        "This is zoo-site's demo zoo: real Atari games played by Nature-CNN networks frozen "
        "to TensorFlow graphs in the Ape-X (NCHW) and Dopamine DQN (NHWC) conventions of the "
        "Atari Model Zoo, each played with its convention's preprocessing (the zoo's 'tf' "
        "style for Ape-X; Dopamine's, with sticky actions 0.25, for DQN). Each step takes "
        f"the network's highest-valued action, or a random one {spec.epsilon:.0%} of the "
        "time. The 'initial' agents are untrained: random weights, so their scores show no "
        "skill."
    )
    if not reports:
        return head + " The 'final' agents are untrained too: another random initialisation."
    games = sorted({r["game"] for r in reports})
    untrained = [g for g in spec.games if g not in games]
    frames = "/".join(f"{n:,}" for n in sorted({r["frames"] for r in reports}))
    own = "/".join(f"{n:,}" for n in sorted({r.get("relabelled", 0) for r in reports}))
    t = spec.training
    dagger = ""
    epochs = "/".join(map(str, sorted({r.get("epochs", t.epochs) for r in reports})))
    rounds = sorted({r.get("rounds", t.rounds) for r in reports})
    if any(rounds):
        dagger = (
            f", then on {own} frames of its own play (ε = {t.own_explore:g}), labelled by the "
            f"scripted player ({'/'.join(map(str, rounds))} DAgger "
            f"round{'s' * (rounds != [1])}, "
            f"{t.refine_epochs} epoch{'s' * (t.refine_epochs != 1)} over all frames each)"
        )
    runs = "both runs" if len(spec.runs) == 2 else "every run"
    trained = (
        f" In {' and '.join(games)}, the 'final' agents were trained on the machine that made "
        "this demo, by imitating a scripted player that reads the ball's and the paddle's "
        "positions from the game's RAM (behaviour cloning: supervised learning of the "
        "scripted player's actions; not reinforcement learning, no reward was used). Each "
        f"game and convention has one trained network, shared by {runs}: starting from run "
        f"{spec.runs[0]}'s initial network, it trained for "
        f"{_span([r['train_seconds'] for r in reports], ' s')} on {frames} "
        "frames that the scripted player had played under the convention's own protocol "
        f"({epochs} epoch{'s' * (epochs != '1')}, minibatches of {t.batch}){dagger}; "
        "collecting and playing took "
        f"{_span([r['collect_seconds'] + r.get('relabel_seconds', 0) for r in reports], ' s')}"
        " more. On frames of other "
        "episodes it chooses the scripted player's action "
        f"{_span([r['agreement'] for r in reports], '', pct=True)} of the time (always "
        "choosing the most common action would agree "
        f"{_span([r['chance'] for r in reports], '', pct=True)} of the time)."
    )
    rest = ""
    if untrained:
        rest = (
            f" {', '.join(untrained)} has no scripted player: its 'final' agents are untrained too."
        )
    return head + trained + rest


def _span(values: list[float], unit: str, pct: bool = False) -> str:
    low, high = min(values), max(values)
    show = (lambda v: f"{v:.0%}") if pct else (lambda v: f"{v:.0f}")
    if show(low) == show(high):
        return f"{show(low)}{unit}"
    return f"{show(low)}–{show(high)}{unit}"


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
    reports = _make_agents(staging, spec, jobs, on_progress, reuse=path / TRAINING_DIR)
    write_text(staging / "zoo-site.toml", demo_config(spec, reports))
    write_json(staging / MARKER, asdict(spec))
    if path.exists():
        shutil.rmtree(path)
    staging.rename(path)
    return path


def _as_json(spec: DemoSpec) -> dict:
    return json.loads(json.dumps(asdict(spec)))


@dataclass(frozen=True)
class _Model:
    path: Path
    algo: str
    game: str
    cfg: RolloutConfig


def _model_path(zoo: Path, algo: str, game: str, run: int, tag: str) -> Path:
    return zoo / algo / f"{game}NoFrameskip-v4" / f"model{run}_{tag}.pb"


def _make_agents(
    zoo: Path,
    spec: DemoSpec,
    jobs: int | None,
    on_progress: Callable[[str], None] | None,
    reuse: Path,
) -> list[dict]:
    """Write every model and play it; the trained ones once their training is done (or
    their weights are found in `reuse`). Returns the trainings' reports."""
    from zoo_site.networks.netbuild import BUILDERS
    from zoo_site.rollouts.ale import AtariEnv
    from zoo_site.rollouts.protocols import ZOO_TF
    from zoo_site.sources.zoo_layout import PROTOCOLS

    ready: list[_Model] = []
    tasks: list[TrainingTask] = []
    trained: dict[TrainingTask, TrainedAgent] = {}
    for game in spec.games:
        n_actions = len(AtariEnv(game, 0, ZOO_TF).actions)
        for algo in spec.algos:
            for run in spec.runs:
                for tag in spec.tags:
                    if spec.trained(game, algo, tag):
                        continue
                    seed = spec.seed(algo, game, run, tag)
                    model = _model_path(zoo, algo, game, run, tag)
                    write_bytes(
                        model, BUILDERS[algo](n_actions, seed).SerializeToString(deterministic=True)
                    )
                    ready.append(_Model(model, algo, game, _rollout_config(spec, seed)))
            if spec.trained(game, algo, TRAINED_TAG):
                start = spec.seed(algo, game, spec.runs[0], "initial")
                task = TrainingTask(game, algo, PROTOCOLS[algo], n_actions, start, spec.training)
                agent = _cached(reuse, task)
                if agent is None:
                    tasks.append(task)
                else:
                    trained[task] = agent
                    ready.extend(_write_trained(zoo, spec, task, agent))

    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(make_executor(jobs, spec.size + len(tasks)))
        # Training runs in processes of its own (TensorFlow on one thread): the pool's,
        # which take the trainings first as they are submitted first, or one made for them.
        trainer = pool
        if isinstance(pool, InlineExecutor) and tasks:
            trainer = stack.enter_context(_spawn_pool(1))
        # The slowest first: the 'tf' pipeline collects at half the speed of Dopamine's.
        order = sorted(tasks, key=lambda t: (t.protocol.screen != "tf_bilinear", t.game, t.algo))
        training: dict[Future, TrainingTask] = {
            trainer.submit(train_agent, task): task for task in order
        }
        playing: set[Future] = {
            pool.submit(_play_one, m.path, m.algo, m.game, m.cfg) for m in ready
        }
        while training or playing:
            done, _ = wait({*training, *playing}, return_when="FIRST_COMPLETED")
            for future in done:
                if future in training:
                    task = training.pop(future)
                    trained[task] = agent = future.result()
                    for m in _write_trained(zoo, spec, task, agent):
                        playing.add(pool.submit(_play_one, m.path, m.algo, m.game, m.cfg))
                    continue
                playing.remove(future)
                out = future.result()
                if on_progress:
                    on_progress(str(out.relative_to(zoo)))
    for task, agent in trained.items():
        _store(zoo, task, agent)
    return [trained[t].report for t in sorted(trained, key=lambda t: (t.game, t.algo))]


def _rollout_config(spec: DemoSpec, seed: int) -> RolloutConfig:
    return RolloutConfig(steps=spec.steps, seed=seed, epsilon=spec.epsilon)


def _spawn_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _write_trained(
    zoo: Path, spec: DemoSpec, task: TrainingTask, agent: TrainedAgent
) -> Iterator[_Model]:
    """The trained network frozen as every run's `final` model of its (game, algorithm)."""
    from zoo_site.networks.netbuild import WEIGHTED_BUILDERS

    build = WEIGHTED_BUILDERS[task.algo]
    graph = build(task.n_actions, task.start_seed, weights=agent.weights).SerializeToString(
        deterministic=True
    )
    for run in spec.runs:
        model = _model_path(zoo, task.algo, task.game, run, TRAINED_TAG)
        write_bytes(model, graph)
        seed = spec.seed(task.algo, task.game, run, TRAINED_TAG)
        yield _Model(model, task.algo, task.game, _rollout_config(spec, seed))


def _key(task: TrainingTask) -> str:
    return task.spec.key(task.game, task.algo, task.n_actions, task.start_seed)


def _store(zoo: Path, task: TrainingTask, agent: TrainedAgent) -> None:
    """The weights and the report, under the training's key, in the zoo."""
    folder = zoo / TRAINING_DIR
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(task)
    with open(folder / f"{key}.npz", "wb") as out:
        np.savez(out, **agent.weights.as_arrays())  # type: ignore[arg-type]
    write_json(folder / f"{key}.json", agent.report)


def _cached(folder: Path, task: TrainingTask) -> TrainedAgent | None:
    """A training's result kept by an earlier demo (same key), if there is a whole one."""
    from zoo_site.networks.netbuild import NatureWeights

    key = _key(task)
    weights, report = folder / f"{key}.npz", folder / f"{key}.json"
    try:
        with np.load(weights) as arrays:
            loaded = NatureWeights.from_arrays(arrays)
        return TrainedAgent(loaded, json.loads(report.read_text()))
    except (OSError, ValueError, KeyError):
        return None


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
