"""How fast zoo-site computes perturbation saliency (Greydanus et al. 2017), against the
paper's way and against the machine's matmul rate.

One demo entry (Seaquest, the Ape-X convention: an NCHW frozen graph, trained, played for
real; made once and cached in --work) and its rollout's real observations:

- (a) ours: `saliency.perturbation_scores` on --steps steps (actor and critic maps, the
  17x17 grid of the default settings), the masks made inside the clock (once per process);
- (b) reference: the paper's code (`score_frame` of greydanus/visualize-atari), on
  --reference-steps steps: for each mode, for each grid position, the mask made by
  `get_mask`, the input occluded by `I·(1 − M) + gaussian_filter(I)·M` (the blur
  recomputed per position, as its `occlude` does) and the network run on that one input;
- the gradient method (|dL/dI|, a different measure) on the same steps, for its cost;
- (c) the machine's dense float32 matmul rate (numpy, 2048x2048, best of 5), measured in
  the same run.

The maps of (a) and (b) on the common steps must agree within 1e-4 of each map's largest
score (TensorFlow's sums differ a little between a batch of 1 and of 289), else the script
exits non-zero. Reported: `reference_over_ours` (seconds per step, target ≥ 10),
`effective_over_matmul` (a plain forward's FLOPs × 289 masks per step ÷ our time per step,
over the matmul rate), and projections for a 2,500-step entry and for 1,300 such entries
on 16 cores (core-seconds per step = seconds per step × the cores used here).

Run: python benchmarks/saliency.py [--steps 40] [--reference-steps 4] [--work DIR].
The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from zoo_site.analysis import activations, saliency
from zoo_site.demo import DemoSpec, make_demo_zoo
from zoo_site.networks import load_network
from zoo_site.networks.netbuild import NATURE_CONVS, NATURE_DENSE
from zoo_site.rollouts import npz as rollout

SETTINGS = saliency.SaliencySettings()
ENTRY_STEPS = 2500
ENTRIES = 1300
CORES = 16


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="steps for ours (default 40)")
    parser.add_argument("--reference-steps", type=int, default=4,
                        help="steps for the paper's loop (default 4)")  # fmt: skip
    parser.add_argument("--rollout-steps", type=int, default=300,
                        help="the demo entry's rollout length (default 300)")  # fmt: skip
    parser.add_argument("--work", type=Path, default=Path(".zoo-site-cache/bench-saliency"))
    return parser.parse_args()


def demo_entry(work: Path, steps: int):
    from zoo_site.sources import read_catalog

    spec = DemoSpec(games=("Seaquest",), algos=("apex",), runs=(1,), tags=("final",), steps=steps)
    (entry,) = read_catalog(make_demo_zoo(work / "zoo", spec, jobs=1)).entries
    return entry


# ---- (b) the paper's way -------------------------------------------------------------------


def get_mask(center, size, r):
    y, x = np.ogrid[-center[0] : size[0] - center[0], -center[1] : size[1] - center[1]]
    keep = x * x + y * y <= 1
    mask = np.zeros(size)
    mask[keep] = 1  # select a circle of pixels
    mask = gaussian_filter(mask, sigma=r)  # blur the circle of pixels
    return mask / mask.max()


def occlude(image, mask):
    """The paper's `occlude`, per frame of the stack: I·(1 − M) + G(I)·M."""
    m = mask[:, :, None]
    return image * (1 - m) + gaussian_filter(image, sigma=(SETTINGS.blur, SETTINGS.blur, 0)) * m


def run_through_model(network, image, mode: str):
    values = network.run(image[None].astype(np.float32), ["output"])["output"][0]
    values = values.astype(np.float64)
    return values if mode == "actor" else values.max()  # no value head: V = max_a Q


