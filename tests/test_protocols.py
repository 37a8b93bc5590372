"""The play protocols' pipelines against independent references of the original code.

Each reference below is written from raw ALE calls (a second emulator with the same seed)
following its original literally: Dopamine's `AtariPreprocessing` (atari_lib.py),
atari-agents' `ALEModern`/`ALEClassic` (ale_env.py) and the Atari Model Zoo's
`wrap_deepmind(preproc='tf')` chain (atari_wrappers.py: NoopResetEnv < MaxAndSkipEnv <
FireResetEnv < WarpFrameTF < FrameStack < ScaledFloatFrame), the last one with
TensorFlow's own resize op. Observations must match frame for frame: exactly for the
integer pipelines, to a tiny fraction of a gray level for the float one.
"""

from __future__ import annotations

import subprocess
import sys
from collections import deque

import cv2
import numpy as np
import pytest
from ale_py import ALEInterface, LoggerMode, roms

from zoo_site.rollouts import preprocess
from zoo_site.rollouts.ale import AtariEnv, minimal_action_names, rom_id
from zoo_site.rollouts.protocols import (
    ATARI_AGENTS_CLASSIC,
    ATARI_AGENTS_MODERN,
    DOPAMINE,
    ZOO_TF,
    PlayProtocol,
)

ALEInterface.setLoggerMode(LoggerMode.Error)
STEPS = 200
TF_TOLERANCE = 1e-3  # gray levels


def raw_ale(game: str, seed: int, protocol: PlayProtocol) -> ALEInterface:
    """A second emulator configured as the originals configure theirs."""
    ale = ALEInterface()
    ale.setInt("random_seed", seed)
    ale.setInt("max_num_frames_per_episode", protocol.max_frames)
    ale.setFloat("repeat_action_probability", protocol.sticky_actions)
    ale.setInt("frame_skip", 1)
    ale.setBool("color_averaging", False)
    ale.loadROM(str(roms.get_rom_path(rom_id(game))))
    return ale


def action_sequence(n_actions: int, steps: int = STEPS, seed: int = 7) -> list[int]:
    """Actions that change often (so sticky actions matter), the same for env and reference."""
    return [int(a) for a in np.random.default_rng(seed).integers(n_actions, size=steps)]


def area(gray: np.ndarray) -> np.ndarray:
    return cv2.resize(gray, (84, 84), interpolation=cv2.INTER_AREA)


class DopamineReference:
    """Dopamine's AtariPreprocessing, and its agent's state (zeros, then np.roll in)."""

    def __init__(self, ale: ALEInterface):
        self.ale = ale
        self.actions = ale.getMinimalActionSet()
        self.screen_buffer = [np.empty((210, 160), np.uint8), np.empty((210, 160), np.uint8)]
        self.state = np.zeros((84, 84, 4), np.uint8)

    def _pool_and_resize(self) -> np.ndarray:
        np.maximum(self.screen_buffer[0], self.screen_buffer[1], out=self.screen_buffer[0])
        return np.asarray(area(self.screen_buffer[0]), dtype=np.uint8)

    def _record(self, observation: np.ndarray) -> None:
        self.state = np.roll(self.state, -1, axis=-1)
        self.state[..., -1] = observation

    def reset(self) -> np.ndarray:
        self.ale.reset_game()
        self.ale.getScreenGrayscale(self.screen_buffer[0])
        self.screen_buffer[1].fill(0)
        self.state = np.zeros((84, 84, 4), np.uint8)
        self._record(self._pool_and_resize())
        return self.state

    def step(self, action: int) -> tuple[np.ndarray, float, bool]:
        accumulated = 0.0
        for time_step in range(4):
            accumulated += self.ale.act(self.actions[action])
            game_over = self.ale.game_over(with_truncation=False) or self.ale.game_truncated()
            if time_step >= 2:
                self.ale.getScreenGrayscale(self.screen_buffer[time_step - 2])
            if game_over:
                break
        self._record(self._pool_and_resize())
        return self.state, accumulated, game_over


