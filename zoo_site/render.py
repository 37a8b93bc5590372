"""Render media by streaming numpy frames to ffmpeg (the one shipped in imageio-ffmpeg).

Videos are H.264 in yuv420p with ``+faststart`` (the moov atom first, so playback starts
before the download ends), a keyframe every second (so seeking is instant), exactly one
video frame per rollout step, and no resizing by ffmpeg: any upscale is done here by an
integer factor, nearest-neighbour, so each Atari pixel stays a sharp block.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from zoo_site.config import RenderConfig
from zoo_site.errors import EntryError
from zoo_site.fsutil import atomic_path

CHUNK = 64  # frames upscaled per numpy call


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
    n, h, w, c = frames.shape
    big = np.broadcast_to(frames[:, :, None, :, None, :], (n, h, scale, w, scale, c))
    return big.reshape(n, h * scale, w * scale, c)


def x264_params(cfg: RenderConfig) -> list[str]:
    gop = max(1, round(cfg.fps))
    return [
        "-preset", cfg.preset, "-crf", str(cfg.crf),
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-movflags", "+faststart", "-f", "mp4",
    ]  # fmt: skip


def encode(
    path: Path, chunks: Iterable[np.ndarray], size: tuple[int, int], cfg: RenderConfig
) -> int:
    """Encode RGB uint8 frame chunks of `size` (width, height) to `path`, atomically."""
    import imageio_ffmpeg

    width, height = size
    if width % 2 or height % 2:
        raise EntryError(path, f"video size {width}x{height} must be even for yuv420p")
    count = 0
    with atomic_path(Path(path)) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp), size, fps=cfg.fps, codec="libx264", pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p", quality=None, macro_block_size=1,
            ffmpeg_log_level="error", output_params=x264_params(cfg),
        )  # fmt: skip
        writer.send(None)
        try:
            for chunk in chunks:
                writer.send(np.ascontiguousarray(chunk))
                count += len(chunk)
        finally:
            writer.close()
    return count


def _chunks(frames: np.ndarray, scale: int) -> Iterator[np.ndarray]:
    for start in range(0, len(frames), CHUNK):
        yield upscale(frames[start : start + CHUNK], scale)


def render_gameplay(frames: np.ndarray, path: Path, cfg: RenderConfig) -> VideoInfo:
    """One video frame per rollout step, upscaled by cfg.scale."""
    n, h, w, _ = frames.shape
    size = (w * cfg.scale, h * cfg.scale)
    count = encode(path, _chunks(frames, cfg.scale), size, cfg)
    return VideoInfo(count, size[0], size[1], cfg.fps)


def poster_step(steps: int) -> int:
    """The step shown as the poster: the middle of the rollout."""
    return steps // 2


def render_poster(frame: np.ndarray, path: Path, scale: int) -> None:
    image = Image.fromarray(upscale(frame[None], scale)[0])
    with atomic_path(Path(path)) as tmp:
        image.save(tmp, format="PNG", optimize=False)
