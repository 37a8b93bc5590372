"""All of an entry's pictures in one pass: the gameplay video and the atlas video.

The atlas tiles gameplay and every layer into one frame, so a page can crop any region
from one perfectly synchronised stream; its layout (a rectangle per region, in pixels) goes
into the entry's manifest. Those two are the videos the site plays. A video per layer
(`[render] layer_videos`) is only an export: each is cropped from the atlas frames, so it
holds exactly the atlas's pixels.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo_site.config import RenderConfig
from zoo_site.media.poster import PosterPicker
from zoo_site.media.render import (
    CHUNK,
    DEPTH,
    Planes,
    chunks,
    planes_of,
    render_poster,
    save_png,
    sinks,
    upscale,
)
from zoo_site.media.tiling import BACKGROUND, LUT, View, background, even, strip

GAP = 4
#: Regions start on multiples of 8 pixels, the codec's block grid: a layer's picture is
#: then coded in its own blocks, with no blurred seams, and a crop of it keeps them.
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
    """The atlas frames of one chunk, in yuv420p; background drawn once, regions drawn in
    place.

    It keeps `buffers` chunks and uses them in turn, so a chunk handed to an encoder's
    queue is not overwritten while it waits (see render.VideoSink). The buffers (hundreds
    of MB for a large atlas) are kept for the next canvas of the same size in this process
    (`release`): a worker rendering entry after entry does not fault in and paint them anew.
    """

    def __init__(self, regions: list[Region], size: tuple[int, int], capacity: int,
                 buffers: int = DEPTH + 2):  # fmt: skip
        self.regions, self.size = regions, size
        self.key = (capacity, size)
        self.buffers = _take_buffers(self.key, buffers, regions)
        self.turn = 0

    def release(self) -> None:
        """Give the buffers back for a later canvas; this one must not be used after."""
        _give_buffers(self.key, self.buffers, self.regions)
        self.buffers = []

    def compose(self, gameplay: Planes, views: list[View], start: int) -> Planes:
        """The atlas of steps [start, start + len(gameplay)): the (upscaled) gameplay
        copied in, each view drawing straight into its region (no frame of its own)."""
        k = len(gameplay)
        out = self.buffers[self.turn % len(self.buffers)].head(k)
        self.turn += 1
        by_name = {v.name: v for v in views}
        for r in self.regions:
            region = out.region(r.x, r.y, r.width, r.height)
            if r.name == "gameplay":
                for target, source in zip(region, (gameplay.y, gameplay.u, gameplay.v),
                                          strict=True):  # fmt: skip
                    target[...] = source
            else:
                by_name[r.name].draw_yuv(start, start + k, *region)
        return out


def picture(regions: list[Region], size: tuple[int, int], gameplay: np.ndarray,
            views: list[View], step: int) -> np.ndarray:  # fmt: skip
    """The atlas of one step in RGB (H, W, 3), from the upscaled gameplay frame: what the
    video shows (it is this picture converted), for the poster."""
    out = background((1, size[1], size[0], 3))
    by_name = {v.name: v for v in views}
    for r in regions:
        region = out[:, r.y : r.y + r.height, r.x : r.x + r.width]
        if r.name == "gameplay":
            region[0] = gameplay
        else:
            by_name[r.name].draw(step, step + 1, region)
    return out[0]


#: The last released canvas's buffers: (key, buffers, the regions drawn on them). One
#: entry, so a process keeps at most one atlas canvas; taken out while in use (threads).
_POOL: list[tuple[tuple, list[Planes], list[Region]]] = []
_POOL_LOCK = threading.Lock()


def _take_buffers(key: tuple, count: int, regions: list[Region]) -> list[Planes]:
    with _POOL_LOCK:
        kept = _POOL.pop() if _POOL else None
    if kept is None or kept[0] != key or len(kept[1]) != count:
        capacity, size = key
        buffers = [Planes.empty(capacity, size) for _ in range(count)]
    else:
        buffers, drawn = kept[1], kept[2]
        if drawn == regions:  # the same layout: the background is where it was
            return buffers
    for buffer in buffers:  # a new layout: only the background is common
        buffer.fill(BACKGROUND)
    return buffers


def _give_buffers(key: tuple, buffers: list[Planes], regions: list[Region]) -> None:
    with _POOL_LOCK:
        _POOL[:] = [(key, buffers, list(regions))]


def render_all(frames, views: list[View], media_dir: Path, cfg: RenderConfig) -> dict:
    """The gameplay and the atlas, streamed together in one pass of CHUNK steps at a
    time (`frames` may be an npz `Member`, the views' values spilled to disk); with
    `cfg.layer_videos`, also a video per layer, cropped from the atlas (the same pixels).
    Then strips, while the encoders finish; the two posters show the same step,
    `poster_step(frames)`, found on the way (`PosterPicker`)."""
    steps, h, w, _ = frames.shape
    game_size = (w * cfg.scale, h * cfg.scale)
    regions, atlas_size = layout(game_size, views)
    crf = cfg.activation_crf
    specs: dict[str, tuple] = {"gameplay": (media_dir / "gameplay.mp4", game_size),
                               "atlas": (media_dir / "atlas.mp4", atlas_size, crf)}  # fmt: skip
    layer_regions = [r for r in regions if r.name != "gameplay"] if cfg.layer_videos else []
    specs |= {r.name: (media_dir / layer_video(r.name), (r.width, r.height), crf)
              for r in layer_regions}  # fmt: skip
    picker = PosterPicker(steps)
    canvas = Canvas(regions, atlas_size, CHUNK)
    try:
        with sinks(specs, cfg) as out:
            for start, stop in chunks(steps):
                chunk = frames[start:stop]
                picker.see(start, chunk)
                gameplay = planes_of(chunk, cfg.scale)
                atlas = canvas.compose(gameplay, views, start)
                out["gameplay"].send(gameplay)
                out["atlas"].send(atlas)
                for r in layer_regions:
                    out[r.name].send(atlas.crop(r.x, r.y, r.width, r.height))
            poster, frame = picker.pick(frames)
            big = upscale(frame[None], cfg.scale)[0]
            render_poster(frame, media_dir / "poster.png", cfg.scale)
            still = picture(regions, atlas_size, big, views, poster)
            save_png(still, media_dir / "atlas-poster.png")
            layers = _layers(views, media_dir, cfg)  # while the encoders drain their queues
    finally:
        canvas.release()  # the encoders are done with every chunk: the sinks are closed
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
        "layer_frames": {r.name: out[r.name].count for r in layer_regions},
        "layers": layers,
    }


def layer_video(name: str) -> str:
    return f"layer-{name}.mp4"


def _layers(views: list[View], media_dir: Path, cfg: RenderConfig) -> list[dict]:
    """Each layer's description for entry.json; its strip written as a palette PNG."""
    layers = []
    for view in views:
        image, meta = strip(view)
        save_png(image, media_dir / f"strip-{view.name}.png", palette=LUT)
        layers.append({
            "name": view.name, "kind": view.kind, "op": view.op,
            "shape": list(view.values.shape[1:]),
            "video": layer_video(view.name) if cfg.layer_videos else None,
            "width": view.width, "height": view.height, "scaling": view.scaling,
            "grid": view.grid,
            "strip": {"image": f"strip-{view.name}.png", "width": meta["columns"],
                      "height": meta["rows"] * meta["row_height"], **meta},
        })  # fmt: skip
    return layers
