"""One episode of the noise evaluation: its emulator, its noise and choice streams, its
progress. Shared by the in-process evaluation (`robustness`), its worker processes
(`lockstep_workers`) and the film of what the network saw (`noisy_video`), so all three
play an episode the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoo_site.rollouts.protocols import PlayProtocol

if TYPE_CHECKING:  # pragma: no cover
    from zoo_site.analysis.robustness import RobustnessSettings


def env_seed(seed: int, episode: int) -> int:
    """The emulator's seed of episode `episode` (the same at every level)."""
    return int(np.random.SeedSequence([seed, episode]).generate_state(1)[0] % (2**31))


class NoisyEpisode:
    """Episode `episode` at noise level `level`: the emulator seeded by `env_seed` (the same
    at every level), and its own noise and ε-choice streams."""

    def __init__(self, game: str, protocol: PlayProtocol, settings: RobustnessSettings,
                 level: int, episode: int):  # fmt: skip
        from zoo_site.rollouts.ale import AtariEnv

        self.protocol = protocol
        self.sigma = np.float32(settings.levels[level])
        self.env = AtariEnv(game, env_seed(settings.seed, episode), protocol)
        self.noise = np.random.default_rng([settings.seed, level, episode, 0])
        self.choices = np.random.default_rng([settings.seed, level, episode, 1])
        self.obs = self.env.reset()
        self.total, self.steps, self.done, self.finished = 0.0, 0, False, False
        self.max_steps = settings.max_steps

    def seen(self) -> np.ndarray:
        """What the network is fed: the observation plus this step's noise."""
        obs = np.asarray(self.obs, np.float32)
        if not self.sigma:
            return obs
        return obs + self.sigma * self.noise.standard_normal(obs.shape, np.float32)

    def act(self, values: np.ndarray) -> None:
        """One step with the protocol's choice from the network's output `values`."""
        from zoo_site.rollouts.play import choose

        result = self.env.step(choose(values, self.protocol, self.choices))
        self.total += result.reward
        self.steps += 1
        self.obs = result.observation
        self.finished = bool(result.game_over)
        self.done = self.finished or self.steps >= self.max_steps