class AtariAgentsReference:
    """atari-agents' ALEModern / ALEClassic (eval), frames last instead of first."""

    def __init__(self, ale: ALEInterface):
        self.ale = ale
        self.actions = dict(enumerate(ale.getMinimalActionSet()))
        self.state_buffer: deque[np.ndarray] = deque([], maxlen=4)

    def _get_state(self) -> np.ndarray:
        return area(self.ale.getScreenGrayscale())

    def reset(self, noops: int = 0) -> np.ndarray:
        for _ in range(4):
            self.state_buffer.append(np.zeros((84, 84), np.uint8))
        self.ale.reset_game()
        for _ in range(noops):  # ALEClassic._random_noops: raw action 0
            self.ale.act(0)
            if self.ale.game_over():
                self.ale.reset_game()
        self.state_buffer.append(self._get_state())
        return np.stack(self.state_buffer, axis=-1)

    def step(self, action: int) -> tuple[np.ndarray, float, bool]:
        frame_buffer = np.zeros((2, 84, 84), np.uint8)
        reward, done = 0.0, False
        for t in range(4):
            reward += self.ale.act(self.actions.get(action))
            if t == 2:
                frame_buffer[0] = self._get_state()
            elif t == 3:
                frame_buffer[1] = self._get_state()
            done = self.ale.game_over()
            if done:
                break
        self.state_buffer.append(frame_buffer.max(0))
        return np.stack(self.state_buffer, axis=-1), reward, done


class ZooTfReference:
    """The zoo's wrap_deepmind(episode_life=False, preproc='tf') over a gym NoFrameskip env."""

    def __init__(self, ale: ALEInterface, tf):
        self.ale, self.tf = ale, tf
        self.actions = ale.getMinimalActionSet()
        self.fire = [a.name for a in self.actions][1:2] == ["FIRE"]
        self.obs_buffer: deque[np.ndarray] = deque(maxlen=2)
        self.frames: deque[np.ndarray] = deque([], maxlen=4)

    # gym's AtariEnv, frameskip=1
    def _env_reset(self) -> np.ndarray:
        self.ale.reset_game()
        return self.ale.getScreenRGB()

    def _env_step(self, action: int) -> tuple[np.ndarray, float, bool]:
        reward = self.ale.act(self.actions[action])
        return self.ale.getScreenRGB(), reward, self.ale.game_over()

    # NoopResetEnv (with override_num_noops)
    def _noop_reset(self, noops: int) -> np.ndarray:
        obs = self._env_reset()
        for _ in range(noops):
            obs, _, done = self._env_step(0)
            if done:
                obs = self._env_reset()
        return obs

    # MaxAndSkipEnv
    def _skip_reset(self, noops: int) -> np.ndarray:
        self.obs_buffer.clear()
        obs = self._noop_reset(noops)
        self.obs_buffer.append(obs)
        return obs

    def _skip_step(self, action: int) -> tuple[np.ndarray, float, bool]:
        total, done = 0.0, False
        for _ in range(4):
            obs, reward, done = self._env_step(action)
            self.obs_buffer.append(obs)
            total += reward
            if done:
                break
        return np.max(np.stack(self.obs_buffer), axis=0), total, done

    # FireResetEnv
    def _fire_reset(self, noops: int) -> np.ndarray:
        obs = self._skip_reset(noops)
        if not self.fire:
            return obs
        obs, _, done = self._skip_step(1)
        if done:
            self._skip_reset(noops)
        obs, _, done = self._skip_step(2)
        if done:
            self._skip_reset(noops)
        return obs

    # WarpFrameTF
    def _warp(self, obs: np.ndarray) -> np.ndarray:
        frame = np.dot(obs.astype("float32"), np.array([0.299, 0.587, 0.114], "float32"))
        resized = self.tf.compat.v1.image.resize_bilinear(
            frame[np.newaxis, :, :, np.newaxis], (84, 84), align_corners=True
        )
        return np.asarray(resized)[0]

    # FrameStack + ScaledFloatFrame
    def _observation(self) -> np.ndarray:
        return np.array(np.concatenate(self.frames, axis=2)).astype(np.float32) * (1 / 255.0)

    def reset(self, noops: int) -> np.ndarray:
        ob = self._warp(self._fire_reset(noops))
        for _ in range(4):
            self.frames.append(ob)
        return self._observation()

    def step(self, action: int) -> tuple[np.ndarray, float, bool]:
        obs, reward, done = self._skip_step(action)
        self.frames.append(self._warp(obs))
        return self._observation(), reward, done


