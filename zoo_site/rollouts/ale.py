"""The Atari emulator (ale-py, which ships the ROMs) played exactly as a `PlayProtocol` says.

Each observation pipeline (`protocol.screen`) reproduces its original, step for step:

- "tf_bilinear": the Atari Model Zoo's `wrap_deepmind(preproc='tf')`. No-ops are single
  emulator frames taken below the frame skip (NoopResetEnv wraps the raw env); FIRE then
  action 2 go through the skip (FireResetEnv wraps MaxAndSkipEnv); the skip keeps the last
  two RGB screens in a 2-deep buffer that persists across steps (a step ended early pools
  with the previous step's screen) and the reset screen seeds it; the pooled screen goes
  through `preprocess.tf_bilinear_frame`; the stack starts as the first frame 4 times.
- "dopamine": Dopamine's `AtariPreprocessing`: two persistent grayscale screen buffers,
  written at the last two frames of the skip and max-pooled in place into the first one
  (so a step ended early reuses stale buffers, as in Dopamine); reset puts the reset
  screen in the first buffer and zeros in the second; INTER_AREA resize of the pooled
  screen; the agent's stack starts from zeros.
- "atari_agents": atari-agents' `ale_env.py`: each step starts two 84x84 zero frames,
  fills them with the INTER_AREA-resized grayscale screen after the last two frames of the
  skip (frames the skip never reached because the game ended stay zeros) and returns their
  maximum; reset returns the resized reset screen; the stack starts from zeros.

Common to all: minimal action set, the ALE's own frame skip off (the skip is done here),
sticky actions as the ALE's `repeat_action_probability`, the episode cap as its
`max_num_frames_per_episode`, and one seed for both the ALE and the no-op counts, so the
same seed plays the same episode.
"""

from __future__ import annotations

import re
import warnings
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from zoo_site.rollouts import preprocess

if TYPE_CHECKING:
    from ale_py import Action, ALEInterface

    from zoo_site.rollouts.protocols import PlayProtocol

FRAME_SKIP = 4
OBS_SIZE = preprocess.OBS_SIZE
STACK = 4


def rom_id(game: str) -> str:
    """'MontezumaRevenge' -> 'montezuma_revenge' (ale-py's ROM names)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", game).lower()


def rom_path(game: str) -> str:
    """The ROM file ale-py ships for `game`; ValueError naming the game if there is none."""
    from ale_py import roms

    try:
        with warnings.catch_warnings():  # ale-py warns before returning None
            warnings.simplefilter("ignore")
            path = roms.get_rom_path(rom_id(game))
    except Exception:  # ale-py raises different types across versions
        path = None
    if path is None:
        raise ValueError(f"ale-py has no ROM for the game {game!r} ({rom_id(game)})")
    return str(path)


def _new_ale(game: str, seed: int, sticky: float, max_frames: int) -> ALEInterface:
    """An ALE with `game` loaded: seeded, no internal frame skip, sticky actions, a cap."""
    from ale_py import ALEInterface, LoggerMode

    ALEInterface.setLoggerMode(LoggerMode.Error)
    path = rom_path(game)
    ale = ALEInterface()
    ale.setInt("random_seed", int(seed) % (2**31))
    ale.setInt("max_num_frames_per_episode", int(max_frames))
    ale.setFloat("repeat_action_probability", float(sticky))
    ale.setInt("frame_skip", 1)
    ale.setBool("color_averaging", False)
    ale.loadROM(path)
    return ale


def minimal_action_names(game: str) -> list[str]:
    """The names of `game`'s minimal action set ("NOOP", "FIRE", ...), in network order."""
    ale = _new_ale(game, 0, 0.0, 0)
    return [a.name for a in ale.getMinimalActionSet()]


@dataclass(frozen=True)
class StepResult:
    observation: np.ndarray
    """Canonical float32 (84, 84, 4) in [0, 1], frames last, oldest first."""
    reward: float
    game_over: bool
    """The ALE's game over, including its episode frame cap."""


class _Screens(Protocol):
    """One pipeline: the frame after a reset, and a frame-skipped step."""

    dtype: type

    def begin(self, ale: ALEInterface) -> np.ndarray: ...

    def skip(self, ale: ALEInterface, action: Action, n: int) -> tuple[np.ndarray, float, bool]: ...


