"""Pictures of activations, built with vectorised numpy (no loop per pixel or channel).

Each `View` turns a slice of steps into RGB frames of a fixed size. Colour scaling is
fixed for a whole rollout (stated by `scaling`), so a brightness means the same value in
every frame. A layer whose range is zero renders flat (the lowest colour), never NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# Viridis, sampled at 9 points (perceptually uniform, readable by colour-blind people).
_VIRIDIS = np.array(
    [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
     [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]], np.float32,
)  # fmt: skip
LUT = (
    np.stack(
        [np.interp(np.linspace(0, 8, 256), np.arange(9), _VIRIDIS[:, c]) for c in range(3)], axis=1
    )
    .round()
    .astype(np.uint8)
)
BACKGROUND = np.array([18, 18, 24], np.uint8)
GAP = 2


def to_index(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Map values to 0..255 with fixed bounds; where hi == lo the picture is flat (0)."""
    span = np.asarray(hi - lo, np.float32)
    scale = np.divide(255.0, span, out=np.zeros_like(span), where=span > 0)
    return np.clip((values - lo) * scale + 0.5, 0, 255).astype(np.uint8)


def even(n: int) -> int:
    return n + (n % 2)


def pad_even(frames: np.ndarray) -> np.ndarray:
    """Pad (k, h, w, 3) with background to even h and w (yuv420p needs even sizes)."""
    k, h, w, _ = frames.shape
    if h % 2 == 0 and w % 2 == 0:
        return frames
    out = background((k, even(h), even(w), 3))
    out[:, :h, :w] = frames
    return out


def grid_shape(count: int, aspect: float = 2.0) -> tuple[int, int]:
    """(rows, cols) for `count` tiles, about `aspect` times wider than tall."""
    cols = max(1, math.ceil(math.sqrt(count * aspect)))
    return math.ceil(count / cols), cols


