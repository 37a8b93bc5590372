"""All of an entry's pictures in one pass: gameplay, a video per layer, and the atlas.

The atlas tiles gameplay and every layer into one frame, so a page can crop any region
from one perfectly synchronised stream; its layout (a rectangle per region, in pixels) goes
into the entry's manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo_site.config import RenderConfig
from zoo_site.media.render import CHUNK, DEPTH, chunks, poster_step, save_png, sinks, upscale
from zoo_site.media.tiling import View, background, even, strip

GAP = 4
#: Regions start on multiples of 8 pixels, the codec's block grid: a layer's picture is
#: then encoded the same way in the atlas as in its own video, with no blurred seams.
ALIGN = 8
#: Widths tried for the layers' area right of the gameplay; the smallest atlas wins.
RIGHT_WIDTHS = range(300, 1201, 20)


@dataclass(frozen=True)
class Region:
    name: str
    x: int
    y: int
    width: int
    height: int

    def as_json(self) -> dict:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


def layout(game_size: tuple[int, int], views: list[View]) -> tuple[list[Region], tuple[int, int]]:
    """Gameplay on the left; the layers in shelves to its right, in order; of the widths
    tried, the one giving the smallest atlas (deterministic)."""
    candidates = [_shelves(game_size, views, width) for width in RIGHT_WIDTHS]
    return min(candidates, key=lambda c: (c[1][0] * c[1][1], c[1][0]))


def _shelves(game_size, views: list[View], right_width: int):
    gw, gh = game_size
    regions = [Region("gameplay", 0, 0, gw, gh)]
    x0 = _align(gw + GAP)
    x, y, shelf = x0, 0, 0
    for view in views:
        if x > x0 and x + view.width > x0 + right_width:
            x, y, shelf = x0, _align(y + shelf + GAP), 0
        regions.append(Region(view.name, x, y, view.width, view.height))
        x, shelf = _align(x + view.width + GAP), max(shelf, view.height)
    width = max(r.x + r.width for r in regions)
    height = max(r.y + r.height for r in regions)
    return regions, (even(width), even(height))


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


class Canvas:
    """The atlas frames of one chunk; background drawn once, regions overwritten.

    It keeps `buffers` chunks and uses them in turn, so a chunk handed to an encoder's
    queue is not overwritten while it waits (see render.VideoSink)."""

    def __init__(self, regions: list[Region], size: tuple[int, int], capacity: int,
                 buffers: int = DEPTH + 2):  # fmt: skip
        self.regions = regions
        self.buffers = [background((capacity, size[1], size[0], 3)) for _ in range(buffers)]
        self.turn = 0

    def compose(self, images: dict[str, np.ndarray]) -> np.ndarray:
        k = len(images["gameplay"])
        frames = self.buffers[self.turn % len(self.buffers)]
        self.turn += 1
        out = frames[:k]
        for r in self.regions:
            out[:, r.y : r.y + r.height, r.x : r.x + r.width] = images[r.name]
        return out


def render_all(frames: np.ndarray, views: list[View], media_dir: Path, cfg: RenderConfig) -> dict:
    """Gameplay, one video per layer and the atlas, streamed together; then strips, posters."""
    steps, h, w, _ = frames.shape
    game_size = (w * cfg.scale, h * cfg.scale)
    regions, atlas_size = layout(game_size, views)
    crf = cfg.activation_crf
    specs: dict[str, tuple] = {"gameplay": (media_dir / "gameplay.mp4", game_size)}
    specs |= {v.name: (media_dir / f"layer-{v.name}.mp4", (v.width, v.height), crf) for v in views}
    specs["atlas"] = (media_dir / "atlas.mp4", atlas_size, crf)
    poster = poster_step(steps)
    canvas = Canvas(regions, atlas_size, CHUNK)
    with sinks(specs, cfg) as out:
        for start, stop in chunks(steps):
            images = {"gameplay": upscale(frames[start:stop], cfg.scale)}
            images |= {v.name: v.frames(start, stop) for v in views}
            atlas = canvas.compose(images)
            for name, chunk in images.items():
                out[name].send(chunk)
            out["atlas"].send(atlas)
            if start <= poster < stop:
                save_png(images["gameplay"][poster - start], media_dir / "poster.png")
                save_png(atlas[poster - start], media_dir / "atlas-poster.png")
    return _describe(out, views, regions, atlas_size, media_dir, cfg)


def _describe(out, views, regions, atlas_size, media_dir: Path, cfg: RenderConfig) -> dict:
    layers = []
    for view in views:
        image, meta = strip(view)
        save_png(image, media_dir / f"strip-{view.name}.png")
        layers.append({
            "name": view.name, "kind": view.kind, "op": view.op,
            "shape": list(view.values.shape[1:]), "video": f"layer-{view.name}.mp4",
            "width": view.width, "height": view.height, "scaling": view.scaling,
            "grid": view.grid,
            "strip": {"image": f"strip-{view.name}.png", "width": meta["columns"],
                      "height": meta["rows"] * meta["row_height"], **meta},
        })  # fmt: skip
    return {
        "gameplay": out["gameplay"].info(cfg.fps),
        "atlas": {
            "video": "atlas.mp4",
            "poster": "atlas-poster.png",
            "width": atlas_size[0],
            "height": atlas_size[1],
            "regions": {r.name: r.as_json() for r in regions},
        },
        "atlas_frames": out["atlas"].count,
        "layers": layers,
    }
