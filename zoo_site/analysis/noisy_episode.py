"""One episode of the noise evaluation: its emulator, its noise and choice streams, its
progress. Shared by the in-process evaluation (`robustness`), its worker processes
(`lockstep_workers`) and the film of what the network saw (`noisy_video`), so all three
play an episode the same way."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from zoo_site.rollouts.protocols import PlayProtocol

DEFAULT_LEVELS = (0.0, 0.05, 0.1, 0.2, 0.3)


@dataclass(frozen=True)
class RobustnessSettings:
    levels: tuple[float, ...] = DEFAULT_LEVELS
    """Gaussian σ of the noise on the [0, 1] observation, per level."""
    episodes: int = 3
    """Episodes per level."""
    max_steps: int = 2500
    """Agent steps at most per episode (an episode cut short counts its return so far)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if any(s < 0 for s in self.levels):
            raise ValueError("noise levels must not be negative")
        if self.episodes < 1 or self.max_steps < 1:
            raise ValueError("episodes and max_steps must be at least 1")

    def as_json(self) -> dict:
        return {**asdict(self), "levels": list(self.levels)}


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