def background(shape: tuple[int, ...]) -> np.ndarray:
    """An RGB array of `shape` (..., 3) filled with the background colour, fast."""
    out = np.empty(shape, np.uint8)
    flat = out.reshape(-1, shape[-2] * 3) if len(shape) > 2 else out.reshape(1, -1)
    flat[0] = np.tile(BACKGROUND, flat.shape[1] // 3)
    flat[1:] = flat[0]
    return out


def tile(indices: np.ndarray, rows: int, cols: int, scale: int, gap: int) -> np.ndarray:
    """(k, h, w, n) colour indices -> (k, H, W, 3) RGB grid of n tiles, with gaps.

    Colours are looked up on the small array; the upscale is one broadcast assignment
    straight into a canvas that already holds the gaps.
    """
    k, h, w, n = indices.shape
    rgb = LUT[indices]  # k, h, w, n, 3
    if n < rows * cols:
        pad = background((k, h, w, rows * cols - n, 3))
        rgb = np.concatenate([rgb, pad], axis=3)
    tiles = rgb.reshape(k, h, w, rows, cols, 3).transpose(0, 3, 1, 4, 2, 5)  # k,r,h,c,w,3
    hs, ws = h * scale, w * scale
    canvas = background((k, rows, hs + gap, cols, ws + gap, 3))
    target = canvas[:, :, :hs, :, :ws].reshape(k, rows, h, scale, cols, w, scale, 3)
    target[...] = tiles[:, :, :, None, :, :, None, :]
    flat = canvas.reshape(k, rows * (hs + gap), cols * (ws + gap), 3)
    return pad_even(flat[:, : flat.shape[1] - gap, : flat.shape[2] - gap])


@dataclass
class View:
    """One layer's picture: fixed size, fixed colour scaling, frames on demand."""

    name: str
    kind: str
    op: str = ""
    width: int = 0
    height: int = 0
    scaling: dict = field(default_factory=dict)
    grid: dict | None = None
    values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    """The layer's activations for every step; `lo`/`hi` its fixed colour bounds."""
    lo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    hi: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def frames(self, start: int, stop: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class ConvView(View):
    """A conv layer (N, H, W, C): one tile per channel, per-channel min/max scaling."""

    def __init__(self, name: str, op: str, values: np.ndarray, scale: int):
        super().__init__(name, "conv", op)
        self.values = values
        self.lo = values.min(axis=(0, 1, 2))
        self.hi = values.max(axis=(0, 1, 2))
        self.rows, self.cols = grid_shape(values.shape[3])
        self.scale = scale
        sample = self.frames(0, 1)
        self.height, self.width = sample.shape[1:3]
        self.scaling = _scaling("per-channel min/max over the rollout", self.lo, self.hi)
        self.grid = {"rows": self.rows, "cols": self.cols, "tile": [values.shape[2] * scale,
                     values.shape[1] * scale], "gap": GAP}  # fmt: skip

    def frames(self, start: int, stop: int) -> np.ndarray:
        idx = to_index(self.values[start:stop], self.lo, self.hi)
        return tile(idx, self.rows, self.cols, self.scale, GAP)


class DenseView(View):
    """A dense layer (N, units): a grid of square cells, per-unit min/max scaling."""

    def __init__(self, name: str, op: str, values: np.ndarray, cell: int = 8):
        super().__init__(name, "dense", op)
        self.values = values
        self.lo, self.hi = values.min(axis=0), values.max(axis=0)
        self.rows, self.cols = grid_shape(values.shape[1])
        self.cell = cell
        self.height, self.width = self.frames(0, 1).shape[1:3]
        self.scaling = _scaling("per-unit min/max over the rollout", self.lo, self.hi)
        self.grid = {"rows": self.rows, "cols": self.cols, "tile": [cell, cell], "gap": 0}

    def frames(self, start: int, stop: int) -> np.ndarray:
        idx = to_index(self.values[start:stop], self.lo, self.hi)
        return tile(idx[:, None, None, :], self.rows, self.cols, self.cell, 0)


class BarsView(View):
    """The output layer as labelled horizontal bars; the chosen action's bar stands out."""

    ROW, BAR, LABEL = 16, 200, 104
    CHOSEN = np.array([255, 166, 0], np.uint8)
    OTHER = np.array([72, 140, 230], np.uint8)

    def __init__(self, name: str, op: str, values: np.ndarray, labels: list[str], chosen):
        super().__init__(name, "output", op)
        self.values, self.chosen = values, chosen
        self.lo, self.hi = values.min(), values.max()
        self.labels = _label_column(labels, self.LABEL, self.ROW)
        self.height = even(len(labels) * self.ROW)
        self.width = even(self.LABEL + self.BAR)
        self.scaling = _scaling("one min/max over all actions and steps", self.lo, self.hi)

    def frames(self, start: int, stop: int) -> np.ndarray:
        vals, chosen = self.values[start:stop], self.chosen[start:stop]
        k, a = vals.shape
        length = to_index(vals, self.lo, self.hi).astype(np.int32) * self.BAR // 255
        filled = np.arange(self.BAR)[None, None, :] < length[:, :, None]  # k, a, BAR
        colour = np.where((np.arange(a)[None, :] == chosen[:, None])[..., None],
                          self.CHOSEN, self.OTHER)  # fmt: skip
        bar = np.where(filled[..., None], colour[:, :, None, :], BACKGROUND)  # k, a, BAR, 3
        rows = np.empty((k, a, self.ROW, self.BAR, 3), np.uint8)
        rows[:] = BACKGROUND
        rows[:, :, 2 : self.ROW - 2] = bar[:, :, None]
        bars = rows.reshape(k, a * self.ROW, self.BAR, 3)
        out = np.concatenate([np.broadcast_to(self.labels, (k, *self.labels.shape)), bars], 2)
        return pad_even(out)


def _label_column(labels: list[str], width: int, row: int) -> np.ndarray:
    image = Image.new("RGB", (width, row * len(labels)), tuple(int(c) for c in BACKGROUND))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for i, text in enumerate(labels):
        draw.text((4, i * row + 2), text[:16], fill=(220, 220, 220), font=font)
    return np.asarray(image)


def _scaling(method: str, lo, hi) -> dict:
    return {
        "method": method,
        "min": np.round(np.atleast_1d(lo).astype(float), 6).tolist(),
        "max": np.round(np.atleast_1d(hi).astype(float), 6).tolist(),
        "colormap": "viridis",
    }


def strip(view: View) -> tuple[np.ndarray, dict]:
    """Units x time: one row per channel/unit/action, one column per step, as RGB."""
    values = view.values
    if view.kind == "conv":
        rows = values.mean(axis=(1, 2))  # N, C: each channel's mean activation
        lo, hi = rows.min(axis=0), rows.max(axis=0)
        method = "per-row min/max of the channel's spatial mean over the rollout"
    else:
        rows, lo, hi = values, view.lo, view.hi
        method = view.scaling["method"]
    idx = to_index(rows, lo, hi).T  # units, N
    row_height = max(1, 128 // idx.shape[0])
    rgb = LUT[np.repeat(idx, row_height, axis=0)]
    meta = {
        "rows": int(idx.shape[0]),
        "row_height": row_height,
        "columns": int(idx.shape[1]),
        "first_step": 0,
        "steps_per_column": 1,
        "scaling": _scaling(method, lo, hi),
    }
    return rgb, meta


def conv_scale(height: int) -> int:
    """Tile upscale of conv maps: 2, so with even gaps every activation is a 2x2 block on
    an even offset, which yuv420p's 2x2 chroma subsampling keeps exact. Pages enlarge
    further with nearest-neighbour scaling."""
    return 2


def make_views(layers, action_names: list[str], chosen: np.ndarray) -> list[View]:
    """A view per layer: conv grids, the dense grid, the output bars."""
    views: list[View] = []
    for layer in layers:
        if layer.kind == "conv":
            views.append(
                ConvView(layer.name, layer.op, layer.values, conv_scale(layer.values.shape[1]))
            )
        elif layer.kind == "dense":
            views.append(DenseView(layer.name, layer.op, layer.values))
        else:
            names = _pad_names(action_names, layer.values.shape[1])
            views.append(BarsView(layer.name, layer.op, layer.values, names, chosen))
    return views


def _pad_names(names: list[str], count: int) -> list[str]:
    return [names[i] if i < len(names) else f"action {i}" for i in range(count)]
