"""Render media by streaming numpy frames to ffmpeg (the one shipped in imageio-ffmpeg).

Videos are H.264 in yuv420p with ``+faststart`` (the moov atom first, so playback starts
before the download ends), a keyframe every second (so seeking is instant), exactly one
video frame per rollout step, and no resizing by ffmpeg: any upscale is done here by an
integer factor, nearest-neighbour, so each pixel stays a sharp block. All of an entry's
videos are written in one pass over the steps, each by its own ffmpeg process.

The encoders are fed yuv420p, made here (`Planes`), not RGB: ffmpeg then converts nothing
(its conversion was a quarter of each encoder's time) and the pipes carry half the bytes.
The colours are BT.601 at limited range, as ffmpeg's own conversion, in exact integer
arithmetic (`yuv_of`): a colour converts the same alone, in a lookup table, as in a frame.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from zoo_site.config import RenderConfig
from zoo_site.errors import EntryError
from zoo_site.fsutil import atomic_path
from zoo_site.media.poster import PosterPicker

CHUNK = 64  # steps rendered per numpy call
DEPTH = 2  # chunks queued per encoder: numpy works on the next while ffmpeg encodes


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    width: int
    height: int
    fps: float


def upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour integer upscale of (N, H, W, ...) frames, fully vectorised: a
    repeat along the width, then each row written `scale` times by broadcasting (6x faster
    than repeating along both axes, the same pixels)."""
    if scale == 1:
        return frames
    n, h, w, *rest = frames.shape
    out = np.empty((n, h, scale, w * scale, *rest), frames.dtype)
    out[...] = frames.repeat(scale, axis=2)[:, :, None]
    return out.reshape(n, h * scale, w * scale, *rest)


# ---- yuv420p ----------------------------------------------------------------------------

#: BT.601 at limited range (what ffmpeg's own rgb24 -> yuv420p conversion uses), in 16-bit
#: fixed point: each value is (coefficients . (R, G, B) + offset << 16 + 1 << 15) >> 16, the
#: formula Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 (and U, V alike) rounded, in
#: int32 (exact, so a colour converts the same alone, in a table, as in a frame).
_BT601 = ((65.481, 128.553, 24.966, 16), (-37.797, -74.203, 112.0, 128),
          (112.0, -93.786, -18.214, 128))  # fmt: skip
_COEFFICIENTS = [tuple(round(c / 255 * 65536) for c in row[:3]) for row in _BT601]
_OFFSETS = [row[3] << 16 for row in _BT601]
_ROUND = 1 << 15


