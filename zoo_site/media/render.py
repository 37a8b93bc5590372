"""Render media by streaming numpy frames to ffmpeg (the one shipped in imageio-ffmpeg).

Videos are H.264 in yuv420p with ``+faststart`` (the moov atom first, so playback starts
before the download ends), a keyframe every second (so seeking is instant), exactly one
video frame per rollout step, and no resizing by ffmpeg: any upscale is done here by an
integer factor, nearest-neighbour, so each pixel stays a sharp block. All of an entry's
videos are written in one pass over the steps, each by its own ffmpeg process.
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

CHUNK = 64  # steps rendered per numpy call
DEPTH = 2  # chunks queued per encoder: numpy works on the next while ffmpeg encodes


@dataclass(frozen=True)
class VideoInfo:
    frames: int
    width: int
    height: int
    fps: float


def upscale(frames: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour integer upscale of (N, H, W, C) frames, fully vectorised."""
    if scale == 1:
        return frames
    return frames.repeat(scale, axis=1).repeat(scale, axis=2)


def x264_params(cfg: RenderConfig, crf: int | None = None) -> list[str]:
    gop = max(1, round(cfg.fps))
    return [
        "-preset", cfg.preset, "-crf", str(cfg.crf if crf is None else crf), "-threads", "1",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-movflags", "+faststart", "-f", "mp4",
    ]  # fmt: skip


class VideoSink:
    """One ffmpeg process fed RGB chunks by its own thread through a bounded queue, so the
    caller's numpy and the encoders overlap; the file appears only when it is complete.

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
            str(tmp), size, fps=cfg.fps, codec="libx264", pix_fmt_in="rgb24",
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

    def send(self, chunk: np.ndarray) -> None:
        if chunk.shape[2:0:-1] != self.size:
            raise ValueError(f"{self.path.name}: frame size {chunk.shape} is not {self.size}")
        self._raise()
        self._queue.put(np.ascontiguousarray(chunk))
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


def render_gameplay(frames: np.ndarray, path: Path, cfg: RenderConfig) -> VideoInfo:
    """One video frame per rollout step, upscaled by cfg.scale."""
    _, h, w, _ = frames.shape
    size = (w * cfg.scale, h * cfg.scale)
    with sinks({"gameplay": (path, size)}, cfg) as out:
        for start, stop in chunks(len(frames)):
            out["gameplay"].send(upscale(frames[start:stop], cfg.scale))
    return out["gameplay"].info(cfg.fps)


def poster_step(steps: int) -> int:
    """The step shown as the poster: the middle of the rollout."""
    return steps // 2


def save_png(image: np.ndarray, path: Path) -> None:
    with atomic_path(Path(path)) as tmp:
        Image.fromarray(image).save(tmp, format="PNG", optimize=False)


def render_poster(frame: np.ndarray, path: Path, scale: int) -> None:
    save_png(upscale(frame[None], scale)[0], path)
