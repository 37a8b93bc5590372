"""Probing videos with what imageio-ffmpeg ships (no ffprobe): decode, and read MP4 boxes."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def boxes(data: bytes, start: int = 0, end: int | None = None):
    """Yield (type, payload_start, box_end) of the boxes in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        yield kind, pos + header, pos + size
        pos += size


def top_level(path: Path) -> list[str]:
    data = Path(path).read_bytes()
    return [kind.decode() for kind, _, _ in boxes(data)]


def find(data: bytes, path: list[bytes], start: int = 0, end: int | None = None):
    """All payload ranges of boxes at the nested `path` (e.g. moov/trak/.../stss)."""
    found = []
    for kind, payload, box_end in boxes(data, start, end):
        if kind != path[0]:
            continue
        if len(path) == 1:
            found.append((payload, box_end))
        else:
            found.extend(find(data, path[1:], payload, box_end))
    return found


def keyframes(path: Path) -> list[int]:
    """1-based sample numbers of the sync samples (keyframes), from the stss box."""
    data = Path(path).read_bytes()
    stss = find(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stss"])
    assert stss, f"{path}: no stss box (every frame a keyframe?)"
    payload, _ = stss[0]
    (count,) = struct.unpack(">I", data[payload + 4 : payload + 8])
    return list(struct.unpack(f">{count}I", data[payload + 8 : payload + 8 + 4 * count]))


def decode(path: Path) -> tuple[dict, np.ndarray]:
    """Every frame of a video as RGB uint8 (N, H, W, 3), with ffmpeg's metadata."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    frames = [np.frombuffer(f, np.uint8).reshape(height, width, 3) for f in reader]
    return meta, np.stack(frames) if frames else np.zeros((0, height, width, 3), np.uint8)