def play_integer_pipeline(game, seed, protocol, reference_cls) -> int:
    """Play env and reference side by side; assert uint8 equality; return the game overs."""
    env = AtariEnv(game, seed, protocol)
    ref = reference_cls(raw_ale(game, seed, protocol))
    noops = {"noops": 0} if reference_cls is AtariAgentsReference else {}

    def reset_both() -> None:
        obs = env.reset()
        extra = {"noops": env.noops_done} if noops else {}
        expected = ref.reset(**extra)
        np.testing.assert_array_equal(env.observation_uint8(), expected)
        np.testing.assert_array_equal(np.rint(obs * 255).astype(np.uint8), expected)
        np.testing.assert_array_equal(env.ram(), ref.ale.getRAM())

    reset_both()
    game_overs = 0
    for i, action in enumerate(action_sequence(len(env.actions))):
        result = env.step(action)
        expected, reward, done = ref.step(action)
        np.testing.assert_array_equal(env.observation_uint8(), expected, err_msg=f"step {i}")
        assert (result.reward, result.game_over) == (reward, done), f"step {i}"
        assert result.observation.dtype == np.float32 and result.observation.shape == (84, 84, 4)
        if done:
            game_overs += 1
            reset_both()
    return game_overs


# --- exact, frame for frame, against the references ----------------------------------


@pytest.mark.parametrize("cap", [401, 402, 403, 404])
def test_dopamine_matches_reference_at_each_end_frame(cap):
    """The cap ends the game at each frame of a skip in turn (stale buffers before the 4th)."""
    protocol = DOPAMINE.with_overrides(max_frames=cap)
    assert play_integer_pipeline("Seaquest", 11, protocol, DopamineReference) >= 1


def test_dopamine_matches_reference_full_game():
    assert play_integer_pipeline("Breakout", 5, DOPAMINE, DopamineReference) == 0


@pytest.mark.parametrize("cap", [401, 402, 403, 404])
def test_atari_agents_modern_matches_reference_at_each_end_frame(cap):
    """The cap ends the game at each frame of a skip in turn (zero frames before the 3rd)."""
    protocol = ATARI_AGENTS_MODERN.with_overrides(max_frames=cap)
    assert play_integer_pipeline("Breakout", 3, protocol, AtariAgentsReference) >= 1


def test_atari_agents_classic_matches_reference_with_raw_noop_zero():
    """Random no-op counts (raw action 0) move a 102-frame cap across the skip's frames."""
    protocol = ATARI_AGENTS_CLASSIC.with_overrides(max_frames=102)
    assert play_integer_pipeline("Pong", 4, protocol, AtariAgentsReference) >= 5


def test_atari_agents_frames_not_reached_stay_zero():
    """The game ends at a skip's first frame: both pooled frames were never written."""
    env = AtariEnv("Pong", 0, ATARI_AGENTS_MODERN.with_overrides(max_frames=4 * 20 + 1))
    env.reset()
    results = [env.step(0) for _ in range(21)]
    assert [r.game_over for r in results] == [False] * 20 + [True]
    last = env.observation_uint8()
    assert last[..., -1].max() == 0 and last[..., -2].max() > 0


def test_dopamine_early_game_over_reuses_stale_buffers():
    """Same early end in Dopamine: the stale pooled buffer comes back, not zeros."""
    env = AtariEnv("Pong", 0, DOPAMINE.with_overrides(max_frames=4 * 20 + 1, sticky_actions=0.0))
    env.reset()
    results = [env.step(0) for _ in range(21)]
    assert results[-1].game_over
    last = env.observation_uint8()
    np.testing.assert_array_equal(last[..., -1], last[..., -2])


