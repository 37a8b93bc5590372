"""Robustness to observation noise: an agent's returns with Gaussian noise on its input.

As the Atari Model Zoo's own rollout code did it (`generate_rollout(observation_noise=σ)`),
the noise goes into the network's input only: σ·N(0, 1) added to the canonical observation
(the stacked frames in [0, 1]), not clipped; the emulator, the screen and every later
observation stay clean.

Every (level, episode) pair is one episode, played to its end or to `max_steps` agent
steps, and the evaluation runs them all **in lockstep**: one batched network call per step
for every episode still running, so the network sees batches of up to levels × episodes
observations instead of one. Each episode owns its random streams — the emulator's seed
(the same for episode e at every level: the levels differ only by the noise, common random
numbers), the noise and the protocol's ε choices — so an episode plays the same whether it
runs alone or in a batch (`lockstep=False` plays them one at a time with batch-1 calls; a
test holds the two equal).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zoo_site.analysis import lockstep_workers
from zoo_site.analysis.noisy_episode import DEFAULT_LEVELS as DEFAULT_LEVELS
from zoo_site.analysis.noisy_episode import NoisyEpisode
from zoo_site.analysis.noisy_episode import RobustnessSettings as RobustnessSettings
from zoo_site.networks.base import Network
from zoo_site.rollouts.protocols import PlayProtocol


@dataclass
class RobustnessResult:
    settings: RobustnessSettings
    returns: np.ndarray
    """(levels, episodes) float64: each episode's return."""
    steps: np.ndarray
    """(levels, episodes) int: agent steps each episode took."""
    finished: np.ndarray
    """(levels, episodes) bool: the game ended (else `max_steps` cut it short)."""

    def as_json(self) -> dict:
        return {
            "settings": self.settings.as_json(),
            "levels": [
                {"sigma": float(sigma), "returns": [float(r) for r in self.returns[i]],
                 "steps": [int(s) for s in self.steps[i]],
                 "finished": [bool(f) for f in self.finished[i]],
                 "mean": float(self.returns[i].mean())}
                for i, sigma in enumerate(self.settings.levels)
            ],
        }  # fmt: skip


def evaluate(network: Network, game: str, protocol: PlayProtocol,
             settings: RobustnessSettings = RobustnessSettings(), *,  # noqa: B008 (frozen)
             lockstep: bool = True, workers: int = 0,
             timing: dict[str, float] | None = None) -> RobustnessResult:  # fmt: skip
    """Every level's episodes; in lockstep (one network call per step for all running
    episodes) or one episode at a time with batch-1 calls. With `workers` > 1 (and where
    processes can be started), lockstep runs the emulators in that many worker processes,
    pipelined with the network's calls (`lockstep_workers`); the results are the same.
    `timing`, if given, gets "setup_s": the seconds until every episode was made (its
    emulator loaded and reset) and ready to step."""
    start = time.perf_counter()
    timing = {} if timing is None else timing
    levels, count = len(settings.levels), settings.episodes
    shape = (levels, count)
    if lockstep and lockstep_workers.usable(workers) and levels * count > 1:
        played = lockstep_workers.play(network, game, protocol, settings, workers, timing)
        timing["setup_s"] -= start
        return RobustnessResult(
            settings,
            np.array([p[0] for p in played], np.float64).reshape(shape),
            np.array([p[1] for p in played], np.int64).reshape(shape),
            np.array([p[2] for p in played], bool).reshape(shape),
        )
    episodes = [NoisyEpisode(game, protocol, settings, lv, e)
                for lv in range(levels) for e in range(count)]  # fmt: skip
    timing["setup_s"] = time.perf_counter() - start
    groups: Sequence[list[NoisyEpisode]] = [episodes] if lockstep else [[e] for e in episodes]
    for group in groups:
        running = [e for e in group if not e.done]
        while running:
            batch = np.stack([e.seen() for e in running])
            values = network.run(batch, ["output"])["output"]
            for episode, row in zip(running, values, strict=True):
                episode.act(row)
            running = [e for e in running if not e.done]
    return RobustnessResult(
        settings,
        np.array([e.total for e in episodes], np.float64).reshape(shape),
        np.array([e.steps for e in episodes], np.int64).reshape(shape),
        np.array([e.finished for e in episodes], bool).reshape(shape),
    )