def score_frame(network, image, r: float, d: int, mode: str) -> np.ndarray:
    size = image.shape[:2]
    base = run_through_model(network, image, mode)
    scores = np.zeros((len(range(0, size[0], d)), len(range(0, size[1], d))))
    for i in range(0, size[0], d):
        for j in range(0, size[1], d):
            mask = get_mask(center=[i, j], size=size, r=r)
            perturbed = run_through_model(network, occlude(image, mask), mode)
            scores[i // d, j // d] = 0.5 * np.square(base - perturbed).sum()
    return scores


def reference(network, obs: np.ndarray) -> np.ndarray:
    return np.stack([[score_frame(network, image, SETTINGS.radius, SETTINGS.stride, mode)
                      for mode in saliency.MODES] for image in obs])  # fmt: skip


# ---- (c) and FLOPs ---------------------------------------------------------------------------


def matmul_rate(n: int = 2048, repeat: int = 5) -> float:
    """Dense float32 matmul FLOP/s (numpy), best of `repeat`."""
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def forward_flops(actions: int) -> int:
    """One Nature-CNN forward pass (multiply-adds count 2)."""
    size, channels, flops = 84, 4, 0
    for filters, k, s in NATURE_CONVS:
        size = (size - k) // s + 1
        flops += 2 * size * size * k * k * channels * filters
        channels = filters
    flops += 2 * size * size * channels * NATURE_DENSE + 2 * NATURE_DENSE * actions
    return flops


def main() -> int:
    args = parse_args()
    entry = demo_entry(args.work, args.rollout_steps)
    ro = rollout.load(entry.rollout)
    obs = activations.load_observations(entry.rollout, ro.steps, ro.observations)
    steps = min(args.steps, len(obs))
    ref_steps = min(args.reference_steps, steps)
    network = load_network(entry.model)
    assert network.output.value_head is None  # Ape-X: the critic is max Q in both
    # warm up TensorFlow's functions for both batch sizes before any clock starts
    network.run(obs[:1], ["output"])
    network.run(np.repeat(obs[:1], 289, axis=0), ["output"])

    rate = matmul_rate()

    saliency.masks.cache_clear()
    saliency.bands.cache_clear()
    start = time.perf_counter()
    ours = saliency.perturbation_scores(network, obs[:steps], SETTINGS)
    ours_time = time.perf_counter() - start

    network.gradient(obs[:2], "output", np.ones((2, network.output.actions), np.float32))
    start = time.perf_counter()
    saliency.gradient_scores(network, obs[:steps])
    gradient_time = time.perf_counter() - start

    start = time.perf_counter()
    ref = reference(network, obs[:ref_steps])
    ref_time = time.perf_counter() - start

    peak = ref.max(axis=(2, 3), keepdims=True)
    error = float((np.abs(ours[:ref_steps] - ref) / np.maximum(peak, 1e-30)).max())
    ok = error <= 1e-4 and ours.shape[1:] == (2, 17, 17)

    positions = ours.shape[2] * ours.shape[3]
    per_step = ours_time / steps
    ref_per_step = ref_time / ref_steps
    flops = forward_flops(network.output.actions) * positions
    cores = len(os.sched_getaffinity(0))
    entry_seconds = per_step * ENTRY_STEPS
    result = {
        "ok": ok,
        "max_error_over_peak": error,
        "steps_ours": steps,
        "steps_reference": ref_steps,
        "seconds_per_step": round(per_step, 4),
        "reference_seconds_per_step": round(ref_per_step, 4),
        "reference_over_ours": round(ref_per_step / per_step, 2),
        "forward_gflop_per_step": round(flops / 1e9, 3),
        "effective_gflops": round(flops / per_step / 1e9, 2),
        "matmul_gflops": round(rate / 1e9, 2),
        "effective_over_matmul": round(flops / per_step / rate, 3),
        "cores_here": cores,
        "entry_2500_steps_seconds": round(entry_seconds, 1),
        "entries_1300_on_16_cores_hours": round(ENTRIES * entry_seconds * cores / CORES / 3600, 2),
        "critic": saliency.critic_source(network),
        "gradient_seconds_per_step": round(gradient_time / steps, 5),
        "perturbation_over_gradient": round(ours_time / gradient_time, 1),
    }
    times = result["reference_over_ours"]
    print(f"ours: {per_step:.3f} s/step over {steps} steps; the paper's loop: "
          f"{ref_per_step:.3f} s/step over {ref_steps} ({times}x)")  # fmt: skip
    print(f"{result['effective_gflops']} GFLOP/s of forward passes; numpy matmul "
          f"{result['matmul_gflops']} GFLOP/s ({result['effective_over_matmul']})")  # fmt: skip
    print(f"a {ENTRY_STEPS}-step entry: {entry_seconds:.0f} s on {cores} cores; {ENTRIES} "
          f"entries on {CORES} cores: {result['entries_1300_on_16_cores_hours']} h")  # fmt: skip
    print(f"the gradient method (a different measure): {gradient_time / steps * 1e3:.2f} ms/step, "
          f"{result['perturbation_over_gradient']}x cheaper")  # fmt: skip
    if not ok:
        print(f"MISMATCH: ours and the paper's loop differ by {error:.2e} of the peak")
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
