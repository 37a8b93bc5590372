"""Saliency maps mean something: on the demo's trained Breakout agents, the actor map's
peak (Greydanus et al.'s perturbation method, as the build computes it) is near the ball or
the paddle on most steps where the ball is in view, far more often than chance.

The ball and the paddle are located without the network: from the RAM addresses the
scripted players use (checked against the screen in test_demo_training.py), each ball
position confirmed by the ball's colour on the recorded screen. The trained networks are
the `final` graphs of the session's demo zoo, loaded and played as the build plays them.
"""

from __future__ import annotations

import numpy as np
import pytest

from zoo_site.analysis.saliency import SaliencySettings, perturbation_scores
from zoo_site.demo import DemoSpec
from zoo_site.demo_agents.scripted import BREAKOUT_RAM, SCREEN_OFFSETS
from zoo_site.networks import load_network
from zoo_site.rollouts.play import play
from zoo_site.sources.base import ModelRef
from zoo_site.sources.zoo_layout import PROTOCOLS

pytestmark = pytest.mark.slow

STEPS = 400
"""Agent steps played per convention (episodes of other seeds than the demo's rollouts)."""
SEED = 2026
EVERY = 2
"""The maps of every EVERY-th step where the ball is in view (about 190 steps)."""
BASELINE_EVERY = 4
"""The untrained network's maps: every BASELINE_EVERY-th of those steps."""
NEAR = 10.0
"""Observation pixels (two grid spacings of 5): the peak is 'near' within this distance of
the ball's middle or of the paddle's extent. A grid position is at most 3.5 px from any
point, and the blurred disk the method perturbs has sigma 5 px, so finer is not meaningful."""
AT_LEAST = {"dqn": 0.8, "apex": 0.4}
"""The share of steps with the ball in view where the trained actor map's peak is near.

Measured on this machine (the demo's default training; 300-400 steps, ε = 0.1, five
seeds), with NEAR = 10:

- dqn (Dopamine convention): 0.91-0.94. Chance: 0.09 for a uniformly random grid position,
  0.00 for the untrained `initial` network's peak.
- apex (Ape-X convention): 0.46-0.60; the other peaks are nearly all (0.45 of the steps) on
  the lives counter at the top of the screen: the agent reads it (a lost life means the
  next ball must be served). So "most steps" holds for dqn but only about half the steps
  for apex, and its bound is set below what was measured, not at "most". Chance: 0.09
  uniform, 0.07 for `initial`. Its critic map is a little better (0.51-0.70).
"""
MARGIN = 0.3
"""The trained share must also beat both chance baselines by this much."""
WITH_LIVES = 0.85
"""Near the ball, the paddle or the lives counter: measured 0.98-0.99 (apex), 0.91-0.94
(dqn, whose peaks are almost never on the counter)."""

BALL_COLOUR = (200, 72, 72)  # the ball's and the paddle's
BALL_SIZE = (2, 4)  # screen pixels, width and height
PADDLE_WIDTH = 16
PADDLE_ROWS = (189, 192)  # screen rows the paddle is drawn on
LIVES_DIGIT = (105.5, 9.5)  # screen x, y of the middle of the lives counter's digit
SCREEN = (160, 210)  # width, height


def to_obs(value, screen_size: int) -> np.ndarray:
    """A screen x (or y) -> the observation's column (or row): the screen is resized to 84
    pixels whole, pixel centres mapped to pixel centres (the 'tf' pipeline's align_corners
    resize maps the ends to the ends instead: at most half a pixel apart)."""
    return (np.asarray(value, np.float64) + 0.5) * 84 / screen_size - 0.5


