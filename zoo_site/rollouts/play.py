"""Play a network in the emulator under its source's protocol and record a rollout.

The network sees exactly what the protocol's pipeline makes of the screen (see ale.py);
each step records the observation it acted on, the RGB screen at that moment (the video's
frame), the RAM, the dense layer (the zoo's `representation`), the running score before
the action, the action and the reward that followed.
"""

from __future__ import annotations

import numpy as np

from zoo_site.networks.base import Network
from zoo_site.rollouts.npz import as_arrays
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
    """`steps` agent steps of `game` (episodes restart until that many are recorded)."""
    from zoo_site.rollouts.ale import AtariEnv

    env = AtariEnv(game, seed, protocol)
    rng = np.random.default_rng(seed + 1)
    rec: dict[str, list] = {k: [] for k in (*RECORDED, "rewards")}
    returns: list[float] = []
    obs, running = env.reset(), 0.0
    for _ in range(steps):
        out = network.run(obs[None], ["output", "fc"])
        action = choose(out["output"][0], protocol, rng)
        values = (obs, env.screen(), env.ram(), out["fc"][0], running, action)
        for key, value in zip(RECORDED, values, strict=True):
            rec[key].append(value)
        result = env.step(action)
        running += result.reward
        rec["rewards"].append(result.reward)
        obs = result.observation
        if result.game_over:
            returns.append(running)
            obs, running = env.reset(), 0.0
    return as_arrays(rec, returns, env.action_names)
