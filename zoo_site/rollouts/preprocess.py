"""Screen -> network-input transforms of the training pipelines, exactly as they were run.

Agents overfit to their preprocessing, so each function here reproduces one original
operation, not an approximation of it:

- `gray_dot` + `resize_bilinear_align_corners`: the Atari Model Zoo's 'tf' style
  (`WarpFrameTF` in its atari_wrappers.py): an unrounded float32 grayscale dot product, then
  TensorFlow's `resize_bilinear(..., align_corners=True)`, reimplemented in numpy so that
  playing does not need TensorFlow. It follows TF's CPU kernel (resize_bilinear_op.cc)
  operation by operation in float32, so it matches it bit for bit on x86.
- `area_resize`: OpenCV's INTER_AREA resize of the ALE's own grayscale screen, used by both
  Dopamine's `AtariPreprocessing` and atari-agents' `ale_env.py`.

`to_canonical_*` turn either kind into the float32 [0, 1] observations the rest of the
package stores.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

OBS_SIZE = 84
GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)
"""ITU-R 601 luma, as float32: the zoo's WarpFrameTF dots the RGB screen with these."""
ZOO_SCALE = 1 / 255.0
"""The zoo's ScaledFloatFrame multiplies by this (a multiplication, not a division)."""


def gray_dot(rgb: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) uint8 -> float32 (H, W) grayscale, unrounded, as the zoo computes it.

    `np.dot` itself is used (not an equivalent sum) because the summation order, and so
    the last bit of each value, is that of numpy's dot.
    """
    return np.dot(rgb.astype(np.float32), GRAY_WEIGHTS)


@lru_cache(maxsize=16)
def _bilinear_axis(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TF's cached interpolation for one axis with align_corners=True (LegacyScaler).

    scale = (in - 1) / (out - 1) in float32; source position = float32(i) * scale; the lower
    and upper source indices are its floor and ceil (clamped) and the weight is
    position - floor(position), all as TF's `compute_interpolation_weights` does.
    """
    if out_size > 1:
        scale = np.float32(in_size - 1) / np.float32(out_size - 1)
    else:
        scale = np.float32(in_size) / np.float32(out_size)
    pos = np.arange(out_size, dtype=np.float32) * scale
    floor = np.floor(pos)
    lower = np.maximum(floor.astype(np.int64), 0)
    upper = np.minimum(np.ceil(pos).astype(np.int64), in_size - 1)
    lerp = (pos - floor).astype(np.float32)
    for array in (lower, upper, lerp):
        array.setflags(write=False)
    return lower, upper, lerp


def resize_bilinear_align_corners(
    image: np.ndarray, size: tuple[int, int] = (OBS_SIZE, OBS_SIZE)
) -> np.ndarray:
    """A float32 (H, W) image resized to `size` (height, width) like TF's ResizeBilinear.

    Same as `tf.compat.v1.image.resize_bilinear(x[None, ..., None], size,
    align_corners=True)[0, ..., 0]`, with TF's formula order: the top and bottom rows are
    interpolated along x first, then the result along y, each as `a + (b - a) * t`.
    """
    image = np.asarray(image, dtype=np.float32)
    out_h, out_w = size
    y_lo, y_hi, y_lerp = _bilinear_axis(image.shape[0], out_h)
    x_lo, x_hi, x_lerp = _bilinear_axis(image.shape[1], out_w)
    top_rows, bottom_rows = image[y_lo], image[y_hi]
    top_left, top_right = top_rows[:, x_lo], top_rows[:, x_hi]
    bottom_left, bottom_right = bottom_rows[:, x_lo], bottom_rows[:, x_hi]
    top = top_left + (top_right - top_left) * x_lerp
    bottom = bottom_left + (bottom_right - bottom_left) * x_lerp
    return top + (bottom - top) * y_lerp[:, None]


def tf_bilinear_frame(rgb: np.ndarray) -> np.ndarray:
    """One (max-pooled) RGB screen -> the zoo's float32 84x84 frame in gray levels 0..255."""
    return resize_bilinear_align_corners(gray_dot(rgb))


def area_resize(gray: np.ndarray) -> np.ndarray:
    """An ALE grayscale screen (210x160 uint8) -> 84x84 uint8 with OpenCV's INTER_AREA."""
    return cv2.resize(gray, (OBS_SIZE, OBS_SIZE), interpolation=cv2.INTER_AREA)


def to_canonical_float(frames: np.ndarray) -> np.ndarray:
    """The zoo's float frames (gray levels) -> [0, 1], as its ScaledFloatFrame scales them."""
    return np.asarray(frames, dtype=np.float32) * np.float32(ZOO_SCALE)


def to_canonical_uint8(frames: np.ndarray) -> np.ndarray:
    """uint8 frames -> float32 exactly uint8 / 255, so `rint(x * 255)` gives them back."""
    return np.asarray(frames, dtype=np.uint8).astype(np.float32) / np.float32(255.0)
