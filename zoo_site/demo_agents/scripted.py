"""Scripted players that read the ball and paddle positions from the console's RAM.

The addresses were found by experiment (ale-py 0.12 and the ROMs it ships): random play,
each of the 128 RAM bytes correlated with the positions of the ball and the paddles found
by their colours on the screen (docs/demo.md has the figures). They agree with the
community's lists (e.g. AtariARI's).

A player is asked once per agent step, with the RAM at the moment of the observation it
labels (the frame stack ending at that step), so what it uses is on the screen the network
sees: positions, and velocities (the change since the step before, visible in the stack).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

#: Pong: the ball's x and y (0 while no ball is in play), the agent's paddle (right,
#: green) and the computer's paddle (left), as RAM bytes.
PONG_RAM = {"ball_x": 49, "ball_y": 54, "player_y": 51, "cpu_y": 50}
#: Breakout: the ball's x and y (y is 0 while no ball is in play) and the paddle's x.
BREAKOUT_RAM = {"ball_x": 99, "ball_y": 101, "paddle_x": 72}
#: RAM value -> screen pixel (x or y of the top-left corner of the ball or paddle), as
#: measured: screen = RAM + offset (the paddles to within a pixel, they move in steps).
SCREEN_OFFSETS = {
    "Pong": {"ball_x": -49, "ball_y": -15, "player_y": -14, "cpu_y": -15},
    "Breakout": {"ball_x": -49, "ball_y": 9, "paddle_x": -47},
}


def reflect(value: float, low: float, high: float) -> float:
    """`value` folded into [low, high], as a ball bouncing between two walls would be."""
    span = high - low
    m = (value - low) % (2 * span)
    return low + (m if m <= span else 2 * span - m)


class ScriptedPlayer:
    """`reset()` at an episode's start, then `act(ram)` once per agent step.

    After each `act`, `features` and `objects` hold what it read and worked out: the
    auxiliary targets of the training (train.py), never the network's input.
    """

    game: ClassVar[str]
    actions: ClassVar[tuple[str, ...]]
    """The game's minimal action set, in network order (checked against the emulator)."""
    FEATURES: ClassVar[tuple[str, ...]]
    """The names of `features`, each scaled to about [-1, 1]."""

    def __init__(self) -> None:
        self.previous: tuple[int, int, int] | None = None
        self.features = np.zeros(len(self.FEATURES), np.float32)
        self.objects = np.full((2, 2), np.nan, np.float32)
        """The screen (x, y) of the ball's middle and the paddle's (NaN: no ball)."""

    def reset(self) -> None:
        self.previous = None

    def act(self, ram: np.ndarray) -> int:
        raise NotImplementedError

    def explore(self, label: int, rng: np.random.Generator, epsilon: float) -> int:
        """The action taken while collecting: the label, or with probability `epsilon` a
        uniformly random action, so that the states are diverse (mistakes and the
        recoveries from them are in the data too)."""
        if rng.random() < epsilon:
            return int(rng.integers(len(self.actions)))
        return label


