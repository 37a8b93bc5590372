"""The vectorised pictures equal a plain loop-per-tile construction, pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest

from zoo_site.media.atlas import ALIGN, layout
from zoo_site.media.tiling import (
    BACKGROUND,
    LUT,
    BarsView,
    ConvView,
    DenseView,
    grid_shape,
    to_index,
)


def naive_grid(indices: np.ndarray, rows: int, cols: int, scale: int, gap: int) -> np.ndarray:
    h, w, n = indices.shape
    height, width = rows * (h * scale + gap) - gap, cols * (w * scale + gap) - gap
    out = np.empty((height + height % 2, width + width % 2, 3), np.uint8)
    out[:] = BACKGROUND
    for c in range(n):
        r, q = divmod(c, cols)
        y, x = r * (h * scale + gap), q * (w * scale + gap)
        block = np.kron(indices[:, :, c], np.ones((scale, scale), np.int64))
        out[y : y + h * scale, x : x + w * scale] = LUT[block]
    return out


@pytest.mark.parametrize("shape", [(20, 20, 32), (9, 9, 64), (7, 7, 64), (5, 3, 7)])
def test_conv_view_equals_naive_tiling(shape):
    values = np.random.default_rng(1).normal(size=(6, *shape)).astype(np.float32)
    view = ConvView("c", "op", values, 2)
    frames = view.frames(0, 6)
    assert frames.shape[1:] == (view.height, view.width, 3)
    for n in range(6):
        idx = to_index(values[n], view.lo, view.hi)
        np.testing.assert_array_equal(frames[n], naive_grid(idx, view.rows, view.cols, 2, 2))


def test_dense_view_equals_naive_cells():
    values = np.random.default_rng(2).normal(size=(4, 512)).astype(np.float32)
    view = DenseView("fc", "op", values)
    rows, cols = grid_shape(512)
    for n in range(4):
        idx = to_index(values[n], view.lo, view.hi)[None, None, :]
        np.testing.assert_array_equal(view.frames(n, n + 1)[0], naive_grid(idx, rows, cols, 8, 0))


def test_zero_range_is_flat_and_finite():
    values = np.full((3, 4, 4, 2), 0.7, np.float32)
    frames = ConvView("c", "op", values, 2).frames(0, 3)
    tiles = frames[:, :8, :8].reshape(-1, 3)
    assert (tiles == LUT[0]).all()


def test_bars_mark_the_chosen_action():
    values = np.array([[0.0, 1.0, 0.5]], np.float32)
    view = BarsView("output", "op", values, ["NOOP", "FIRE", "UP"], np.array([2]))
    frame = view.frames(0, 1)[0]
    row = lambda a: frame[a * view.ROW + view.ROW // 2, view.LABEL :]  # noqa: E731
    assert (row(0) == BACKGROUND).all()  # the minimum: an empty bar
    assert (row(1)[: view.BAR - 1] == view.OTHER).all()  # the maximum: a full bar
    assert (row(2)[: view.BAR // 2 - 1] == view.CHOSEN).all()  # the chosen action, half


def test_atlas_layout_is_aligned_and_disjoint():
    rng = np.random.default_rng(3)
    views = [ConvView("conv1", "a", rng.random((2, 20, 20, 32), np.float32), 2),
             ConvView("conv2", "b", rng.random((2, 9, 9, 64), np.float32), 2),
             DenseView("fc", "c", rng.random((2, 512), np.float32))]  # fmt: skip
    regions, (width, height) = layout((320, 420), views)
    assert width % 2 == 0 and height % 2 == 0
    for r in regions:
        assert r.x % ALIGN == 0 and r.y % ALIGN == 0
        assert r.x + r.width <= width and r.y + r.height <= height
    for a in regions:
        for b in regions:
            if a is not b:
                apart = (a.x + a.width <= b.x or b.x + b.width <= a.x or
                         a.y + a.height <= b.y or b.y + b.height <= a.y)  # fmt: skip
                assert apart, (a, b)
