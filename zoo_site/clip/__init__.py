"""`zoo-site clip`: a baked comparison-grid video of a built site, for talks and papers.

Frame n of the clip is step (start + n) of every cell, each cell a pixel-exact copy of its
entry's gameplay frame (a cell whose video is shorter holds its last frame), with a label
band under it and, optionally, the saliency maps laid over it as the site draws them
(site_src/saliency.js). Sources are decoded as streams (imageio-ffmpeg), frames are
composed in numpy and encoded by moviepy to H.264; nothing is composited by moviepy.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo_site.clip.saliency import MODES, PALETTES, Maps
from zoo_site.clip.select import (
    Entry,
    Selection,
    link_params,
    load_manifest,
    select_entries,
    select_link,
    step_range,
)
from zoo_site.errors import ConfigError, EntryError

__all__ = ["Maps", "link_params", "load_manifest", "select_link", "step_range", "Selection",
           "ClipOptions", "ClipResult", "make_clip"]  # fmt: skip

DEFAULT_ALPHA = 0.6
GAP = 4  # background pixels around and between cells (even: cells stay on chroma pixels)
BACKGROUND = (18, 18, 18)
TEXT, MUTED = (240, 240, 240), (176, 176, 176)
FONT_SIZE = 13
BAND_PAD = 3  # pixels above and below the label's lines
#: H.264 near-lossless for flat Atari pictures; yuv420p is what ffmpeg picks for libx264.
ENCODE = {"codec": "libx264", "preset": "fast",
          "ffmpeg_params": ["-crf", "16", "-movflags", "+faststart"]}  # fmt: skip


# ---- one cell: its decoded frames, its label and its maps -------------------------------------


class Cell:
    def __init__(self, site: Path, manifest: dict[str, Any], combo: dict[str, str],
                 entry: Entry | None):  # fmt: skip
        self.site, self.manifest, self.combo, self.entry = site, manifest, combo, entry
        self.details: dict[str, Any] = {}
        self.maps: Maps | None = None
        self.reader: Any = None
        self.last: np.ndarray | None = None
        self.size = (entry["width"], entry["height"]) if entry else (0, 0)
        if entry:
            path = self.path(entry["details"])
            try:
                self.details = json.loads(path.read_text()) if path.is_file() else {}
            except ValueError as exc:
                raise EntryError(path, f"not JSON ({exc}); rebuild the site") from exc

    @property
    def name(self) -> str:
        return "/".join(self.combo[k] for k in ("algo", "game", "run", "tag"))

    def path(self, url: str) -> Path:
        """A site URL as a file: under the site, or beside it in <site>-media (--media-url)."""
        base = self.manifest["site"].get("media_url") or ""
        if base and url.startswith(base):
            rel = url[len(base) :]
            media = self.site.with_name(self.site.name + "-media") / rel
            return media if media.exists() else self.site / rel
        if "://" in url or url.startswith("/"):
            raise EntryError(url, f"{self.name}: media outside the site cannot be read")
        return self.site / url

    def open(self, start: int) -> None:
        """Start decoding the video at step `start` (decoded and dropped up to it: exact)."""
        import imageio_ffmpeg

        assert self.entry
        self.close()
        path = self.path(self.entry["video"])
        if not path.is_file():
            raise EntryError(path, f"{self.name}: its video is missing; rebuild the site")
        self.reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = next(self.reader)
        self.size = tuple(meta["size"])
        self.last = None
        for _ in range(start):
            if not self.advance():
                break

    def advance(self) -> bool:
        """Decode the next frame into self.last; False (holding the last) at the end."""
        try:
            raw = next(self.reader)
        except StopIteration:
            return False
        w, h = self.size
        self.last = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
        return True

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def score_text(self, step: int) -> str:
        assert self.entry
        scores = (self.details.get("steps") or {}).get("score")
        score = scores[min(step, len(scores) - 1)] if scores else self.entry.get("score")
        if score is None:
            return "score not recorded"
        return f"score {score:,.2f}".rstrip("0").rstrip(".")

    def load_maps(self) -> bool:
        info = self.details.get("saliency")
        if not info:
            return False
        path = self.path(info["url"])
        expected = int(np.prod(info["shape"])) * 4
        if not path.is_file() or path.stat().st_size != expected:
            raise EntryError(path, f"{self.name}: saliency maps missing or not {expected} bytes")
        self.maps = Maps(info, np.fromfile(path, "<f4"))
        return True


# ---- the picture: layout, labels, composition --------------------------------------------------


def _even(n: int) -> int:
    return n + (n % 2)


@dataclass
class Layout:
    cols: int
    rows: int
    cell_w: int
    cell_h: int
    band_h: int
    line_h: int
    font: Any = field(repr=False)

    @property
    def size(self) -> tuple[int, int]:
        w = GAP + self.cols * (self.cell_w + GAP)
        h = GAP + self.rows * (self.cell_h + self.band_h + GAP)
        return _even(w), _even(h)

    def origin(self, index: int) -> tuple[int, int]:
        r, c = divmod(index, self.cols)
        return GAP + c * (self.cell_w + GAP), GAP + r * (self.cell_h + self.band_h + GAP)

    def picture(self, index: int, w: int, h: int) -> tuple[int, int, int, int]:
        """(x, y, w, h) of a w×h frame in cell `index`: centred, on an even column."""
        x, y = self.origin(index)
        return x + (self.cell_w - w) // 4 * 2, y, w, h

    def band(self, index: int) -> tuple[int, int, int, int]:
        x, y = self.origin(index)
        return x, y + self.cell_h, self.cell_w, self.band_h


def _font() -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=FONT_SIZE)
    except (TypeError, OSError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def make_layout(cells: list[Cell], cols: int) -> Layout:
    font = _font()
    line = font.getbbox("Ag·")[3] + 3
    return Layout(cols, math.ceil(len(cells) / cols),
                  _even(max(c.size[0] for c in cells)), _even(max(c.size[1] for c in cells)),
                  _even(3 * line + 2 * BAND_PAD), line, font)  # fmt: skip


class Labels:
    """Each cell's band: the algorithm (and game), `run N · checkpoint`, the score at the
    step; rendered once per text."""

    def __init__(self, manifest: dict[str, Any], layout: Layout, games: int):
        self.layout, self.games = layout, games
        self.cache: dict[tuple[str, ...], np.ndarray] = {}
        self.algo = {a["id"]: a["label"] for a in manifest["algos"]}
        self.tag = {t["id"]: t["label"] for t in manifest["tags"]}

    def lines(self, combo: dict[str, str]) -> tuple[str, str]:
        algo = self.algo.get(combo["algo"], combo["algo"])
        tag = self.tag.get(combo["tag"], combo["tag"])
        game = f" · {combo['game']}" if self.games > 1 else ""
        return algo + game, f"run {combo['run']} · {tag}"

    def band(self, combo: dict[str, str], last: str) -> np.ndarray:
        key = (*self.lines(combo), last)
        if key not in self.cache:
            from PIL import Image, ImageDraw

            lay = self.layout
            image = Image.new("RGB", (lay.cell_w, lay.band_h), BACKGROUND)
            draw = ImageDraw.Draw(image)
            for i, text in enumerate(key):
                y = BAND_PAD + i * lay.line_h
                draw.text((2, y), self._fit(text), fill=MUTED if i else TEXT, font=lay.font)
            self.cache[key] = np.asarray(image)
        return self.cache[key]

    def _fit(self, text: str) -> str:
        width = self.layout.cell_w - 4
        while len(text) > 1 and self.layout.font.getlength(text) > width:
            text = text[:-2] + "…"
        return text


@dataclass
class Overlay:
    mode: str
    alpha: float
    palette: str


class Composer:
    """Output frame n: every cell at step start + n, drawn into one picture."""

    def __init__(self, cells: list[Cell], layout: Layout, labels: Labels, start: int,
                 overlay: Overlay | None):  # fmt: skip
        self.cells, self.layout, self.labels, self.start = cells, layout, labels, start
        self.overlay = overlay
        w, h = layout.size
        self.background = np.empty((h, w, 3), np.uint8)
        self.background[:] = BACKGROUND
        self.n = -1
        self.frame: np.ndarray | None = None
        self.layers: dict[int, tuple[int, Any]] = {}

    def at(self, n: int) -> np.ndarray:
        if n != self.n or self.frame is None:
            if n != self.n + 1:  # not the next frame (moviepy asks frame 0 twice): reopen
                for c in self.cells:
                    if c.entry:
                        c.open(self.start + n)
            for c in self.cells:
                if c.entry:
                    c.advance()
            self.n, self.frame = n, self.compose(self.start + n)
        return self.frame

    def compose(self, step: int) -> np.ndarray:
        out = self.background.copy()
        lay = self.layout
        for index, cell in enumerate(self.cells):
            if cell.entry is None or cell.last is None:
                band = self.labels.band(cell.combo, "no entry")
            else:
                x, y, w, h = lay.picture(index, cell.last.shape[1], cell.last.shape[0])
                out[y : y + h, x : x + w] = self.draw_maps(index, cell, step)
                ended = " · video ended" if step >= cell.entry["frames"] else ""
                band = self.labels.band(cell.combo, cell.score_text(step) + ended)
            x, y, w, h = lay.band(index)
            out[y : y + h, x : x + w] = band
        return out

    def draw_maps(self, index: int, cell: Cell, step: int) -> np.ndarray:
        """The cell's frame with its map of `step` blended over the screen box (source-over
        of a premultiplied layer, as a canvas draws)."""
        import cv2

        picture = cell.last
        assert picture is not None
        if not self.overlay or not cell.maps:
            return picture
        assert cell.entry
        k = cell.maps.row_of(min(step, cell.entry["frames"] - 1))
        if self.layers.get(index, (None,))[0] != k:
            h, w = picture.shape[:2]
            x0, y0, x1, y1 = cell.maps.info["screen"]
            box = (round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h))
            ov = self.overlay
            size = (max(1, box[2] - box[0]), max(1, box[3] - box[1]))
            colour, alpha = cell.maps.layer(k, ov.mode, ov.alpha, ov.palette, size)
            keep = np.ascontiguousarray(np.repeat(1 - alpha, 3, axis=2))
            self.layers[index] = (k, (box, (np.ascontiguousarray(colour), keep)))
        (bx0, by0, bx1, by1), (colour, keep) = self.layers[index][1]
        out = picture.copy()
        region = out[by0:by1, bx0:bx1].astype(np.float32)
        cv2.multiply(region, keep, dst=region)
        cv2.add(region, colour, dst=region)
        out[by0:by1, bx0:bx1] = cv2.convertScaleAbs(region)  # rounded, saturated to 0-255
        return out


# ---- the command -------------------------------------------------------------------------------


@dataclass
class ClipOptions:
    site: Path = Path("site")
    out: Path = Path("clip.mp4")
    entries: list[str] = field(default_factory=list)
    grid: str | None = None
    start: int | None = None
    stop: int | None = None
    saliency: str | None = None
    salpha: float | None = None
    palette: str | None = None
    cols: int | None = None


@dataclass
class ClipResult:
    out: Path
    frames: int
    size: tuple[int, int]
    fps: float
    start: int
    stop: int
    cells: list[str]  # entry ids, row by row ("algo/game/run/tag" of a combination without one)
    pictures: list[tuple[int, int, int, int] | None]  # each cell's frame (x, y, w, h), or None
    bands: list[tuple[int, int, int, int]]  # each cell's label band (x, y, w, h)
    notes: list[str]
    seconds: float


def check_options(o: ClipOptions) -> None:
    problems = []
    if bool(o.entries) == bool(o.grid):
        problems.append("give entry ids (algo/game/run/tag) or --grid LINK, not both or neither")
    if o.saliency is not None and o.saliency not in MODES:
        problems.append(f"--saliency {o.saliency!r}: one of {', '.join(MODES)}")
    if o.salpha is not None and not 0 <= o.salpha <= 1:
        problems.append(f"--salpha {o.salpha}: between 0 and 1")
    if o.palette is not None and o.palette not in PALETTES:
        problems.append(f"--palette {o.palette!r}: one of {', '.join(PALETTES)}")
    if o.cols is not None and o.cols < 1:
        problems.append(f"--cols {o.cols}: at least 1")
    if o.out.suffix.lower() != ".mp4":
        problems.append(f"-o {o.out}: the clip is an .mp4")
    if problems:
        raise ConfigError(problems)


def make_clip(o: ClipOptions, logger: Any = None, say: Callable[[str], None] = print) -> ClipResult:
    """Render the clip `o` asks for into o.out (atomically); `logger` is moviepy's ("bar")."""
    from moviepy import VideoClip

    from zoo_site.fsutil import atomic_path

    began = time.perf_counter()
    check_options(o)
    site = Path(o.site)
    manifest = load_manifest(site)
    sel = select_link(manifest, o.grid) if o.grid else select_entries(manifest, o.entries, site)
    entries = [e for _, e in sel.cells if e]
    rates = sorted({float(e["fps"]) for e in entries})
    if len(rates) > 1:
        raise ConfigError([f"the cells' videos have different frame rates ({rates}): "
                           "clip entries of one frame rate"])  # fmt: skip
    start, stop = step_range(sel, o.start, o.stop)
    cells = [Cell(site, manifest, combo, entry) for combo, entry in sel.cells]
    mode = o.saliency or sel.saliency or "off"
    notes = []
    if mode != "off":
        bare = [c.name for c in cells if c.entry and not c.load_maps()]
        if bare:
            notes.append(f"No saliency maps for {', '.join(bare)}: left clean.")
    alpha = next((a for a in (o.salpha, sel.salpha) if a is not None), DEFAULT_ALPHA)
    palette = o.palette or sel.palette or "paper"
    overlay = None if mode == "off" else Overlay(mode, alpha, palette)
    try:
        for c in cells:
            if c.entry:
                c.open(start)
        layout = make_layout(cells, o.cols or sel.cols)
        games = len({c.combo["game"] for c in cells})
        composer = Composer(cells, layout, Labels(manifest, layout, games), start, overlay)
        fps = rates[0]
        count = stop - start
        clip = VideoClip(frame_function=lambda t: composer.at(round(t * fps)),
                         duration=(count + 0.5) / fps)  # fmt: skip
        with atomic_path(Path(o.out)) as tmp:
            clip.write_videofile(str(tmp), fps=fps, audio=False, logger=logger, **ENCODE)
    finally:
        for c in cells:
            c.close()
    for c in cells:
        if c.entry and stop > c.entry["frames"]:
            notes.append(f"{c.name} has {c.entry['frames']} steps: its last frame is held.")
    for note in notes:
        say(note)
    pictures = [layout.picture(i, *c.size) if c.entry else None for i, c in enumerate(cells)]
    bands = [layout.band(i) for i in range(len(cells))]
    return ClipResult(Path(o.out), count, layout.size, fps, start, stop, [c.name for c in cells],
                      pictures, bands, notes, time.perf_counter() - began)  # fmt: skip