# --- the zoo's TensorFlow pipeline ----------------------------------------------------


@pytest.fixture(scope="module")
def tf():
    import tensorflow

    return tensorflow


def real_screens(games: tuple[str, ...], per_game: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(RGB, ALE grayscale) screens of real play (random actions), every 4th frame."""
    screens = []
    for game in games:
        ale = raw_ale(game, 1, ZOO_TF)
        actions = ale.getMinimalActionSet()
        rng = np.random.default_rng(0)
        for _ in range(per_game):
            for _ in range(4):
                ale.act(actions[rng.integers(len(actions))])
            if ale.game_over():
                ale.reset_game()
            screens.append((ale.getScreenRGB(), ale.getScreenGrayscale()))
    return screens


@pytest.mark.slow
def test_bilinear_resize_matches_tensorflow(tf):
    screens = real_screens(("Breakout", "Pong", "Seaquest"), per_game=100)
    grays = np.stack([preprocess.gray_dot(rgb) for rgb, _ in screens])
    expected = tf.compat.v1.image.resize_bilinear(grays[..., None], (84, 84), align_corners=True)
    expected = np.asarray(expected)[..., 0]
    mine = np.stack([preprocess.resize_bilinear_align_corners(g) for g in grays])
    assert len(screens) >= 200 and mine.dtype == np.float32
    assert np.abs(mine - expected).max() < TF_TOLERANCE


@pytest.mark.slow
def test_zoo_tf_episode_matches_tensorflow_reference(tf):
    """Breakout has FIRE: no-ops below the skip, FIRE and action 2 through it, 'first' stack.

    A 121-frame cap with 4..7 no-ops (+ 8 FIRE-reset frames) ends episodes at each of the
    skip's 4 frames; an end at its 1st frame pools with the previous step's last screen.
    """
    protocol = ZOO_TF.with_overrides(max_frames=121)
    env = AtariEnv("Breakout", 9, protocol)
    ref = ZooTfReference(raw_ale("Breakout", 9, protocol), tf)
    noop_counts = iter([4, 5, 6, 7, 4, 5, 6, 7])

    def reset_both() -> None:
        noops = next(noop_counts)
        obs = env.reset(noops=noops)
        assert np.abs(obs - ref.reset(noops)).max() < TF_TOLERANCE / 255
        np.testing.assert_array_equal(env.ram(), ref.ale.getRAM())

    reset_both()
    game_overs = 0
    for i, action in enumerate(action_sequence(len(env.actions), steps=150)):
        result = env.step(action)
        expected, reward, done = ref.step(action)
        assert np.abs(result.observation - expected).max() < TF_TOLERANCE / 255, f"step {i}"
        assert (result.reward, result.game_over) == (reward, done), f"step {i}"
        if done:
            game_overs += 1
            reset_both()
    assert game_overs >= 4


def test_playing_does_not_import_tensorflow():
    code = (
        "import sys\n"
        "from zoo_site.rollouts.ale import AtariEnv\n"
        "from zoo_site.rollouts.protocols import ZOO_TF\n"
        "env = AtariEnv('Breakout', 0, ZOO_TF); env.reset(); env.step(1)\n"
        "assert 'tensorflow' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the old fault ----------------------------------------------------------------------


def test_old_pillow_box_pipeline_differs_from_inter_area():
    """The replaced atari.py: Pillow's BOX of a rounded RGB gray. No pipeline trained on it."""
    from PIL import Image

    weights = np.array([0.299, 0.587, 0.114], np.float32)
    diffs = []
    for rgb, ale_gray in real_screens(("Breakout", "Seaquest"), per_game=50):
        gray = np.rint(rgb.astype(np.float32) @ weights).astype(np.uint8)
        old = np.asarray(Image.fromarray(gray).resize((84, 84), Image.Resampling.BOX))
        diffs.append(np.abs(old.astype(np.int16) - area(ale_gray)))
    diff = np.stack(diffs)
    assert diff.mean() > 0.5 and diff.max() > 20


# --- protocol mechanics -----------------------------------------------------------------


def observations(protocol: PlayProtocol, seed: int, game: str = "Breakout") -> np.ndarray:
    env = AtariEnv(game, seed, protocol)
    frames = [env.reset()]
    for action in action_sequence(len(env.actions), steps=100):
        result = env.step(action)
        frames.append(result.observation)
        if result.game_over:
            frames.append(env.reset())
    return np.stack(frames)


@pytest.mark.parametrize("protocol", [ZOO_TF, DOPAMINE, ATARI_AGENTS_CLASSIC])
def test_same_seed_same_episode(protocol):
    np.testing.assert_array_equal(observations(protocol, 3), observations(protocol, 3))


def test_sticky_actions_change_play():
    sticky = observations(ATARI_AGENTS_MODERN, 3)
    plain = observations(ATARI_AGENTS_MODERN.with_overrides(sticky_actions=0.0), 3)
    assert sticky.shape != plain.shape or not np.array_equal(sticky, plain)


def test_different_seeds_differ_with_noops():
    assert not np.array_equal(
        observations(ATARI_AGENTS_CLASSIC, 1), observations(ATARI_AGENTS_CLASSIC, 2)
    )


def noop_counts(protocol: PlayProtocol, draws: int = 1000) -> set[int]:
    """The no-op counts a seeded env draws at resets (drawn directly, resets are slow)."""
    env = AtariEnv("Pong", 0, protocol)
    return {env._noop_count() for _ in range(draws)}


def test_noop_counts_follow_the_mode():
    assert noop_counts(ATARI_AGENTS_CLASSIC) == set(range(30))  # random.randrange(30)
    assert noop_counts(ZOO_TF) == set(range(1, 31))  # baselines: randint(1, noop_max + 1)
    assert noop_counts(DOPAMINE, draws=3) == {0}
    env = AtariEnv("Pong", 0, ZOO_TF)
    for _ in range(5):
        env.reset()
        assert 1 <= env.noops_done <= 30


def test_classic_noops_are_raw_action_zero():
    env = AtariEnv("Breakout", 0, ATARI_AGENTS_CLASSIC)
    ref = AtariAgentsReference(raw_ale("Breakout", 0, ATARI_AGENTS_CLASSIC))
    for noops in (0, 13, 29):
        env.reset(noops=noops)
        np.testing.assert_array_equal(env.observation_uint8(), ref.reset(noops))
        np.testing.assert_array_equal(env.ram(), ref.ale.getRAM())
    assert env.action_names[0] == "NOOP"


def test_stack_starts():
    zoo = AtariEnv("Breakout", 0, ZOO_TF).reset()
    assert all(np.array_equal(zoo[..., k], zoo[..., 3]) for k in range(3)) and zoo.max() > 0
    for protocol in (DOPAMINE, ATARI_AGENTS_MODERN):
        obs = AtariEnv("Breakout", 0, protocol).reset()
        assert obs[..., :3].max() == 0 and obs[..., 3].max() > 0


def test_canonical_observations():
    env = AtariEnv("Seaquest", 0, DOPAMINE)
    env.reset()
    obs = env.step(0).observation
    assert obs.dtype == np.float32 and obs.shape == (84, 84, 4) and 0 <= obs.min() <= obs.max() <= 1
    np.testing.assert_array_equal(np.rint(obs * 255).astype(np.uint8), env.observation_uint8())
    with pytest.raises(ValueError, match="float"):
        AtariEnv("Seaquest", 0, ZOO_TF).observation_uint8()


def test_surface():
    env = AtariEnv("Pong", 0, ATARI_AGENTS_MODERN)
    assert env.screen().shape == (210, 160, 3) and env.screen().dtype == np.uint8
    assert env.ram().shape == (128,)
    assert env.action_names == minimal_action_names("Pong")
    assert rom_id("MontezumaRevenge") == "montezuma_revenge"
    with pytest.raises(ValueError, match="NoSuchGame"):
        AtariEnv("NoSuchGame", 0, DOPAMINE)