class PongPlayer(ScriptedPlayer):
    """Moves its paddle to where the ball will cross the paddle's column.

    While the ball comes towards it, that height is extrapolated from the ball's velocity,
    bouncing off the walls; while it goes away, the paddle follows the ball's height; with
    no ball in play it waits in the middle. The paddle drifts on after a move, so its
    position is led by its velocity.
    """

    game = "Pong"
    actions = ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")
    FEATURES = ("ball", "ball_x", "ball_y", "paddle_y", "ball_vx", "ball_vy", "paddle_vy",
                "target", "gap")  # fmt: skip
    STAY, UP, DOWN = 0, 2, 3  # RIGHT moves the paddle up, LEFT down
    PADDLE_X = 189  # the ball's RAM x where it meets the paddle
    WALLS = (49, 205)  # the ball's RAM y at the top and bottom walls
    CENTRE = 7  # ball_y - player_y when the ball is level with the paddle's middle
    DEADBAND = 4

    def act(self, ram: np.ndarray) -> int:
        r = PONG_RAM
        bx, by, py = int(ram[r["ball_x"]]), int(ram[r["ball_y"]]), int(ram[r["player_y"]])
        previous, self.previous = self.previous, (bx, by, py)
        previous = previous or self.previous  # an episode's first step: no velocity yet
        vx, vy, vp = bx - previous[0], by - previous[1], py - previous[2]
        present = bx != 0 and by != 0
        if not present:
            target = float(sum(self.WALLS) // 2)
        elif 0 < vx <= 12 and abs(vy) <= 20:
            target = reflect(by + vy * (self.PADDLE_X - bx) / vx, *self.WALLS)
        else:
            target = float(by)
        gap = target - self.CENTRE - (py + vp)
        self.features = np.array(
            [present, (bx - 128) / 80 * present, (by - 128) / 80 * present, (py - 128) / 80,
             vx / 8 * present, vy / 8 * present, vp / 8, (target - 128) / 80, gap / 40], np.float32
        )  # fmt: skip
        ball = (bx - 48, by - 13) if present else (np.nan, np.nan)
        self.objects = np.array([ball, (141.5, py - 6)], np.float32)
        if gap > self.DEADBAND:
            return self.DOWN
        if gap < -self.DEADBAND:
            return self.UP
        return self.STAY


class BreakoutPlayer(ScriptedPlayer):
    """Serves (FIRE) when no ball is in play; else moves the paddle's middle to where a
    falling ball will reach the paddle's row (extrapolated from its velocity, bouncing off
    the side walls), and back to the middle of the field while the ball rises.

    A press moves the paddle about 11 pixels in its step and it drifts about as far in
    the next, more than half its width: so the paddle's position is led by half its last
    move, and it is left alone within 8 pixels of the target.
    """

    game = "Breakout"
    actions = ("NOOP", "FIRE", "RIGHT", "LEFT")
    FEATURES = ("ball", "ball_x", "ball_y", "paddle_x", "ball_vx", "ball_vy", "paddle_vx",
                "target", "gap")  # fmt: skip
    STAY, FIRE, RIGHT, LEFT = 0, 1, 2, 3
    CENTRE = 9  # ball_x - paddle_x when the ball is above the paddle's middle
    LAND = 177  # the ball's RAM y where it meets the paddle
    WALLS = (56, 200)  # the ball's RAM x at the left and right walls
    MIDDLE = 128  # the ball's RAM x in the middle of the field
    DEADBAND = 8
    DRIFT = 0.5
    HESITATE = 0.9
    """While collecting, the chance of not serving yet at a step that should: the network
    must learn to serve from such states, and a player that always serves at once leaves
    almost none in the data."""

    def act(self, ram: np.ndarray) -> int:
        r = BREAKOUT_RAM
        bx, by, px = int(ram[r["ball_x"]]), int(ram[r["ball_y"]]), int(ram[r["paddle_x"]])
        previous, self.previous = self.previous, (bx, by, px)
        present = by != 0
        vx = vy = vp = 0
        if previous is not None:
            vp = px - previous[2]
            if present and previous[1] != 0:
                vx, vy = bx - previous[0], by - previous[1]
        if not present:
            target = float(self.MIDDLE)
        elif vy > 0:
            target = reflect(bx + vx * max(self.LAND - by, 0) / vy, *self.WALLS)
        else:
            target = float(self.MIDDLE)
        gap = (target - self.CENTRE - (px + self.DRIFT * vp)) * present
        self.features = np.array(
            [present, (bx - 128) / 80 * present, (by - 128) / 80 * present, (px - 100) / 60,
             vx / 8, vy / 8, vp / 20, (target - 128) / 80, gap / 40], np.float32
        )  # fmt: skip
        ball = (bx - 48, by + 11) if present else (np.nan, np.nan)
        self.objects = np.array([ball, (px - 39, 191.5)], np.float32)
        if not present:
            return self.FIRE
        if gap > self.DEADBAND:
            return self.RIGHT
        if gap < -self.DEADBAND:
            return self.LEFT
        return self.STAY

    def explore(self, label: int, rng: np.random.Generator, epsilon: float) -> int:
        if label == self.FIRE and rng.random() < self.HESITATE:
            return int(rng.choice([self.STAY, self.RIGHT, self.LEFT]))
        return super().explore(label, rng, epsilon)


PLAYERS: dict[str, type[ScriptedPlayer]] = {p.game: p for p in (PongPlayer, BreakoutPlayer)}
"""The games that have a scripted player, and so can have trained demo agents."""
