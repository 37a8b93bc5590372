"""Pictures of activations, built with vectorised numpy (no loop per pixel or channel).

Each `View` draws a slice of steps at a fixed size, straight into its region of the atlas:
in yuv420p for the video (`draw_yuv`, exactly the conversion of the RGB picture, built from
each colour's own Y, U and V), in RGB for posters and tests (`draw`, `frames`). Colour
scaling is fixed for a whole rollout (stated by `scaling`), so a brightness means the same
value in every frame. A layer whose range is zero renders flat (the lowest colour), never
NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from zoo_site.media.render import Planes, write_yuv, yuv_numerators, yuv_of

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


def grid_shape(count: int, aspect: float = 2.0) -> tuple[int, int]:
    """(rows, cols) for `count` tiles, about `aspect` times wider than tall."""
    cols = max(1, math.ceil(math.sqrt(count * aspect)))
    return math.ceil(count / cols), cols


def background(shape: tuple[int, ...]) -> np.ndarray:
    """An RGB array of `shape` (..., 3) filled with the background colour, fast."""
    out = np.empty(shape, np.uint8)
    fill_background(out)
    return out


def fill_background(out: np.ndarray) -> None:
    """Paint a contiguous RGB array (..., 3) with the background colour: one row, then
    that row copied to the others (far faster than broadcasting the 3-vector)."""
    flat = out.reshape(-1, out.shape[-2] * 3) if out.ndim > 2 else out.reshape(1, -1)
    flat[0] = np.tile(BACKGROUND, flat.shape[1] // 3)
    flat[1:] = flat[0]


def draw_tiles(indices: np.ndarray, rows: int, cols: int, scale: int, gap: int,
               out: np.ndarray, lut: np.ndarray = LUT,
               empty: np.ndarray = BACKGROUND) -> None:  # fmt: skip
    """Draw (k, h, w, n) colour indices as a grid of n tiles into `out`, (k, H, W, 3) for the
    RGB `lut` or (k, H, W) for a one-channel one (a yuv plane), which may be a region of a
    larger canvas: only the tiles' pixels are written (the gaps keep what `out` holds, the
    background; cells past the n-th get `empty`). Colours are looked up on the small array
    and the tiles repeated along their width; each of those rows is then written `scale`
    times by one broadcast assignment through a strided view of `out`, whose inner runs are
    whole tile rows.
    """
    k, h, w, n = indices.shape
    rest = lut.shape[1:]
    values = lut[indices]  # k, h, w, n, *rest
    if n < rows * cols:
        pad = np.empty((k, h, w, rows * cols - n, *rest), lut.dtype)
        pad[...] = empty
        values = np.concatenate([values, pad], axis=3)
    order = (0, 3, 1, 4, 2, *range(5, 5 + len(rest)))
    tiles = values.reshape(k, h, w, rows, cols, *rest).transpose(order)  # k, r, h, c, w, *rest
    wide = tiles.repeat(scale, axis=4) if scale > 1 else tiles  # k, r, h, c, w * scale, ...
    hs, ws = h * scale, w * scale
    sf, sy, sx, *sc = out.strides
    target = np.lib.stride_tricks.as_strided(
        out,
        shape=(k, rows, h, scale, cols, ws, *rest),
        strides=(sf, (hs + gap) * sy, scale * sy, sy, (ws + gap) * sx, sx, *sc),
        writeable=True,
    )
    target[...] = wide[:, :, :, None]


#: The colour map and the background in yuv: Y, U and V of each of LUT's colours.
LUT_YUV = [np.ascontiguousarray(c) for c in yuv_of(LUT)]
BACKGROUND_YUV = [c[()] for c in yuv_of(BACKGROUND)]


def draw_tiles_yuv(indices: np.ndarray, rows: int, cols: int, scale: int, gap: int,
                   planes: tuple[np.ndarray, ...]) -> None:  # fmt: skip
    """draw_tiles into yuv420p plane regions, for tiles of 2x2-aligned blocks (even scale
    and gap): each plane from its own table, chroma at half the scale and gap (each chroma
    sample is one block's colour, as write_yuv computes it)."""
    for plane, lut, bg, half in zip(planes, LUT_YUV, BACKGROUND_YUV, (1, 2, 2), strict=True):
        draw_tiles(indices, rows, cols, scale // half, gap // half, plane, lut, bg)


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

    def frames(self, start: int, stop: int) -> np.ndarray:
        """Steps [start, stop) as (k, height, width, 3) RGB frames."""
        out = background((stop - start, self.height, self.width, 3))
        self.draw(start, stop, out)
        return out

    def draw(self, start: int, stop: int, out: np.ndarray) -> None:  # pragma: no cover
        """Draw steps [start, stop) into `out` (k, height, width, 3), a region of a canvas
        that holds the background wherever the picture has none."""
        raise NotImplementedError

    def draw_yuv(self, start: int, stop: int, y: np.ndarray, u: np.ndarray,
                 v: np.ndarray) -> None:  # fmt: skip
        """The same picture into yuv420p plane regions (k, height, width) and (k, height/2,
        width/2) x 2: exactly `write_yuv` of `frames` (this default does just that)."""
        write_yuv(self.frames(start, stop), y, u, v)


class ConvView(View):
    """A conv layer (N, H, W, C): one tile per channel, per-channel min/max scaling."""

    def __init__(self, name: str, op: str, values, scale: int, lo=None, hi=None):
        super().__init__(name, "conv", op)
        self.values = values
        self.lo, self.hi = _range(values, lo, hi)
        self.rows, self.cols = grid_shape(values.shape[3])
        self.scale = scale
        h, w = values.shape[1:3]
        self.height = even(self.rows * (h * scale + GAP) - GAP)
        self.width = even(self.cols * (w * scale + GAP) - GAP)
        self.scaling = _scaling("per-channel min/max over the rollout", self.lo, self.hi)
        self.grid = {"rows": self.rows, "cols": self.cols, "tile": [values.shape[2] * scale,
                     values.shape[1] * scale], "gap": GAP}  # fmt: skip

    def draw(self, start: int, stop: int, out: np.ndarray) -> None:
        idx = to_index(self.values[start:stop], self.lo, self.hi)
        draw_tiles(idx, self.rows, self.cols, self.scale, GAP, out)

    def draw_yuv(self, start, stop, y, u, v) -> None:
        if self.scale % 2 or GAP % 2:  # blocks off the chroma grid: convert the picture
            super().draw_yuv(start, stop, y, u, v)
        else:
            idx = to_index(self.values[start:stop], self.lo, self.hi)
            draw_tiles_yuv(idx, self.rows, self.cols, self.scale, GAP, (y, u, v))


class DenseView(View):
    """A dense layer (N, units): a grid of square cells, per-unit min/max scaling."""

    def __init__(self, name: str, op: str, values, cell: int = 8, lo=None, hi=None):
        super().__init__(name, "dense", op)
        self.values = values
        self.lo, self.hi = _range(values, lo, hi)
        self.rows, self.cols = grid_shape(values.shape[1])
        self.cell = cell
        self.height, self.width = even(self.rows * cell), even(self.cols * cell)
        self.scaling = _scaling("per-unit min/max over the rollout", self.lo, self.hi)
        self.grid = {"rows": self.rows, "cols": self.cols, "tile": [cell, cell], "gap": 0}

    def draw(self, start: int, stop: int, out: np.ndarray) -> None:
        idx = to_index(self.values[start:stop], self.lo, self.hi)
        draw_tiles(idx[:, None, None, :], self.rows, self.cols, self.cell, 0, out)

    def draw_yuv(self, start, stop, y, u, v) -> None:
        if self.cell % 2:
            super().draw_yuv(start, stop, y, u, v)
        else:
            idx = to_index(self.values[start:stop], self.lo, self.hi)
            draw_tiles_yuv(idx[:, None, None, :], self.rows, self.cols, self.cell, 0, (y, u, v))


class BarsView(View):
    """The output layer as labelled horizontal bars; the chosen action's bar stands out."""

    ROW, BAR, LABEL = 16, 200, 104
    CHOSEN = np.array([255, 166, 0], np.uint8)
    OTHER = np.array([72, 140, 230], np.uint8)

    def __init__(self, name: str, op: str, values: np.ndarray, labels: list[str], chosen):
        super().__init__(name, "output", op)
        self.values, self.chosen = values, chosen
        self.lo, self.hi = values.min(), values.max()  # the output is held in memory
        self.labels = _label_column(labels, self.LABEL, self.ROW)
        self.height = even(len(labels) * self.ROW)
        self.width = even(self.LABEL + self.BAR)
        self.scaling = _scaling("one min/max over all actions and steps", self.lo, self.hi)
        self._yuv = _bar_colours(self.CHOSEN, self.OTHER)
        label_planes = Planes.of(self.labels[None])
        self._label_yuv = (label_planes.y[0], label_planes.u[0], label_planes.v[0])

    def draw(self, start: int, stop: int, out: np.ndarray) -> None:
        vals, chosen = self.values[start:stop], self.chosen[start:stop]
        k, a = vals.shape
        length = to_index(vals, self.lo, self.hi).astype(np.int32) * self.BAR // 255
        filled = np.arange(self.BAR)[None, None, :] < length[:, :, None]  # k, a, BAR
        colour = np.where((np.arange(a)[None, :] == chosen[:, None])[..., None],
                          self.CHOSEN, self.OTHER)  # fmt: skip
        bar = np.where(filled[..., None], colour[:, :, None, :], BACKGROUND)  # k, a, BAR, 3
        label, rows = self.labels.shape[1], a * self.ROW
        out[:, :rows, :label] = self.labels
        for y in range(self.ROW):  # row y of every action's band: a strided view of `out`
            band = out[:, y : rows : self.ROW, label : label + self.BAR]
            band[...] = bar if 2 <= y < self.ROW - 2 else BACKGROUND

    def draw_yuv(self, start, stop, y, u, v) -> None:
        """As write_yuv of the picture, built from the colours' own values: a bar's rows
        are whole 2x2 blocks, and only the block holding an odd-length bar's end mixes the
        bar's colour with the background (half each)."""
        vals, chosen = self.values[start:stop], self.chosen[start:stop]
        a = vals.shape[1]
        length = to_index(vals, self.lo, self.hi).astype(np.int32) * self.BAR // 255
        pick = (np.arange(a)[None, :] == chosen[:, None])[..., None]  # k, a, 1
        ends = np.arange(self.BAR)[None, None, :]  # a pixel's x; in chroma, a block's last
        chroma_ends = 2 * np.arange(self.BAR // 2)[None, None, :] + 1
        for i, (plane, labels) in enumerate(zip((y, u, v), self._label_yuv, strict=True)):
            full, mixed, bg = self._yuv[i]
            colour = np.where(pick, full[0], full[1])
            if i == 0:
                band = np.where(ends < length[..., None], colour, bg)
            else:
                within, at_end = chroma_ends < length[..., None], chroma_ends == length[..., None]
                band = np.where(within, colour, np.where(at_end, np.where(pick, *mixed), bg))
            row = self.ROW // (1 if i == 0 else 2)
            edge = 2 // (1 if i == 0 else 2)  # the background rows above and below each bar
            rows, label, bar = a * row, labels.shape[1], band.shape[-1]
            plane[:, :rows, :label] = labels
            for r in range(row):
                plane[:, r:rows:row, label : label + bar] = band if edge <= r < row - edge else bg


def _range(values, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's (last axis) minimum and maximum over all steps: as given (gathered
    while the activations were computed), or from `values` (an array)."""
    if lo is not None and hi is not None:
        return np.asarray(lo, np.float32), np.asarray(hi, np.float32)
    axes = tuple(range(values.ndim - 1))
    return values.min(axis=axes), values.max(axis=axes)


def _bar_colours(chosen: np.ndarray, other: np.ndarray) -> list[tuple]:
    """Per plane (Y, U, V): (the chosen and other bar colours, each half mixed with the
    background (chroma only), the background), as write_yuv computes them."""
    numerators = yuv_numerators(np.array([chosen, other, BACKGROUND], np.uint8))
    out = []
    for i, n in enumerate(numerators):
        full = (n + (1 << 15)) >> 16
        mixed = full[:2] if i == 0 else (2 * n[:2] + 2 * n[2] + (1 << 17)) >> 18  # 2 + 2 pixels
        full, mixed = full.astype(np.uint8), mixed.astype(np.uint8)
        out.append(((full[0], full[1]), (mixed[0], mixed[1]), full[2]))
    return out


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


#: Steps of a layer read at once for its strip.
STRIP_CHUNK = 256


def strip(view: View) -> tuple[np.ndarray, dict]:
    """Units x time: one row per channel/unit/action, one column per step, as indices into
    LUT (a palette image: exactly the colours, a third of the bytes of RGB). The values
    are read STRIP_CHUNK steps at a time (they may be spilled to disk)."""
    values = view.values
    steps = len(values)
    if view.kind == "conv":  # each channel's mean activation per step: (N, C), small
        rows = np.empty((steps, values.shape[-1]), np.float32)
        for start in range(0, steps, STRIP_CHUNK):
            chunk = values[start : start + STRIP_CHUNK]
            rows[start : start + STRIP_CHUNK] = chunk.mean(axis=(1, 2))
        lo, hi = rows.min(axis=0), rows.max(axis=0)
        method = "per-row min/max of the channel's spatial mean over the rollout"
    else:
        rows, lo, hi = values, view.lo, view.hi
        method = view.scaling["method"]
    units = rows.shape[1]
    row_height = max(1, 128 // units)
    image = np.empty((units * row_height, steps), np.uint8)
    for start in range(0, steps, STRIP_CHUNK):
        idx = to_index(rows[start : start + STRIP_CHUNK], lo, hi).T  # units, k
        image[:, start : start + STRIP_CHUNK] = np.repeat(idx, row_height, axis=0)
    meta = {
        "rows": int(units),
        "row_height": row_height,
        "columns": int(steps),
        "first_step": 0,
        "steps_per_column": 1,
        "scaling": _scaling(method, lo, hi),
    }
    return image, meta


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
            scale = conv_scale(layer.values.shape[1])
            views.append(ConvView(layer.name, layer.op, layer.values, scale, *_bounds(layer)))
        elif layer.kind == "dense":
            views.append(DenseView(layer.name, layer.op, layer.values, 8, *_bounds(layer)))
        else:
            names = _pad_names(action_names, layer.values.shape[1])
            views.append(BarsView(layer.name, layer.op, layer.values, names, chosen))
    return views


def _bounds(layer) -> tuple:
    """A layer's gathered range (analysis.activations.Layer), if it has one."""
    lo, hi = getattr(layer, "lo", None), getattr(layer, "hi", None)
    return (lo, hi) if lo is not None and hi is not None and np.size(lo) else (None, None)


def _pad_names(names: list[str], count: int) -> list[str]:
    return [names[i] if i < len(names) else f"action {i}" for i in range(count)]