def yuv_numerators(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(..., 3) uint8 RGB -> Y, U, V before rounding, in units of 1/65536 (int32): one
    pixel's value is (n + 2^15) >> 16, the mean of four is (n1 + n2 + n3 + n4 + 2^17) >> 18."""
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    out = []
    for (cr, cg, cb), offset in zip(_COEFFICIENTS, _OFFSETS, strict=True):
        n = r * np.int32(cr)
        n += g * np.int32(cg)
        n += b * np.int32(cb)
        n += np.int32(offset)
        out.append(n)
    return out[0], out[1], out[2]


def _byte(numerator: np.ndarray, shift: int = 16) -> np.ndarray:
    """Numerators (in units of 1 / 2^shift) rounded to bytes."""
    return ((numerator + (1 << (shift - 1))) >> shift).astype(np.uint8)


def yuv_of(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Y, U, V (uint8) of each pixel of (..., 3) RGB, no subsampling: for a colour table,
    or for frames whose every 2x2 block is one colour. The same integers as
    yuv_numerators, computed 64 Ki pixels at a time in buffers that stay in the CPU's cache
    (4x faster on a chunk of gameplay)."""
    shape = rgb.shape[:-1]
    flat = rgb.reshape(-1, 3)
    out = [np.empty(len(flat), np.uint8) for _ in range(3)]
    block = 1 << 16
    n = np.empty(min(block, len(flat)), np.int32)
    term = np.empty_like(n)
    for start in range(0, len(flat), block):
        channels = np.ascontiguousarray(flat[start : start + block].T)  # 3, pixels
        size = channels.shape[1]
        acc, tmp = n[:size], term[:size]
        for plane, coefficients, offset in zip(out, _COEFFICIENTS, _OFFSETS, strict=True):
            np.multiply(channels[0], coefficients[0], out=acc, dtype=np.int32)
            for channel, coefficient in zip(channels[1:], coefficients[1:], strict=True):
                np.multiply(channel, coefficient, out=tmp, dtype=np.int32)
                acc += tmp
            acc += offset + _ROUND
            acc >>= 16
            plane[start : start + size] = acc
    return out[0].reshape(shape), out[1].reshape(shape), out[2].reshape(shape)


def _average_2x2(c: np.ndarray) -> np.ndarray:
    """Chroma of each 2x2 block of (k, H, W) numerators: their mean, rounded (for one
    colour, the same as yuv_of)."""
    total = c[:, 0::2, 0::2] + c[:, 0::2, 1::2]
    total += c[:, 1::2, 0::2]
    total += c[:, 1::2, 1::2]
    return _byte(total, 18)


def write_yuv(frames: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    """(k, H, W, 3) RGB (H, W even) into yuv420p plane views (k, H, W), (k, H/2, W/2) x 2,
    each chroma sample the mean of its 2x2 block."""
    ny, nu, nv = yuv_numerators(frames)
    y[...] = _byte(ny)
    u[...] = _average_2x2(nu)
    v[...] = _average_2x2(nv)


class Planes:
    """k frames of yuv420p in one contiguous (k, W*H*3/2) array, as the encoder reads them,
    with views of its planes: `y` (k, H, W), `u` and `v` (k, H/2, W/2)."""

    def __init__(self, data: np.ndarray, size: tuple[int, int]):
        w, h = size
        n = w * h
        self.data, self.size = data, size
        self.y = data[:, :n].reshape(-1, h, w)
        self.u = data[:, n : n + n // 4].reshape(-1, h // 2, w // 2)
        self.v = data[:, n + n // 4 :].reshape(-1, h // 2, w // 2)

    @classmethod
    def empty(cls, count: int, size: tuple[int, int]) -> Planes:
        return cls(np.empty((count, size[0] * size[1] * 3 // 2), np.uint8), size)

    @classmethod
    def of(cls, frames: np.ndarray) -> Planes:
        """(k, H, W, 3) RGB frames, converted."""
        k, h, w, _ = frames.shape
        out = cls.empty(k, (w, h))
        write_yuv(frames, out.y, out.u, out.v)
        return out

    def __len__(self) -> int:
        return len(self.data)

    def head(self, count: int) -> Planes:
        return Planes(self.data[:count], self.size)

    def region(self, x: int, y: int, width: int, height: int) -> tuple[np.ndarray, ...]:
        """Views of a rectangle of every plane (x, y, width and height even)."""
        cx, cy, cw, ch = x // 2, y // 2, width // 2, height // 2
        return (self.y[:, y : y + height, x : x + width], self.u[:, cy : cy + ch, cx : cx + cw],
                self.v[:, cy : cy + ch, cx : cx + cw])  # fmt: skip

    def crop(self, x: int, y: int, width: int, height: int) -> Planes:
        """A rectangle of these frames as frames of their own (a copy)."""
        out = Planes.empty(len(self), (width, height))
        for target, source in zip((out.y, out.u, out.v), self.region(x, y, width, height),
                                  strict=True):  # fmt: skip
            target[...] = source
        return out

    def fill(self, rgb: np.ndarray) -> None:
        """Every pixel of every frame one colour."""
        for plane, value in zip((self.y, self.u, self.v), yuv_of(np.asarray(rgb, np.uint8)),
                                strict=True):  # fmt: skip
            plane[...] = value


def planes_of(frames: np.ndarray, scale: int) -> Planes:
    """(k, H, W, 3) RGB frames upscaled by `scale`, as yuv420p. With an even scale every
    2x2 block is one source pixel: its colour is converted once, at the source size, and
    the planes upscaled (the same values as converting the upscaled frames)."""
    if scale % 2:
        return Planes.of(upscale(frames, scale))
    k, h, w, _ = frames.shape
    out = Planes.empty(k, (w * scale, h * scale))
    y, u, v = yuv_of(frames)
    out.y[...] = upscale(y, scale)
    half = scale // 2
    out.u[...] = upscale(u, half)
    out.v[...] = upscale(v, half)
    return out


def x264_params(cfg: RenderConfig, crf: int | None = None) -> list[str]:
    gop = max(1, round(cfg.fps))
    return [
        "-preset", cfg.preset, "-crf", str(cfg.crf if crf is None else crf), "-threads", "1",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-movflags", "+faststart", "-f", "mp4",
    ]  # fmt: skip


class VideoSink:
    """One ffmpeg process fed yuv420p chunks (`Planes`) by its own thread through a bounded
    queue, so the caller's numpy and the encoders overlap; the file appears only when it is
    complete.

    A sent chunk must not be modified afterwards until DEPTH + 2 more chunks were sent
    (the queue, the one being written, the one being made): reuse buffers in rotation.
    """

    def __init__(self, stack: contextlib.ExitStack, path: Path, size: tuple[int, int], cfg,
                 crf: int | None = None):  # fmt: skip
        import imageio_ffmpeg

        width, height = size
        if width % 2 or height % 2:
            raise EntryError(path, f"video size {width}x{height} must be even for yuv420p")
        self.path, self.size, self.count = Path(path), size, 0
        tmp = stack.enter_context(atomic_path(self.path))
        self._writer = imageio_ffmpeg.write_frames(
            str(tmp), size, fps=cfg.fps, codec="libx264", pix_fmt_in="yuv420p",
            pix_fmt_out="yuv420p", quality=None, macro_block_size=1,
            ffmpeg_log_level="error", output_params=x264_params(cfg, crf),
        )  # fmt: skip
        self._writer.send(None)
        self._queue: queue.Queue = queue.Queue(maxsize=DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._feed, name=f"encode {self.path.name}")
        self._thread.start()
        stack.callback(self._finish)

    def _feed(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:  # after a failure, keep draining so send never blocks
                try:
                    self._writer.send(chunk)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    self._error = exc

    def send(self, chunk: Planes) -> None:
        if chunk.size != self.size:
            raise ValueError(f"{self.path.name}: frame size {chunk.size} is not {self.size}")
        self._raise()
        self._queue.put(np.ascontiguousarray(chunk.data))
        self.count += len(chunk)

    def _raise(self) -> None:
        if self._error is not None:
            raise EntryError(self.path, f"the encoder failed: {self._error}") from self._error

    def _finish(self) -> None:
        self._queue.put(None)
        self._thread.join()
        try:
            self._writer.close()
        finally:
            self._raise()

    def info(self, fps: float) -> VideoInfo:
        return VideoInfo(self.count, self.size[0], self.size[1], fps)


@contextlib.contextmanager
def sinks(specs: dict[str, tuple], cfg: RenderConfig) -> Iterator[dict[str, VideoSink]]:
    """Open one VideoSink per name, from (path, size[, crf]); all files are replaced at
    once on success."""
    with contextlib.ExitStack() as stack:
        yield {
            name: VideoSink(stack, spec[0], spec[1], cfg, *spec[2:]) for name, spec in specs.items()
        }


def chunks(steps: int) -> Iterator[tuple[int, int]]:
    for start in range(0, steps, CHUNK):
        yield start, min(steps, start + CHUNK)


def render_gameplay(frames, path: Path, cfg: RenderConfig, poster: Path | None = None) -> VideoInfo:
    """One video frame per rollout step, upscaled by cfg.scale, read CHUNK steps at a
    time (`frames` may be an npz `Member`); with `poster`, also the poster (see
    `PosterPicker`), found on the way."""
    _, h, w, _ = frames.shape
    size = (w * cfg.scale, h * cfg.scale)
    picker = PosterPicker(len(frames))
    with sinks({"gameplay": (path, size)}, cfg) as out:
        for start, stop in chunks(len(frames)):
            chunk = frames[start:stop]
            picker.see(start, chunk)
            out["gameplay"].send(planes_of(chunk, cfg.scale))
        if poster is not None:
            render_poster(picker.pick(frames)[1], poster, cfg.scale)
    return out["gameplay"].info(cfg.fps)


def save_png(image: np.ndarray, path: Path, palette: np.ndarray | None = None) -> None:
    """A lossless PNG of (H, W, 3) RGB, or of (H, W) indices into `palette` (n, 3) as a
    palette image (a third of the data to compress)."""
    if palette is None:
        picture = Image.fromarray(np.ascontiguousarray(image))
    else:
        picture = Image.fromarray(np.ascontiguousarray(image, np.uint8))
        picture.putpalette(np.asarray(palette, np.uint8).reshape(-1).tolist())
    with atomic_path(Path(path)) as tmp:
        picture.save(tmp, format="PNG", optimize=False)


def render_poster(frame: np.ndarray, path: Path, scale: int) -> None:
    """A frame (H, W, 3), upscaled, as a PNG: a palette image when it has at most 256
    colours (an Atari screen has a few dozen), found on the small frame; the same pixels
    either way, and deterministic (the palette is in colour order)."""
    rgb = frame.reshape(-1, 3).astype(np.uint32)
    colours, index = np.unique(rgb[:, 0] << 16 | rgb[:, 1] << 8 | rgb[:, 2], return_inverse=True)
    if len(colours) > 256:
        save_png(upscale(frame[None], scale)[0], path)
        return
    palette = np.stack([colours >> 16, colours >> 8 & 255, colours & 255], axis=1)
    indices = index.reshape(1, *frame.shape[:2], 1).astype(np.uint8)
    save_png(upscale(indices, scale)[0, :, :, 0], path, palette)