def locate(rollout: dict) -> dict[str, np.ndarray]:
    """Per step: whether the ball is in view, its middle, and the paddle's row and extent,
    in observation coordinates (rows, columns)."""
    ram = rollout["ram"].astype(int)
    offset = SCREEN_OFFSETS["Breakout"]
    bx = ram[:, BREAKOUT_RAM["ball_x"]] + offset["ball_x"]
    by = ram[:, BREAKOUT_RAM["ball_y"]] + offset["ball_y"]
    px = ram[:, BREAKOUT_RAM["paddle_x"]] + offset["paddle_x"]
    w, h = BALL_SIZE
    visible = np.zeros(len(ram), bool)
    for k, screen in enumerate(rollout["frames"]):
        if ram[k, BREAKOUT_RAM["ball_y"]] == 0:  # no ball in play
            continue
        box = screen[max(by[k], 0) : by[k] + h, max(bx[k], 0) : bx[k] + w]
        visible[k] = bool((box == BALL_COLOUR).all(axis=-1).any())
    paddle_row = to_obs((PADDLE_ROWS[0] + PADDLE_ROWS[1]) / 2, SCREEN[1])
    return {
        "visible": visible,
        "ball": np.stack(
            [to_obs(by + (h - 1) / 2, SCREEN[1]), to_obs(bx + (w - 1) / 2, SCREEN[0])], axis=1
        ),
        "paddle": np.stack(
            [
                np.full(len(ram), paddle_row),
                to_obs(px, SCREEN[0]),
                to_obs(px + PADDLE_WIDTH - 1, SCREEN[0]),
            ],
            axis=1,
        ),
        "paddle_seen": np.array(
            [
                (screen[PADDLE_ROWS[0], x : x + PADDLE_WIDTH] == BALL_COLOUR).all(axis=-1).mean()
                for screen, x in zip(rollout["frames"], px, strict=True)
            ]
        ),
    }


def distance(rows, cols, ball: np.ndarray, paddle: np.ndarray) -> np.ndarray:
    """From grid positions (rows, cols) to the nearer of the ball's middle and the paddle's
    extent (a horizontal segment), per step; broadcasts positions against steps."""
    to_ball = np.hypot(rows - ball[..., 0], cols - ball[..., 1])
    outside = np.maximum(np.maximum(paddle[..., 1] - cols, cols - paddle[..., 2]), 0)
    return np.minimum(to_ball, np.hypot(rows - paddle[..., 0], outside))


def peaks(maps: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """The actor map's argmax per step, as observation (row, column)."""
    actor = maps[:, 0].reshape(len(maps), -1)
    row, col = np.divmod(actor.argmax(axis=1), maps.shape[3])
    return row * stride, col * stride


@pytest.mark.parametrize("algo", ["dqn", "apex"])
def test_trained_breakout_actor_map_peaks_near_the_ball_or_the_paddle(demo_zoo, algo):
    folder = demo_zoo / algo / "BreakoutNoFrameskip-v4"
    nets = {
        tag: load_network(ModelRef(folder / f"model1_{tag}.pb", "frozen_graph", algo))
        for tag in ("final", "initial")
    }
    protocol = PROTOCOLS[algo].with_overrides(epsilon=DemoSpec().epsilon)
    rollout = play(nets["final"], "Breakout", protocol, STEPS, SEED)
    where = locate(rollout)
    visible = np.flatnonzero(where["visible"])
    # Real play, and the ball and paddle where the RAM says: the agent keeps the ball in
    # play nearly all the time, and the paddle's colour is at its RAM position.
    assert len(visible) >= 0.8 * STEPS, len(visible)
    assert np.mean(where["paddle_seen"][visible] >= 0.75) >= 0.95

    settings = SaliencySettings()
    steps = visible[::EVERY]
    ball, paddle = where["ball"][steps], where["paddle"][steps]
    observations = rollout["observations"]
    rows, cols = peaks(
        perturbation_scores(nets["final"], observations[steps], settings), settings.stride
    )
    close = distance(rows, cols, ball, paddle) <= NEAR
    lives_x, lives_y = (to_obs(v, size) for v, size in zip(LIVES_DIGIT, SCREEN, strict=True))
    on_lives = np.hypot(rows - lives_y, cols - lives_x) <= NEAR
    # Chance: the untrained network's peak, on a subset of the same steps ...
    few = slice(None, None, BASELINE_EVERY)
    rows0, cols0 = peaks(
        perturbation_scores(nets["initial"], observations[steps[few]], settings), settings.stride
    )
    initial = float(np.mean(distance(rows0, cols0, ball[few], paddle[few]) <= NEAR))
    # ... and a uniformly random grid position (exact: the mean over the grid).
    grid = np.arange(0, 84, settings.stride, dtype=np.float64)
    rows, cols = (g.ravel()[:, None] for g in np.meshgrid(grid, grid, indexing="ij"))
    uniform = float(np.mean(distance(rows, cols, ball, paddle) <= NEAR))

    measured = {
        "steps": len(steps),
        "final": round(float(close.mean()), 3),
        "initial": round(initial, 3),
        "uniform": round(uniform, 3),
        "with_lives": round(float((close | on_lives).mean()), 3),
    }
    print(f"Breakout {algo}: {measured}")
    assert measured["final"] >= AT_LEAST[algo], measured
    assert measured["final"] >= max(uniform, initial) + MARGIN, measured
    assert measured["with_lives"] >= WITH_LIVES, measured
