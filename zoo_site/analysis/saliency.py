"""Saliency maps: Greydanus et al. 2017, "Visualizing and Understanding Atari Agents".

**Perturbation** (the paper's method). For a step's canonical observation I (84x84x4 in
[0, 1]) and a position (i, j) on a grid of stride d:

- the mask M(i, j) is a unit disk (x² + y² ≤ 1) at (i, j), blurred by a Gaussian of
  sigma r and divided by its maximum (the paper's `get_mask`);
- the perturbed input is I' = I·(1 − M) + G(I)·M, G a Gaussian blur of sigma `blur` of
  each frame of the stack (`scipy.ndimage.gaussian_filter`, defaults, sigma 0 along the
  stack);
- the score is S(i, j) = ½ Σ (L(I) − L(I'))² over the output vector L.

Two modes: **actor**, L is the network's output layer (Q-values, logits, or the expected
return of a distribution: what the agent acts on); **critic**, L is the value head where
the network has one (`OutputSpec.value_head`), else V = max_a of the output
(`critic_source` says which).

The work is batched: the masks depend only on the grid, r and the shape, and are made once
per process (each exactly as the paper's code makes it, so the numbers are the paper's);
G(I) is computed once per observation; the perturbed inputs of a step are made with numpy
broadcasting (in float64 as the paper's code does, then float32), `batch` of them per
network call (a call may hold the positions of several steps); one forward pass serves
both modes. `stream` writes the scores of a rollout a slice at a time.

**Gradient** (`method = "gradient"`): |∂L/∂I| summed over the stack, per pixel, where L is
the output of the greedy action (actor) or the value (critic: the value head, else the
greedy action's output, the derivative of max_a Q almost everywhere). It needs a network
with a `gradient` capability (`Differentiable`): frozen graphs (TensorFlow's GradientTape)
and the numpy Nature CNNs (a hand-written reverse pass) have one, both taking the rounding
of a uint8 input as the identity (straight-through). A network without one is refused
(finite differences would take 2 × 28,224 forward passes per step). One forward and one
backward pass per mode instead of a forward pass per grid position: much cheaper, but a
different measure (local sensitivity, not the effect of blurring a region away).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol, cast, runtime_checkable

import numpy as np

from zoo_site.networks.base import OBS_SHAPE, Network

Method = Literal["perturbation", "gradient", "off"]
MODES = ("actor", "critic")
BATCH = 289
"""Perturbed inputs per network call: one 17x17 grid (a step at the default settings)."""


@dataclass(frozen=True)
class SaliencySettings:
    method: Method = "perturbation"
    stride: int = 5
    """d: the grid's spacing in pixels (positions 0, d, 2d, ... < 84)."""
    radius: float = 5.0
    """r: the sigma of the Gaussian that blurs the unit disk of a mask."""
    blur: float = 3.0
    """The sigma of G, the blur the perturbed region fades to."""
    every: int = 1
    """Compute every k-th step (0, k, 2k, ...)."""

    def __post_init__(self) -> None:
        if self.method not in ("perturbation", "gradient", "off"):
            raise ValueError(f"saliency method must be perturbation, gradient or off, "
                             f"not {self.method!r}")  # fmt: skip
        if self.stride < 1 or self.every < 1:
            raise ValueError("saliency stride and every must be at least 1")
        if self.radius <= 0 or self.blur <= 0:
            raise ValueError("saliency radius and blur must be positive")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def grid(self, shape: tuple[int, int] = OBS_SHAPE[:2]) -> tuple[int, int]:
        """(rows, cols) of a step's scores: the grid for perturbation, pixels for gradient."""
        if self.method == "gradient":
            return shape
        return len(range(0, shape[0], self.stride)), len(range(0, shape[1], self.stride))


# ---- masks --------------------------------------------------------------------------------


