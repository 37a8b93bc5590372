"""How fast the noise-robustness evaluation plays: lockstep against one episode at a time.

A Nature-CNN frozen graph in the Dopamine convention (random weights: the speed of a step
does not depend on them, and no training is needed), Pong under the Dopamine protocol with
ε = 0.1, the default five noise levels × --episodes episodes, each cut at --max-steps:

- lockstep: `robustness.evaluate` (one batched network call per step for every running
  episode) with --workers emulator processes pipelined with the network's calls (the
  headline), and in one process;
- reference: the same episodes one at a time with batch-1 calls (`lockstep=False`);
- the parts of a step, measured alone in the same run: an emulator step (the protocol's
  frame skip and preprocessing), drawing one observation's noise, a batch-1 network call,
  and a batched call per observation — and from them the largest speed-up lockstep can
  reach when only the network calls are shared (Amdahl's bound), on one core and with
  every part spread perfectly over two.

Every way must give the same returns (the script exits non-zero otherwise). The setup —
making and resetting the emulators (about 0.1 s each), starting the workers — is timed
apart and left out of the rates; `lockstep_speedup_with_setup` counts it.

Run: python benchmarks/robustness.py [--episodes 3] [--max-steps 300] [--workers 2]. The last
line is JSON with `lockstep_speedup` and both rates.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from zoo_site.analysis import robustness
from zoo_site.networks import load_network
from zoo_site.networks.netbuild import build_dqn_graph
from zoo_site.rollouts.ale import AtariEnv, minimal_action_names
from zoo_site.rollouts.protocols import PROTOCOLS
from zoo_site.sources.base import ModelRef

GAME = "Pong"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    return parser.parse_args()


def timed(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def parts(network, protocol, batch: int) -> dict[str, float]:
    env = AtariEnv(GAME, 0, protocol)
    obs = env.reset()
    rng = np.random.default_rng(0)

    def step() -> None:
        if env.step(int(rng.integers(len(env.actions)))).game_over:
            env.reset()

    many = np.repeat(np.asarray(obs, np.float32)[None], batch, axis=0)
    network.run(many, ["output"])
    network.run(many[:1], ["output"])
    return {
        "emulator_ms": timed(step, 300) * 1e3,
        "noise_ms": timed(lambda: rng.standard_normal(obs.shape, np.float32), 300) * 1e3,
        "call_1_ms": timed(lambda: network.run(many[:1], ["output"]), 200) * 1e3,
        "call_batched_ms_per_obs": timed(lambda: network.run(many, ["output"]), 50) * 1e3 / batch,
    }


def main() -> int:
    args = parse_args()
    actions = len(minimal_action_names(GAME))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model1_final.pb"
        path.write_bytes(build_dqn_graph(actions, seed=0).SerializeToString())
        network = load_network(ModelRef(path, "frozen_graph", "dqn"), actions=actions)
    protocol = PROTOCOLS["dopamine"].with_overrides(epsilon=0.1)
    settings = robustness.RobustnessSettings(episodes=args.episodes, max_steps=args.max_steps)
    batch = len(settings.levels) * settings.episodes

    def run(**how) -> tuple[float, float, robustness.RobustnessResult]:
        """Steps per second after the setup (making and resetting the emulators, starting
        any workers: timed apart and left out, the same in every mode) and in all."""
        timing: dict[str, float] = {}
        start = time.perf_counter()
        result = robustness.evaluate(network, GAME, protocol, settings, timing=timing, **how)
        total = time.perf_counter() - start
        steps = result.steps.sum()
        return steps / (total - timing["setup_s"]), steps / total, result

    network.run(np.zeros((batch, 84, 84, 4), np.float32), ["output"])
    work_rate, work_all, work = run(lockstep=True, workers=args.workers)
    lock_rate, lock_all, lock = run(lockstep=True)
    one_rate, one_all, one = run(lockstep=False)
    same = all(bool((r.returns == one.returns).all() and (r.steps == one.steps).all())
               for r in (work, lock))  # fmt: skip
    p = parts(network, protocol, batch)
    shared = p["emulator_ms"] + p["noise_ms"]
    bound = (shared + p["call_1_ms"]) / (shared + p["call_batched_ms_per_obs"])
    cores_bound = 2 * bound  # every part spread perfectly over two cores
    result = {
        "same_returns": same,
        "lockstep_speedup": round(work_rate / one_rate, 2),
        "lockstep_steps_per_s": round(work_rate, 1),
        "one_at_a_time_steps_per_s": round(one_rate, 1),
        "workers": args.workers,
        "in_process_lockstep_speedup": round(lock_rate / one_rate, 2),
        "in_process_lockstep_steps_per_s": round(lock_rate, 1),
        "lockstep_speedup_with_setup": round(work_all / one_all, 2),
        "batch": batch,
        "steps": int(one.steps.sum()),
        **{k: round(v, 3) for k, v in p.items()},
        "amdahl_bound_one_core": round(bound, 2),
        "bound_two_cores": round(cores_bound, 2),
    }
    print(f"lockstep with {args.workers} emulator workers {work_rate:.0f} steps/s, in one process "
          f"{lock_rate:.0f} steps/s, one episode at a time {one_rate:.0f} steps/s: "
          f"{result['lockstep_speedup']}x and {result['in_process_lockstep_speedup']}x "
          f"(batch {batch}; setup left out)")  # fmt: skip
    print(f"a step: emulator {p['emulator_ms']:.2f} ms, noise {p['noise_ms']:.2f} ms, network "
          f"{p['call_1_ms']:.2f} ms alone or {p['call_batched_ms_per_obs']:.2f} ms in a batch: "
          f"sharing the calls gives at most {bound:.2f}x on one core, {cores_bound:.2f}x with "
          "every part spread perfectly over two")  # fmt: skip
    if not same:
        print("MISMATCH: the modes' returns differ")
    print(json.dumps(result))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
