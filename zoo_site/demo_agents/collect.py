"""(observation, scripted action) pairs, played in the emulator under a play protocol.

The observations are `rollouts.ale.AtariEnv`'s, so exactly what a network played under the
same protocol sees. The scripted player labels every step; the action taken is its choice,
or (see `ScriptedPlayer.explore`) a random one, so that the states are diverse. Play is
cut into segments, each from a fresh reset with its own seed, so that the data looks like
the beginnings of episodes the demo's rollouts show.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from zoo_site.demo_agents.scripted import PLAYERS
from zoo_site.rollouts.protocols import PlayProtocol


@dataclass(frozen=True)
class Pairs:
    observations: np.ndarray
    """(N, 84, 84, 4) as the protocol's pipeline makes them: uint8 for the integer
    pipelines, else canonical float32 in [0, 1]; `canonical` turns a batch into float32."""
    actions: np.ndarray
    """(N,) int64: the scripted player's action for each observation."""
    features: np.ndarray
    """(N, F) float32: what the player read and worked out (`ScriptedPlayer.features`)."""
    objects: np.ndarray
    """(N, 2, 2) float32: the screen (x, y) of the ball and the paddle (NaN: no ball)."""

    def __len__(self) -> int:
        return len(self.actions)

    def take(self, index: np.ndarray | slice) -> Pairs:
        return Pairs(self.observations[index], self.actions[index], self.features[index],
                     self.objects[index])  # fmt: skip

    def __add__(self, other: Pairs) -> Pairs:
        return Pairs(*(np.concatenate([a, b]) for a, b in zip(self.arrays(), other.arrays(),
                                                             strict=True)))  # fmt: skip

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.observations, self.actions, self.features, self.objects


def canonical(observations: np.ndarray) -> np.ndarray:
    """A batch of stored observations as canonical float32 [0, 1] ones."""
    from zoo_site.rollouts.preprocess import to_canonical_uint8

    if observations.dtype == np.uint8:
        return to_canonical_uint8(observations)
    return observations


def segment_seed(seed: int, game: str, protocol: str, segment: int) -> int:
    text = f"demo-training/{seed}/{game}/{protocol}/{segment}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=4).digest(), "little")


def collect(
    game: str,
    protocol: PlayProtocol,
    steps: int,
    segment: int,
    epsilon: float,
    seed: int,
    first_segment: int = 0,
    policy: Callable[[np.ndarray], int] | None = None,
) -> Pairs:
    """`steps` labelled observations of `game`, in segments of `segment` agent steps
    numbered from `first_segment` (each segment's seed comes from `seed` and its number,
    so other numbers give other, held-out, episodes).

    The action taken is the scripted player's (see `ScriptedPlayer.explore`), or, given a
    `policy` (a network: canonical observation -> action), the policy's, a uniformly
    random one with probability `epsilon`: the states the network itself gets into,
    labelled by the player (DAgger)."""
    from zoo_site.rollouts.ale import AtariEnv

    player = PLAYERS[game]()
    uint8 = protocol.screen != "tf_bilinear"
    observations: list[np.ndarray] = []
    actions: list[int] = []
    features: list[np.ndarray] = []
    objects: list[np.ndarray] = []
    number = first_segment
    while len(actions) < steps:
        env = AtariEnv(game, segment_seed(seed, game, protocol.name, number), protocol)
        number += 1
        if tuple(env.action_names) != player.actions:
            raise RuntimeError(f"{game}: the emulator's actions {env.action_names} are not "
                               f"the scripted player's {list(player.actions)}")  # fmt: skip
        rng = np.random.default_rng(env.seed + 1)
        env.reset()
        player.reset()
        for _ in range(min(segment, steps - len(actions))):
            label = player.act(env.ram())
            observations.append(env.observation_uint8() if uint8 else env.observation())
            actions.append(label)
            features.append(player.features)
            objects.append(player.objects)
            if policy is None:
                action = player.explore(label, rng, epsilon)
            elif rng.random() < epsilon:
                action = int(rng.integers(len(player.actions)))
            else:
                action = policy(env.observation())
            if env.step(action).game_over:
                env.reset()
                player.reset()
    return Pairs(np.stack(observations), np.asarray(actions, np.int64), np.stack(features),
                 np.stack(objects))  # fmt: skip
