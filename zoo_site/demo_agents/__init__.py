"""The demo zoo's trained agents: Nature CNNs that imitate scripted players.

For each trained game and each convention of the demo (its algorithm's play protocol), a
scripted player that reads the ball and paddle from RAM (scripted.py) plays the game under
that protocol and labels every observation with its action (collect.py); a Nature CNN,
starting from the demo's untrained `initial` network of run 1, learns to imitate it
(train.py); then, for a few DAgger rounds, the network plays, the player labels the states
it got into, and the training goes on over all the pairs. Its weights are then frozen into
the convention's graph (networks/netbuild.py). This is behaviour cloning, not
reinforcement learning: no reward is used.

`train_agent` does one (game, algorithm) and is what a worker process runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from zoo_site.demo_agents.scripted import PLAYERS
from zoo_site.networks.netbuild import NatureWeights


@dataclass(frozen=True)
class TrainingSpec:
    """How the demo's agents are trained; part of the demo's spec (and so of its marker)."""

    games: tuple[str, ...] = ("Pong", "Breakout")
    """The games whose `final` agents are trained (each needs a scripted player)."""
    frames: int = 10_000
    """(observation, action) pairs collected per game and convention."""
    held_out: int = 1_000
    """More pairs, from other episodes, to measure the agreement on."""
    segment: int = 600
    """Agent steps per collected episode start (the demo's rollouts show 500)."""
    explore: float = 0.25
    """While collecting, the chance of a random action instead of the scripted one."""
    epochs: int = 3
    """Passes over the scripted player's pairs before the first DAgger round."""
    rounds: int = 2
    """DAgger rounds: the network plays, the scripted player labels what it saw, and the
    training goes on over all the pairs so far."""
    relabelled: int = 4_000
    """Pairs collected per round by the network's own play."""
    own_explore: float = 0.1
    """In the network's own play, the chance of a random action (the demo's epsilon)."""
    refine_epochs: int = 1
    """Passes over all the pairs so far after each round."""
    batch: int = 64
    learning_rate: float = 2e-3
    auxiliary: float = 20.0
    """Weight of the auxiliary regression of the scripted player's features."""
    spatial: float = 5.0
    """Weight of the auxiliary ball and paddle cells on the first convolution."""
    seed: int = 0
    tuned: tuple[tuple[str, str, str, int], ...] = (
        ("Breakout", "dqn", "epochs", 4),
        ("Breakout", "apex", "rounds", 3),
    )
    """(game, algorithm, setting, value): a setting of this spec changed for one pair only.
    Breakout under sticky actions (Dopamine's protocol) needs a fourth epoch: with three,
    its agent kept losing its last life before the demo's 500th step. Breakout under the
    zoo's protocol needs a third DAgger round: with two, on the states its own play led
    to it often held the paddle still while the player would move it (agreement 0.68
    against a chance of 0.51 on held-out seed 2025, 0.68 on seed 5 against 0.58)."""

    def for_pair(self, game: str, algo: str) -> TrainingSpec:
        """The settings that train this (game, algorithm): `tuned`'s changes applied."""
        changes: dict[str, Any] = {n: v for g, a, n, v in self.tuned if (g, a) == (game, algo)}
        return replace(self, **changes)

    def key(self, game: str, algo: str, n_actions: int, start_seed: int) -> str:
        """The content key of one trained network: everything that decides its weights."""
        text = json.dumps([asdict(self), game, algo, n_actions, start_seed, VERSION])
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


VERSION = 3
"""Bumped when the training's code changes what it makes (a part of every `key`)."""


@dataclass(frozen=True)
class TrainingTask:
    game: str
    algo: str
    protocol: Any  # PlayProtocol
    n_actions: int
    start_seed: int
    """The seed of the untrained network the training starts from (netbuild's)."""
    spec: TrainingSpec = field(default_factory=TrainingSpec)


@dataclass(frozen=True)
class TrainedAgent:
    weights: NatureWeights
    report: dict
    """Sizes, seconds and the agreement with the scripted player (see `train_agent`)."""


def train_agent(task: TrainingTask) -> TrainedAgent:
    """Collect, train and measure one (game, algorithm): in a process of its own."""
    from zoo_site.demo_agents.collect import collect
    from zoo_site.demo_agents.train import Cloner, configure_tensorflow, greedy, predict
    from zoo_site.networks.netbuild import random_nature_weights

    spec = task.spec.for_pair(task.game, task.algo)
    configure_tensorflow()
    began = time.perf_counter()
    pairs = collect(task.game, task.protocol, spec.frames, spec.segment, spec.explore, spec.seed)
    held = collect(task.game, task.protocol, spec.held_out, spec.segment, spec.explore,
                   spec.seed, first_segment=1_000_000)  # fmt: skip
    collected = time.perf_counter()
    start = random_nature_weights(task.algo, task.n_actions, task.start_seed)
    cloner = Cloner(start, pairs.features.shape[1], pairs.objects.shape[1],
                    learning_rate=spec.learning_rate, auxiliary=spec.auxiliary,
                    spatial=spec.spatial, seed=spec.seed)  # fmt: skip
    updates = cloner.fit(pairs, spec.epochs, spec.batch)
    weights = cloner.weights(pairs.observations)
    data, playing = pairs, 0.0
    for number in range(spec.rounds):
        began_playing = time.perf_counter()
        own = collect(task.game, task.protocol, spec.relabelled, spec.segment, spec.own_explore,
                      spec.seed, first_segment=2_000_000 + 1_000 * number,
                      policy=greedy(weights))  # fmt: skip
        playing += time.perf_counter() - began_playing
        data = data + own
        updates += cloner.fit(data, spec.refine_epochs, spec.batch)
        weights = cloner.weights(data.observations)
    trained = time.perf_counter()
    report = {
        "game": task.game,
        "algo": task.algo,
        "protocol": task.protocol.name,
        "frames": len(pairs),
        "relabelled": len(data) - len(pairs),
        "rounds": spec.rounds,
        "held_out": len(held),
        "epochs": spec.epochs,
        "updates": updates,
        "batch": spec.batch,
        "collect_seconds": round(collected - began, 1),
        "train_seconds": round(trained - collected - playing, 1),
        "relabel_seconds": round(playing, 1),
        "agreement": agreement(predict(weights, held.observations), held.actions),
        "agreement_train": agreement(
            predict(weights, pairs.observations[:2000]), pairs.actions[:2000]
        ),
        "agreement_own": agreement(
            predict(weights, data.observations[len(pairs) :]), data.actions[len(pairs) :]
        )
        if spec.rounds
        else None,
        "chance": majority_share(held.actions),
        "actions": PLAYERS[task.game].actions,
        "label_counts": np.bincount(pairs.actions, minlength=task.n_actions).tolist(),
        "start_seed": task.start_seed,
        "key": task.spec.key(task.game, task.algo, task.n_actions, task.start_seed),
    }
    return TrainedAgent(weights, report)


def agreement(logits: np.ndarray, actions: np.ndarray) -> float:
    """The share of observations on which the network's argmax is the scripted action."""
    return round(float(np.mean(np.argmax(logits, axis=1) == actions)), 4)


def majority_share(actions: np.ndarray) -> float:
    """Chance level: the agreement of always answering the most common scripted action."""
    return round(float(np.bincount(actions).max() / max(len(actions), 1)), 4)