def get_mask(center: tuple[int, int], size: tuple[int, int], r: float) -> np.ndarray:
    """The paper's mask: a unit disk at `center`, blurred by sigma `r`, over its maximum."""
    from scipy.ndimage import gaussian_filter

    a, b = center
    n, m = size
    y, x = np.ogrid[-a : n - a, -b : m - b]
    keep = x * x + y * y <= 1
    mask = np.zeros(size)
    mask[keep] = 1
    mask = gaussian_filter(mask, sigma=r)
    return mask / mask.max()


@lru_cache(maxsize=8)
def masks(shape: tuple[int, int], stride: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(M, 1 − M) for every grid position in row-major order, (P, H, W, 1) float64, made
    once per process (read-only)."""
    h, w = shape
    stack = np.stack([get_mask((i, j), shape, radius)
                      for i in range(0, h, stride) for j in range(0, w, stride)])  # fmt: skip
    mask, inverse = stack[..., None], (1 - stack)[..., None]
    mask.flags.writeable = inverse.flags.writeable = False
    return mask, inverse


@lru_cache(maxsize=8)
def bands(shape: tuple[int, int], stride: int, radius: float) -> tuple[tuple[int, ...], ...]:
    """(p0, p1, r0, r1) per grid row: its positions p0:p1 and the image rows r0:r1 where any
    of their masks is not zero. Outside them M = 0, so I' = I·1 + G·0 = I exactly and only
    the band needs blending (scipy's Gaussian is truncated at 4 sigma: a band is about
    2·(4r + 1) + 1 rows of 84)."""
    mask, _ = masks(shape, stride, radius)
    cols = len(range(0, shape[1], stride))
    out = []
    for p0 in range(0, len(mask), cols):
        used = np.flatnonzero(mask[p0 : p0 + cols].any(axis=(0, 2, 3)))
        r0, r1 = (int(used[0]), int(used[-1]) + 1) if len(used) else (0, 0)
        out.append((p0, p0 + cols, r0, r1))
    return tuple(out)


def blurred(observations: np.ndarray, sigma: float) -> np.ndarray:
    """G(I): each frame of each stack blurred spatially, (N, H, W, C) float32."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(np.asarray(observations, np.float32), sigma=(0, sigma, sigma, 0))


# ---- what L is -----------------------------------------------------------------------------


def critic_source(network: Network) -> str:
    """ "value_head" when the network has one, else "max_output" (V = max_a Q(s, a))."""
    return "value_head" if network.output.value_head else "max_output"


def critic_label(network: Network) -> str:
    """For people: what the critic map measures."""
    head = network.output.value_head
    if head:
        return f"the value head ({head})"
    return f"V = max over the output ({network.output.label})"


def _fetch(network: Network) -> list[str]:
    head = network.output.value_head
    return ["output", head] if head else ["output"]


def _outputs(network: Network, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L for the actor (N, A), V for the critic (N,)), float64."""
    values = network.run(inputs, _fetch(network))
    actor = np.asarray(values["output"], np.float64).reshape(len(inputs), -1)
    head = network.output.value_head
    if head:
        critic = np.asarray(values[head], np.float64).reshape(len(inputs), -1)[:, 0]
    else:
        critic = actor.max(axis=1)
    return actor, critic


# ---- perturbation ---------------------------------------------------------------------------


def perturbation_scores(
    network: Network,
    observations: np.ndarray,
    settings: SaliencySettings = SaliencySettings(),
    *,
    batch: int = BATCH,
) -> np.ndarray:
    """S for every step and grid position: (N, 2, rows, cols) float32, mode 0 the actor,
    1 the critic. `observations` are canonical (N, 84, 84, 4) in [0, 1]."""
    obs = np.asarray(observations, np.float32)
    if obs.ndim != 4 or obs.shape[1:] != OBS_SHAPE:
        raise ValueError(f"observations must be (N, 84, 84, 4), got {obs.shape}")
    rows, cols = settings.grid(obs.shape[1:3])
    mask, inverse = masks(obs.shape[1:3], settings.stride, float(settings.radius))
    positions, n = len(mask), len(obs)
    out = np.zeros((n, 2, positions), np.float32)
    if n == 0:
        return out.reshape(n, 2, rows, cols)
    fuzzy = blurred(obs, settings.blur)
    actor, critic = _outputs(network, obs)
    segments = bands(obs.shape[1:3], settings.stride, float(settings.radius))
    widest = max(p1 - p0 for p0, p1, _, _ in segments)
    batch = max(1, batch)
    inputs = np.empty((min(batch, n * positions), *obs.shape[1:]), np.float32)
    kept = np.empty((widest, *obs.shape[1:]), np.float64)  # I·(1 − M), then I'
    faded = np.empty(kept.shape, np.float64)  # G(I)·M
    for first in range(0, n * positions, batch):
        last = min(first + batch, n * positions)
        runs = _runs(first, last, positions)
        for step, p0, p1, at in runs:  # a loop over steps and grid rows, not positions
            inputs[at : at + p1 - p0] = obs[step]
            for q0, q1, r0, r1 in segments:
                a0, a1 = max(q0, p0), min(q1, p1)
                if a0 >= a1 or r0 >= r1:
                    continue
                k, f = kept[: a1 - a0, r0:r1], faded[: a1 - a0, r0:r1]
                np.multiply(obs[step, r0:r1], inverse[a0:a1, r0:r1], out=k)
                np.multiply(fuzzy[step, r0:r1], mask[a0:a1, r0:r1], out=f)
                np.add(k, f, out=k)
                inputs[at + a0 - p0 : at + a1 - p0, r0:r1] = k
        actor_p, critic_p = _outputs(network, inputs[: last - first])
        for step, p0, p1, at in runs:
            part = slice(at, at + p1 - p0)
            out[step, 0, p0:p1] = 0.5 * np.square(actor[step] - actor_p[part]).sum(axis=1)
            out[step, 1, p0:p1] = 0.5 * np.square(critic[step] - critic_p[part])
    return out.reshape(n, 2, rows, cols)


def _runs(first: int, last: int, positions: int) -> list[tuple[int, int, int, int]]:
    """The perturbed inputs first:last (of step-major (step, position) pairs) as runs of
    one step each: (step, p0, p1, offset in the call)."""
    out = []
    for step in range(first // positions, (last - 1) // positions + 1):
        p0 = max(first - step * positions, 0)
        p1 = min(last - step * positions, positions)
        out.append((step, p0, p1, step * positions + p0 - first))
    return out


# ---- gradient -------------------------------------------------------------------------------


@runtime_checkable
class Differentiable(Protocol):
    """A network that can give vector-Jacobian products of a layer w.r.t. its input."""

    def gradient(self, observations: np.ndarray, layer: str, weights: np.ndarray) -> np.ndarray:
        """∂(Σ_k weights[n, k] · layer[n, k]) / ∂I for each observation n, in canonical
        layout: (N, 84, 84, 4) float32 (`layer` a name `run` answers to; a value head's
        (N,) counts as (N, 1))."""
        ...


def gradient_scores(network: Network, observations: np.ndarray) -> np.ndarray:
    """|∂L/∂I| summed over the stack: (N, 2, 84, 84) float32 (actor, critic); L the greedy
    action's output, and the value head or V = max_a Q (its greedy action's output)."""
    if not callable(getattr(network, "gradient", None)):
        raise NotImplementedError(
            f"gradient saliency needs a network with a gradient capability; "
            f"{type(network).__name__} ({network.family}) has none: use method = "
            f'"perturbation"'
        )
    differentiable = cast(Differentiable, network)
    obs = np.asarray(observations, np.float32)
    if obs.ndim != 4 or obs.shape[1:] != OBS_SHAPE:
        raise ValueError(f"observations must be (N, 84, 84, 4), got {obs.shape}")
    if not len(obs):
        return np.zeros((0, 2, *OBS_SHAPE[:2]), np.float32)
    q = np.asarray(network.run(obs, ["output"])["output"], np.float32).reshape(len(obs), -1)
    greedy = np.zeros_like(q)
    greedy[np.arange(len(q)), np.argmax(q, axis=1)] = 1
    actor = differentiable.gradient(obs, "output", greedy)
    head = network.output.value_head
    critic = (
        differentiable.gradient(obs, head, np.ones((len(obs), 1), np.float32)) if head else actor
    )
    maps = [np.abs(np.asarray(g, np.float32)).sum(axis=3) for g in (actor, critic)]
    return np.stack(maps, axis=1)


# ---- one batch, a whole rollout ---------------------------------------------------------------


def scores(
    network: Network, observations: np.ndarray, settings: SaliencySettings = SaliencySettings()
) -> np.ndarray:
    """Every given observation's maps by `settings.method` (`every` is not applied here):
    (N, 2, rows, cols) float32."""
    if settings.method == "perturbation":
        return perturbation_scores(network, observations, settings)
    if settings.method == "gradient":
        return gradient_scores(network, observations)
    raise ValueError('saliency method is "off"')


@dataclass
class SaliencyFile:
    """The scores a `stream` wrote: float32 little-endian, C order, `shape` =
    (len(steps), 2, rows, cols); row k is step `steps[k]`, mode 0 the actor, 1 the critic."""

    path: Path
    shape: tuple[int, int, int, int]
    steps: list[int]
    settings: SaliencySettings
    critic: str
    """"value_head" or "max_output" (V = max_a Q(s, a)); `critic_label` for people."""
    critic_label: str
    modes: tuple[str, ...] = field(default=MODES)

    def as_json(self) -> dict[str, Any]:
        return {"file": self.path.name, "dtype": "<f4", "shape": list(self.shape),
                "modes": list(self.modes), "every": self.settings.every,
                "steps": len(self.steps), "critic": self.critic,
                "critic_label": self.critic_label, "settings": self.settings.as_json()}  # fmt: skip

    def read(self) -> np.ndarray:
        return np.fromfile(self.path, "<f4").reshape(self.shape)


def computed_steps(steps: int, every: int) -> list[int]:
    """The steps whose maps are computed: 0, every, 2·every, ... < steps."""
    return list(range(0, steps, every))


def stream(
    network: Network,
    batches: Iterable[tuple[int, np.ndarray]],
    steps: int,
    path: Path,
    settings: SaliencySettings = SaliencySettings(),
) -> SaliencyFile:
    """Compute the maps of every `settings.every`-th step of (start, batch) pairs
    (`activations.observation_batches`) and write them to `path` a slice at a time: memory
    does not grow with the episode. A batch starting again at 0 overwrites (rows are
    written at their step's place)."""
    if settings.method == "off":
        raise ValueError('saliency method is "off"')
    every = settings.every
    wanted = computed_steps(steps, every)
    rows, cols = settings.grid(OBS_SHAPE[:2])
    shape = (len(wanted), 2, rows, cols)
    row_bytes = 2 * rows * cols * 4
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, len(wanted) * row_bytes)
        for start, obs in batches:
            picked = np.arange(-start % every, len(obs), every)
            picked = picked[start + picked < steps]
            if not len(picked):
                continue
            maps = scores(network, obs[picked], settings)
            data = np.ascontiguousarray(maps, "<f4").reshape(-1).view(np.uint8)
            view, at = data.data, (start + int(picked[0])) // every * row_bytes
            while len(view):
                written = os.pwrite(fd, view, at)
                view, at = view[written:], at + written
    finally:
        os.close(fd)
    return SaliencyFile(path, shape, wanted, settings, critic_source(network),
                        critic_label(network))  # fmt: skip