class ZooTfScreens:
    """The zoo's MaxAndSkipEnv (RGB, persistent 2-deep buffer) + WarpFrameTF, float frames."""

    dtype = np.float32

    def __init__(self) -> None:
        self._rgb: deque[np.ndarray] = deque(maxlen=2)

    def begin(self, ale: ALEInterface) -> np.ndarray:
        """MaxAndSkipEnv.reset: clear the buffer, seed it with the reset screen, return it."""
        self._rgb.clear()
        screen = ale.getScreenRGB()
        self._rgb.append(screen)
        return preprocess.tf_bilinear_frame(screen)

    def skip(self, ale: ALEInterface, action: Action, n: int) -> tuple[np.ndarray, float, bool]:
        """Act n frames (stop at game over), buffering every screen; warp the max of two."""
        reward, done = 0.0, False
        for _ in range(n):
            reward += ale.act(action)
            self._rgb.append(ale.getScreenRGB())
            done = ale.game_over()
            if done:
                break
        pooled = np.max(np.stack(self._rgb), axis=0)
        return preprocess.tf_bilinear_frame(pooled), reward, done


class DopamineScreens:
    """Dopamine's AtariPreprocessing: ALE grayscale, two persistent buffers, INTER_AREA."""

    dtype = np.uint8

    def __init__(self) -> None:
        shape = (210, 160)
        self._buffers = [np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)]

    def begin(self, ale: ALEInterface) -> np.ndarray:
        """reset(): the reset screen in buffer 0, zeros in buffer 1, then pool and resize."""
        self._fit(ale)
        ale.getScreenGrayscale(self._buffers[0])
        self._buffers[1].fill(0)
        return self._pool_and_resize()

    def skip(self, ale: ALEInterface, action: Action, n: int) -> tuple[np.ndarray, float, bool]:
        """step(): act n frames; the last two fill buffers 0 and 1; stop at game over."""
        reward, done = 0.0, False
        for t in range(n):
            reward += ale.act(action)
            done = ale.game_over()
            if t >= n - 2:
                ale.getScreenGrayscale(self._buffers[t - (n - 2)])
            if done:
                break
        return self._pool_and_resize(), reward, done

    def _fit(self, ale: ALEInterface) -> None:
        """Size the buffers to the ALE's screen (210x160 for every shipped game)."""
        height, width = ale.getScreenDims()
        if self._buffers[0].shape != (height, width):
            self._buffers = [np.zeros((height, width), np.uint8) for _ in range(2)]

    def _pool_and_resize(self) -> np.ndarray:
        """Max of the two buffers into buffer 0 (in place, as Dopamine), then INTER_AREA."""
        np.maximum(self._buffers[0], self._buffers[1], out=self._buffers[0])
        return preprocess.area_resize(self._buffers[0])


class AtariAgentsScreens:
    """atari-agents' ALEModern/ALEClassic: resize each of the last two frames, then max."""

    dtype = np.uint8

    def begin(self, ale: ALEInterface) -> np.ndarray:
        """reset(): the resized grayscale reset screen."""
        return preprocess.area_resize(ale.getScreenGrayscale())

    def skip(self, ale: ALEInterface, action: Action, n: int) -> tuple[np.ndarray, float, bool]:
        """step(): two zero frames, filled after frames n-1 and n; stop at game over."""
        frames = np.zeros((2, OBS_SIZE, OBS_SIZE), np.uint8)
        reward, done = 0.0, False
        for t in range(n):
            reward += ale.act(action)
            if t >= n - 2:
                frames[t - (n - 2)] = preprocess.area_resize(ale.getScreenGrayscale())
            done = ale.game_over()
            if done:
                break
        return frames.max(axis=0), reward, done


_SCREENS: dict[str, type] = {
    "tf_bilinear": ZooTfScreens,
    "dopamine": DopamineScreens,
    "atari_agents": AtariAgentsScreens,
}


