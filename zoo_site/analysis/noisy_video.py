"""What a network saw under observation noise: one episode of the robustness evaluation
replayed alone and filmed, the clean screen on the left and the noisy observation the
network was fed on the right.

The episode is the evaluation's episode `episode` at the chosen level: the same emulator
seed, noise stream and choice stream (`analysis.robustness`), so its return is the one in
the entry's table (a test holds them equal). Frame n is agent step n: the screen when the
network was fed observation n, and the newest frame of that observation (plus its noise)
beside it, clipped to [0, 1] for display only (the network saw the unclipped values), in
grey, magnified to the screen's height.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo_site.analysis.noisy_episode import NoisyEpisode
from zoo_site.analysis.robustness import RobustnessSettings
from zoo_site.config import RenderConfig
from zoo_site.networks.base import Network
from zoo_site.rollouts.protocols import PlayProtocol

GAP = 8
"""Pixels between the screen and the observation."""


@dataclass(frozen=True)
class NoisyVideo:
    sigma: float
    episode: int
    steps: int
    total: float
    """The episode's return (that of the evaluation's same episode)."""
    width: int
    height: int
    screen: dict[str, int]
    observation: dict[str, int]
    """Where the screen and the observation are in the frame (pixels)."""

    def as_json(self) -> dict:
        return {"sigma": self.sigma, "episode": self.episode, "steps": self.steps,
                "return": self.total, "width": self.width, "height": self.height,
                "regions": {"screen": self.screen, "observation": self.observation},
                "observation_display": "newest frame of the stack, noise added, clipped to "
                                       "[0, 1] for display, grey"}  # fmt: skip


def nearest_level(levels: tuple[float, ...], sigma: float) -> int | None:
    """The index of the nonzero level nearest `sigma` (the first on ties); None if there is
    none or sigma is 0 (no video)."""
    choices = [(abs(s - sigma), i) for i, s in enumerate(levels) if s > 0]
    return min(choices)[1] if choices and sigma > 0 else None


def layout(scale: int) -> tuple[tuple[int, int], dict[str, int], dict[str, int], int]:
    """Frame size, screen and observation regions, and the observation's magnification."""
    from zoo_site.rollouts.ale import OBS_SIZE

    height, width = 210 * scale, 160 * scale
    mag = max(1, height // OBS_SIZE)
    side = OBS_SIZE * mag
    top = (height - side) // 2
    obs = {"x": width + GAP, "y": top, "width": side, "height": side}
    size = (width + GAP + side, max(height, side))
    size = (size[0] + size[0] % 2, size[1] + size[1] % 2)
    return size, {"x": 0, "y": 0, "width": width, "height": height}, obs, mag


def render(network: Network, game: str, protocol: PlayProtocol, settings: RobustnessSettings,
           level: int, path: Path, cfg: RenderConfig, episode: int = 0) -> NoisyVideo:  # fmt: skip
    """Play episode `episode` at `settings.levels[level]` and write its film to `path`."""
    from zoo_site.media.render import CHUNK, Planes, sinks, upscale

    ep = NoisyEpisode(game, protocol, settings, level, episode)
    size, screen, obs_region, mag = layout(cfg.scale)
    y, x, side = obs_region["y"], obs_region["x"], obs_region["height"]
    frames = np.zeros((CHUNK, size[1], size[0], 3), np.uint8)
    filled = 0
    with sinks({"noisy": (path, size)}, cfg) as out:
        while not ep.done:
            seen = ep.seen()
            frame = frames[filled]
            frame[: screen["height"], : screen["width"]] = upscale(ep.env.screen()[None],
                                                                   cfg.scale)[0]  # fmt: skip
            grey = (np.clip(seen[:, :, -1:], 0, 1) * 255 + 0.5).astype(np.uint8)
            frame[y : y + side, x : x + side] = upscale(grey[None], mag)[0]
            filled += 1
            if filled == CHUNK:  # Planes.of converts into a new array: `frames` is free again
                out["noisy"].send(Planes.of(frames))
                filled = 0
            ep.act(network.run(seen[None], ["output"])["output"][0])
        if filled:
            out["noisy"].send(Planes.of(frames[:filled]))
    return NoisyVideo(
        float(settings.levels[level]),
        episode,
        ep.steps,
        ep.total,
        size[0],
        size[1],
        screen,
        obs_region,
    )
