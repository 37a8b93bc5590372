"""Play a network in the emulator under its source's protocol and record a rollout.

The network sees exactly what the protocol's pipeline makes of the screen (see ale.py);
each step records the observation it acted on, the RGB screen at that moment (the video's
frame), the RAM, the dense layer (the zoo's `representation`), the running score before
the action, the action and the reward that followed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from zoo_site.networks.base import Network
from zoo_site.rollouts.npz import RolloutWriter, as_arrays
from zoo_site.rollouts.protocols import PlayProtocol

RECORDED = ("observations", "frames", "ram", "representation", "score", "actions")


def choose(values: np.ndarray, protocol: PlayProtocol, rng: np.random.Generator) -> int:
    """The protocol's choice from one step's output: argmax, or a sample from logits
    (Gumbel-max); a uniformly random action with probability epsilon."""
    if protocol.epsilon and rng.random() < protocol.epsilon:
        return int(rng.integers(len(values)))
    if protocol.policy == "sample":
        return int(np.argmax(values.astype(np.float64) + rng.gumbel(size=len(values))))
    return int(np.argmax(values))


def play(network: Network, game: str, protocol: PlayProtocol, steps: int, seed: int) -> dict:
    """`steps` agent steps of `game` (episodes restart until that many are recorded), as
    the zoo's arrays (see npz.as_arrays)."""
    rec: dict[str, list] = {k: [] for k in (*RECORDED, "rewards")}

    def record(values: dict) -> None:
        for key, value in values.items():
            rec[key].append(value)

    returns, names = _play(network, game, protocol, steps, seed, record)
    return as_arrays(rec, returns, names)


def play_to(path: Path, network: Network, game: str, protocol: PlayProtocol, steps: int,
            seed: int, spool_dir: Path) -> None:  # fmt: skip
    """`play`, written to a rollout npz at `path` a step at a time: memory does not grow
    with `steps` (the rows wait in temporary files in `spool_dir`)."""
    with RolloutWriter(path, spool_dir) as writer:
        returns, names = _play(network, game, protocol, steps, seed, writer.add)
        writer.finish({"ep_rewards": np.asarray(returns, np.float32),
                       "action_names": np.asarray(names)})  # fmt: skip


def _play(network: Network, game: str, protocol: PlayProtocol, steps: int, seed: int,
          record: Callable[[dict], None]) -> tuple[list[float], list[str]]:  # fmt: skip
    """Play and `record` each step's values; (the returns of ended episodes, action names)."""
    from zoo_site.rollouts.ale import AtariEnv

    env = AtariEnv(game, seed, protocol)
    rng = np.random.default_rng(seed + 1)
    returns: list[float] = []
    obs, running = env.reset(), 0.0
    for _ in range(steps):
        out = network.run(obs[None], ["output", "fc"])
        action = choose(out["output"][0], protocol, rng)
        values = dict(zip(RECORDED, (obs, env.screen(), env.ram(), out["fc"][0], running,
                                     action), strict=True))  # fmt: skip
        result = env.step(action)
        running += result.reward
        values["rewards"] = result.reward
        record(values)
        obs = result.observation
        if result.game_over:
            returns.append(running)
            obs, running = env.reset(), 0.0
    return returns, env.action_names