class AtariEnv:
    """One Atari game in the emulator, played at the agent's rate under `protocol`."""

    def __init__(self, game: str, seed: int, protocol: PlayProtocol):
        if protocol.screen not in _SCREENS:
            raise ValueError(f"unknown observation pipeline {protocol.screen!r}")
        self.game = game
        self.seed = int(seed)
        self.protocol = protocol
        self.ale = _new_ale(game, seed, protocol.sticky_actions, protocol.max_frames)
        self.actions = list(self.ale.getMinimalActionSet())
        self.action_names = [a.name for a in self.actions]
        self.rng = np.random.default_rng(seed)
        """Draws the no-op counts; nothing else, so a seed fixes the episode starts."""
        self.noops_done = 0
        """How many no-op frames the last reset took (before any reset they caused)."""
        self._screens: _Screens = _SCREENS[protocol.screen]()
        self._fire = self._fires_at_reset()
        self._stack = np.zeros((OBS_SIZE, OBS_SIZE, STACK), self._screens.dtype)

    def _fires_at_reset(self) -> bool:
        """FIRE at reset if the protocol asks and the game has FIRE (as action 1, 3+ actions)."""
        if not (self.protocol.fire_reset and "FIRE" in self.action_names):
            return False
        if self.action_names[1] != "FIRE" or len(self.actions) < 3:
            raise ValueError(f"{self.game}: FIRE reset needs FIRE as action 1 of 3 or more")
        return True

    def screen(self) -> np.ndarray:
        """The current frame as RGB (210, 160, 3) uint8."""
        return self.ale.getScreenRGB()

    def ram(self) -> np.ndarray:
        """The console's 128 bytes of RAM."""
        return self.ale.getRAM()

    def lives(self) -> int:
        return int(self.ale.lives())

    def observation(self) -> np.ndarray:
        """The stack in canonical form: float32 (84, 84, 4) in [0, 1], oldest frame first."""
        if self._stack.dtype == np.uint8:
            return preprocess.to_canonical_uint8(self._stack)
        return preprocess.to_canonical_float(self._stack)

    def observation_uint8(self) -> np.ndarray:
        """The stack as the uint8 (84, 84, 4) the network saw (integer pipelines only)."""
        if self._stack.dtype != np.uint8:
            raise ValueError(f"the {self.protocol.screen!r} pipeline has float observations")
        return self._stack.copy()

    def reset(self, noops: int | None = None) -> np.ndarray:
        """Start an episode: reset, no-ops, FIRE where the protocol says; return the stack.

        `noops` overrides the random no-op count (like baselines' override_num_noops).
        """
        frame = self._start(noops)
        if self._fire:
            for index in (1, 2):  # FireResetEnv: FIRE, then action 2, through the skip
                frame, _, done = self._skip(self.actions[index])
                if done:
                    self._start(noops)  # its observation is still the step's, as there
        self._begin_stack(frame)
        return self.observation()

    def step(self, action_index: int) -> StepResult:
        """Repeat the action for the frame skip; push the pipeline's frame on the stack."""
        frame, reward, done = self._skip(self.actions[action_index])
        self._stack = np.roll(self._stack, -1, axis=2)
        self._stack[:, :, -1] = frame
        return StepResult(self.observation(), reward, done)

    def _skip(self, action: Action) -> tuple[np.ndarray, float, bool]:
        return self._screens.skip(self.ale, action, self.protocol.frame_skip)

    def _start(self, noops: int | None) -> np.ndarray:
        """reset_game, then no-op frames (raw action 0, re-reset on game over); first frame."""
        from ale_py import Action

        self.ale.reset_game()
        self.noops_done = self._noop_count() if noops is None else int(noops)
        for _ in range(self.noops_done):
            self.ale.act(Action.NOOP)
            if self.ale.game_over():
                self.ale.reset_game()
        return self._screens.begin(self.ale)

    def _noop_count(self) -> int:
        """1..noop_max (baselines' NoopResetEnv) or 0..noop_max-1 (random.randrange)."""
        top = self.protocol.noop_max
        if top <= 0:
            return 0
        if self.protocol.noop_mode == "zero_to_max_exclusive":
            return int(self.rng.integers(0, top))
        return int(self.rng.integers(1, top + 1))

    def _begin_stack(self, frame: np.ndarray) -> None:
        """ "first": the frame 4 times (baselines' FrameStack); "zeros": zeros, then it."""
        if self.protocol.stack_start == "first":
            self._stack[:] = frame[:, :, None]
        else:
            self._stack[:] = 0
            self._stack[:, :, -1] = frame
