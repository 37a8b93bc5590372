"""`zoo-site clip`: saliency maps laid over a cell as site_src/saliency.js draws them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MODES = ("off", "actor", "critic", "both")
#: [actor, critic] colours, as in saliency.js: the paper's blue and red, or Okabe-Ito.
PALETTES = {"paper": ((40, 90, 255), (255, 40, 40)), "cb": ((86, 180, 233), (230, 159, 0))}


# ---- saliency maps, drawn as saliency.js draws them --------------------------------------------


def _axis(positions: list[int], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: the grid index below it and the weight of the one above (clamped)."""
    pos = np.asarray(positions, np.float64)
    p = np.arange(size)
    k = np.clip(np.searchsorted(pos, p, side="right") - 1, 0, max(0, len(pos) - 2))
    a, b = pos[k], pos[np.minimum(k + 1, len(pos) - 1)]
    weight = np.where(b > a, np.clip((p - a) / np.where(b > a, b - a, 1), 0, 1), 0)
    return k, weight.astype(np.float32)


class Maps:
    """One entry's maps: row k is step k·every; each mode scaled by its 99th percentile."""

    def __init__(self, info: dict[str, Any], data: np.ndarray):
        self.info = info
        self.count, modes, self.rows, self.cols = info["shape"]
        self.maps = data.reshape(self.count, modes, self.rows, self.cols)
        self.modes = list(info.get("modes") or ["actor", "critic"])
        self.scale = [_scale(self.maps[:, m]) for m in range(modes)]
        self.height, self.width = info["observation"]
        self.ys = _axis(info["positions"]["rows"], self.height)
        self.xs = _axis(info["positions"]["cols"], self.width)

    def row_of(self, step: int) -> int:
        return min(self.count - 1, max(0, step) // int(self.info["every"]))

    def upsample(self, k: int, mode: str) -> np.ndarray:
        """One mode's map at observation resolution in [0, 1] (bilinear between points)."""
        if mode not in self.modes:
            return np.zeros((self.height, self.width), np.float32)
        m = self.maps[k, self.modes.index(mode)]
        (i, wy), (j, wx) = self.ys, self.xs
        i2, j2 = np.minimum(i + 1, self.rows - 1), np.minimum(j + 1, self.cols - 1)
        wx, wy = wx[None, :], wy[:, None]
        top = m[i][:, j] * (1 - wx) + m[i][:, j2] * wx
        bottom = m[i2][:, j] * (1 - wx) + m[i2][:, j2] * wx
        inv = 1 / self.scale[self.modes.index(mode)]
        return np.clip((top * (1 - wy) + bottom * wy) * inv, 0, 1).astype(np.float32)

    def layer(self, k: int, mode: str, alpha: float, palette: str, size: tuple[int, int]):
        """(premultiplied colour, alpha) of map row k stretched to `size` (w, h)."""
        import cv2

        none = np.zeros((self.height, self.width), np.float32)
        actor = self.upsample(k, "actor") if mode != "critic" else none
        critic = self.upsample(k, "critic") if mode != "actor" else none
        total = actor + critic
        colours = np.asarray(PALETTES[palette], np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            rgb = (actor[..., None] * colours[0] + critic[..., None] * colours[1]) / total[
                :, :, None
            ]
        rgb = np.round(np.nan_to_num(rgb)).clip(0, 255)  # an ImageData, as the page makes
        a = np.round(255 * alpha * np.maximum(actor, critic)).clip(0, 255) / 255
        small = np.dstack([rgb * a[..., None], a]).astype(np.float32)
        big = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
        return big[..., :3], big[..., 3:]


def _scale(values: np.ndarray) -> float:
    flat = np.sort(values.astype(np.float32).ravel())
    p = float(flat[min(len(flat) - 1, math.floor(0.99 * len(flat)))]) if len(flat) else 0.0
    return p if p > 0 else max(float(flat.max()) if len(flat) else 0.0, 1e-30)
