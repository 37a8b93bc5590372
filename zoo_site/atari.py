"""The Atari emulator (ale-py, which ships the ROMs) with DeepMind preprocessing.

Frame skip 4 with a max over the last two frames, grayscale, 84x84 area resampling, a
stack of the last 4 observations, up to `noop_max` no-op frames at each episode start,
FIRE at reset for games that need it, and optional sticky actions (ALE's
repeat_action_probability). Observations are float32 in [0, 1], as the zoo stores them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

FRAME_SKIP = 4
OBS_SIZE = 84
STACK = 4
_GRAY = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as OpenCV's RGB2GRAY


def rom_id(game: str) -> str:
    """'MontezumaRevenge' -> 'montezuma_revenge' (ale-py's ROM names)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", game).lower()


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """One 210x160x3 screen -> an 84x84 uint8 grayscale image (area resampling)."""
    gray = np.rint(rgb.astype(np.float32) @ _GRAY).astype(np.uint8)
    return np.asarray(Image.fromarray(gray).resize((OBS_SIZE, OBS_SIZE), Image.Resampling.BOX))


@dataclass
class StepResult:
    observation: np.ndarray
    reward: float
    game_over: bool


class AtariEnv:
    """One Atari game in the emulator, stepped at the agent's rate (4 frames a step)."""

    def __init__(self, game: str, seed: int, noop_max: int = 30, sticky: float = 0.0):
        from ale_py import ALEInterface, LoggerMode, roms

        ALEInterface.setLoggerMode(LoggerMode.Error)
        try:
            rom = roms.get_rom_path(rom_id(game))
        except Exception:  # ale-py raises different types across versions
            rom = None
        if rom is None:
            raise ValueError(f"ale-py has no ROM for the game {game!r} ({rom_id(game)})")
        self.ale = ALEInterface()
        self.ale.setInt("random_seed", int(seed) % (2**31))
        self.ale.setFloat("repeat_action_probability", float(sticky))
        self.ale.setInt("frame_skip", 1)
        self.ale.loadROM(str(rom))
        self.actions = list(self.ale.getMinimalActionSet())
        self.action_names = [a.name for a in self.actions]
        self.rng = np.random.default_rng(seed)
        self.noop_max = noop_max
        self._stack = np.zeros((OBS_SIZE, OBS_SIZE, STACK), np.uint8)

    def screen(self) -> np.ndarray:
        return self.ale.getScreenRGB()

    def ram(self) -> np.ndarray:
        return self.ale.getRAM()

    def reset(self) -> np.ndarray:
        """Start an episode: reset, random no-ops, FIRE where needed; return the stack."""
        self.ale.reset_game()
        from ale_py import Action

        for _ in range(int(self.rng.integers(1, self.noop_max + 1)) if self.noop_max else 0):
            self.ale.act(Action.NOOP)
            if self.ale.game_over():
                self.ale.reset_game()
        if "FIRE" in self.action_names and len(self.actions) >= 3:
            for idx in (1, 2):
                self._skip(self.actions[idx])
        first = preprocess(self.screen())
        self._stack[:] = first[:, :, None]
        return self.observation()

    def observation(self) -> np.ndarray:
        return self._stack.astype(np.float32) / np.float32(255.0)

    def _skip(self, action) -> tuple[float, np.ndarray]:
        reward, last = 0.0, []
        for i in range(FRAME_SKIP):
            reward += self.ale.act(action)
            if i >= FRAME_SKIP - 2:
                last.append(self.screen())
            if self.ale.game_over():
                break
        pooled = np.maximum(last[0], last[-1]) if last else self.screen()
        return reward, pooled

    def step(self, action_index: int) -> StepResult:
        reward, pooled = self._skip(self.actions[action_index])
        self._stack = np.roll(self._stack, -1, axis=2)
        self._stack[:, :, -1] = preprocess(pooled)
        return StepResult(self.observation(), reward, self.ale.game_over())
