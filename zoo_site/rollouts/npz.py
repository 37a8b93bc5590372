"""Rollout files in the Atari Model Zoo's npz format: written atomically, read and validated.

The npz format is the Atari Model Zoo's: ``observations`` (N, 84, 84, 4) float in [0, 1],
``frames`` (N, 210, 160, 3) uint8, ``ram`` (N, 128) uint8, ``representation`` (N, 512),
``score`` (N) the running score *before* step n's action, ``ep_rewards`` (returns of the
completed episodes). zoo-site adds ``actions`` (N, index into the minimal action set),
``rewards`` (N, reward after step n) and ``action_names``.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo_site.errors import EntryError
from zoo_site.fsutil import atomic_path

REQUIRED_KEYS = ("frames", "observations")


@dataclass
class Rollout:
    """A validated rollout: frames in memory, everything else small or lazily read."""

    path: Path
    frames: np.ndarray | Member
    """(N, H, W, 3) uint8; a `Member` read in slices when loaded lazily."""
    steps: int
    score: np.ndarray | None
    """The running score before each step; None when the file records none."""
    ep_rewards: np.ndarray
    actions: np.ndarray | None
    action_names: list[str] | None
    rewards: np.ndarray | None = None
    observations: np.ndarray | Member | None = None
    action_values: list | None = None
    """Continuous actions (one list of floats per step), where `actions` cannot say them."""


#: The dtype of each recorded array.
DTYPES = dict(observations=np.float32, frames=np.uint8, ram=np.uint8, representation=np.float32,
              score=np.float32, actions=np.int32, rewards=np.float32)  # fmt: skip


def as_arrays(rec: dict[str, list], returns: list[float], names: list[str]) -> dict:
    """The recorded lists as the zoo's arrays (and zoo-site's additions)."""
    out = {k: np.asarray(v, dtype=DTYPES[k]) for k, v in rec.items()}
    out["ep_rewards"] = np.asarray(returns, np.float32)
    out["action_names"] = np.asarray(names)
    return out


class RolloutWriter:
    """A rollout npz written a step at a time, holding none of it: each key's rows go to
    an unnamed temporary file in `spool_dir`; `finish` streams them into the compressed
    members (the arrays `as_arrays` would make, the file `save` would write) and the file
    appears at once, complete."""

    def __init__(self, path: Path, spool_dir: Path):
        self.path, self.count = Path(path), 0
        self._dir = Path(spool_dir)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._files: dict[str, Any] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}

    def __enter__(self) -> RolloutWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, values: dict[str, Any]) -> None:
        """One step: a value per key, the same keys and shapes every step."""
        if self.count and values.keys() != self._files.keys():
            raise ValueError(
                f"step {self.count} has keys {sorted(values)}, not {sorted(self._files)}"
            )
        for key, value in values.items():
            row = np.asarray(value, DTYPES[key])
            if not self.count:
                self._files[key] = tempfile.TemporaryFile(dir=self._dir, prefix=f"{key}-")
                self._shapes[key] = row.shape
            elif row.shape != self._shapes[key]:
                raise ValueError(f"step {self.count}: {key} has shape {row.shape}, "
                                 f"not {self._shapes[key]}")  # fmt: skip
            self._files[key].write(row.tobytes())
        self.count += 1

    def finish(self, extra: dict[str, np.ndarray]) -> None:
        """Write the file: the recorded keys, then `extra` (small arrays, whole)."""
        with (
            atomic_path(self.path, suffix=".npz") as tmp,
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive,
        ):
            for key, spool in self._files.items():
                shape = (self.count, *self._shapes[key])
                descr = np.lib.format.dtype_to_descr(np.dtype(DTYPES[key]))
                header = {"descr": descr, "fortran_order": False, "shape": shape}
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array_header_1_0(member, header)
                    spool.seek(0)
                    shutil.copyfileobj(spool, member, 1 << 22)
            for key, array in extra.items():
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
        self.close()

    def close(self) -> None:
        for spool in self._files.values():
            spool.close()


def save(path: Path, data: dict[str, np.ndarray]) -> None:
    """Write a rollout npz atomically (compressed, as the zoo's own files are)."""
    with atomic_path(Path(path), suffix=".npz") as tmp:
        np.savez_compressed(tmp, **data)  # type: ignore[arg-type]


def load(path: Path, observations: bool = True, lazy: bool = False) -> Rollout:
    """Open and validate a rollout; any problem is an EntryError naming the file.

    Every array is read once, in full, which checks its CRC (a damaged member is found
    before it is used); with `observations=False` the (large) observations are only
    checked for shape, not read. With `lazy`, the frames and observations come back as
    `Member`s, read a slice at a time when used (memory then does not grow with the
    rollout's length) and checked as they are read: reading the last row checks the
    CRC, so damage is an EntryError naming the file then, as it is here for the others.
    """
    path = Path(path)
    try:
        npz = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise EntryError(path, "the rollout file does not exist") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise EntryError(path, f"not a readable npz file (truncated or corrupt?): {exc}") from None
    with npz:
        missing = [k for k in REQUIRED_KEYS if k not in npz.files]
        if missing:
            raise EntryError(
                path, f"missing key(s) {', '.join(missing)} (has: {', '.join(npz.files)})"
            )
        lengths = {k: _member_shape(npz, path, k)[0] for k in npz.files if k != "action_names"}
        lengths.pop("ep_rewards", None)
        frames: np.ndarray | Member
        if lazy:
            frames = Member(path, "frames")
            _check_frames(path, frames)
        else:
            frames = _read(npz, path, "frames")
            _check_frames(path, frames)
        n = len(frames)
        if n == 0:
            raise EntryError(path, "empty rollout (0 steps)")
        bad = {k: m for k, m in lengths.items() if m != n}
        if bad:
            detail = ", ".join(f"{k} has {m}" for k, m in sorted(bad.items()))
            raise EntryError(path, f"frames has {n} steps but {detail}")
        score = _read(npz, path, "score") if "score" in npz.files else None
        ep = _read(npz, path, "ep_rewards") if "ep_rewards" in npz.files else np.zeros(0)
        actions = _read(npz, path, "actions") if "actions" in npz.files else None
        names = (
            [str(a) for a in _read(npz, path, "action_names")]
            if "action_names" in npz.files
            else None
        )
        rewards = _read(npz, path, "rewards") if "rewards" in npz.files else None
        obs: np.ndarray | Member | None = None
        if observations and lazy:
            obs = Member(path, "observations")
        elif observations:
            obs = _read(npz, path, "observations")
        for key in set(npz.files) - {"frames", "observations", "score", "ep_rewards",
                                     "actions", "action_names", "rewards"}:  # fmt: skip
            Member(path, key).check()  # ram, representation, ...: checked, not kept
    score = None if score is None else np.asarray(score, np.float64).reshape(n)
    return Rollout(path, frames, n, score,
                   np.asarray(ep, np.float64).reshape(-1), actions, names, rewards,
                   obs)  # fmt: skip


class Member:
    """One array of an npz file, never held whole: `shape`, `dtype` and `len` as the
    array's, and `member[i:j]` (or `[i]`, or `[sorted indices]`) read those rows.

    Rows are read forward through the (possibly compressed) member: a slice at or after
    the last one read continues the stream, an earlier one reopens it. Reading every row
    in order costs one decompression, as loading the array would; memory holds a slice.
    """

    BLOCK = 1 << 24  # bytes skipped or checked per read

    def __init__(self, path: Path, key: str):
        self.path, self.key = Path(path), key
        self._zip: zipfile.ZipFile | None = None
        self._file: Any = None
        self._row = 0  # the stream's position, in rows
        self._open()
        if self.fortran:  # rare; the rows are not contiguous: read it whole, once
            self._whole: np.ndarray | None = _read_member(self.path, self.key)
        else:
            self._whole = None

    def _open(self) -> None:
        self.close()
        try:
            self._zip = zipfile.ZipFile(self.path)
            self._file = self._zip.open(f"{self.key}.npy")
            version = np.lib.format.read_magic(self._file)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)  # fmt: skip
            shape, self.fortran, dtype = read_header(self._file)
        except Exception as exc:
            self.close()
            raise EntryError(self.path, f"cannot read key {self.key!r}: {exc}") from None
        if dtype.hasobject:
            self.close()
            raise EntryError(self.path, f"key {self.key!r} holds Python objects, not numbers")
        self.shape: tuple[int, ...] = tuple(shape)
        self.dtype = dtype
        self.ndim = len(shape)
        self.row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        self._row = 0

    def close(self) -> None:
        for handle in (self._file, self._zip):
            if handle is not None:
                handle.close()
        self._file = self._zip = None

    def __del__(self) -> None:
        self.close()

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def __getitem__(self, index):
        if self._whole is not None:
            return self._whole[index]
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise IndexError("Member slices must have step 1")
            return self.rows(start, max(start, stop))
        if isinstance(index, (int, np.integer)):
            i = int(index) + (len(self) if index < 0 else 0)
            return self.rows(i, i + 1)[0]
        indices = np.asarray(index)
        if indices.ndim != 1 or not np.issubdtype(indices.dtype, np.integer):
            raise IndexError(f"unsupported index for a Member: {index!r}")
        out = np.empty((len(indices), *self.shape[1:]), self.dtype)
        for k in np.argsort(indices, kind="stable"):  # in file order: one pass
            out[k] = self.rows(int(indices[k]), int(indices[k]) + 1)[0]
        return out

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows [start, stop) as a new array."""
        if not 0 <= start <= stop <= len(self):
            raise IndexError(f"rows {start}:{stop} of {len(self)}")
        if self._file is None or start < self._row:
            self._open()
        out = np.empty((stop - start, *self.shape[1:]), self.dtype)
        try:
            self._skip((start - self._row) * self.row_bytes)
            self._row = start
            view = out.reshape(-1).view(np.uint8).data
            got = 0
            while got < len(view):
                n = self._file.readinto(view[got:])
                if not n:
                    raise EOFError(f"the data ends after {start + got // self.row_bytes} rows")
                got += n
            self._row = stop
            if stop == len(self):
                self._file.read(1)  # at the end: checks the CRC
        except EntryError:
            raise
        except Exception as exc:  # zipfile, zlib and EOF errors for damaged data
            self.close()
            raise EntryError(self.path, f"cannot read key {self.key!r} (truncated or corrupt?): "
                             f"{exc}") from None  # fmt: skip
        return out

    def _skip(self, count: int) -> None:
        while count > 0:
            chunk = self._file.read(min(count, self.BLOCK))
            if not chunk:
                raise EOFError("the data ends early")
            count -= len(chunk)

    def check(self) -> None:
        """Read the member through to its end (its CRC checked), holding a block at a time."""
        if self._whole is not None:
            return
        try:
            if self._file is None or self._row:
                self._open()
            total = len(self) * self.row_bytes
            self._skip(total)
            if self._file.read(1):
                raise ValueError("more data than its shape says")
        except EntryError:
            raise
        except Exception as exc:
            self.close()
            raise EntryError(self.path, f"cannot read key {self.key!r} (truncated or corrupt?): "
                             f"{exc}") from None  # fmt: skip
        self._open()


def _read_member(path: Path, key: str) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return npz[key]
    except Exception as exc:
        raise EntryError(path, f"cannot read key {key!r} (truncated or corrupt?): {exc}") from None


def _member_shape(npz, path: Path, key: str) -> tuple[int, ...]:
    """The shape of one array, read from its header only (observations can be huge)."""
    try:
        with npz.zip.open(f"{key}.npy") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, _ = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, _ = np.lib.format.read_array_header_2_0(f)
    except Exception as exc:
        raise EntryError(path, f"cannot read key {key!r}: {exc}") from None
    if not shape:
        raise EntryError(path, f"key {key!r} is a scalar, expected one value per step")
    return shape


def _read(npz, path: Path, key: str) -> np.ndarray:
    try:
        return npz[key]
    except Exception as exc:  # zipfile, zlib and numpy raise many kinds for damaged data
        raise EntryError(path, f"cannot read key {key!r} (truncated or corrupt?): {exc}") from None


def _check_frames(path: Path, frames: np.ndarray | Member) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise EntryError(
            path, f"frames must be (N, height, width, 3) RGB, got shape {frames.shape}"
        )
    if frames.dtype != np.uint8:
        raise EntryError(path, f"frames must be uint8, got {frames.dtype}")
