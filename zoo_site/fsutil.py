"""Atomic file writes and the atomic swap of a whole site folder."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo_site.stage import Stage as Stage  # the staged writes: zoo_site/stage.py
from zoo_site.stage import digest
from zoo_site.stage import stage_of as stage_of
from zoo_site.stage import staging as staging


@contextlib.contextmanager
def atomic_path(target: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it replaces `target` at once.

    The temporary name keeps the target's suffix so tools that pick a format from the
    extension (ffmpeg) still do. On any exception the temporary file is removed and the
    target is left exactly as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o644)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes(target: Path, data: bytes) -> None:
    stage = stage_of(target)
    if stage is not None:
        stage.write(target, data)
        return
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(target: Path, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """The one JSON encoding used for every file: deterministic, compact, UTF-8."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"


def write_json(target: Path, obj: Any) -> None:
    write_text(target, dumps_json(obj))


bytes_digest = digest
"""What `file_digest` gives for a file holding `data` (the stage's digest of what it writes)."""


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def cached_digest(path: Path, cache_dir: Path) -> str:
    """file_digest(path), remembered in `cache_dir/digests/` against the file's size,
    modification time (ns) and inode, so a rebuild does not read every model and rollout
    again (as git and make trust a file's stat). One small record per file: parallel
    workers never write the same record for different files."""
    path = Path(path).resolve()
    st = path.stat()
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
    name = hashlib.blake2b(str(path).encode(), digest_size=16).hexdigest()
    record = Path(cache_dir) / "digests" / f"{name}.json"
    try:
        known = json.loads(record.read_text(encoding="utf-8"))
        if known["stamp"] == stamp and known["path"] == str(path):
            return known["digest"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = file_digest(path)
    write_json(record, {"path": str(path), "stamp": stamp, "digest": digest})
    return digest


def link_or_copy(src: Path, dst: Path) -> None:
    """Place `src` at `dst` (a hard link when possible: media are never copied twice)."""
    stage = stage_of(dst)
    if stage is not None:
        stage.link(src, dst)
        return
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


def swap_in_dir(new: Path, target: Path) -> None:
    """Make the finished folder `new` become `target`, never leaving a half-written site.

    With an existing target the two folders are exchanged atomically where the OS allows
    (then the old one is deleted); otherwise the old site is renamed aside first and only
    deleted once the new one is in place.
    """
    new, target = Path(new), Path(target)
    if not target.exists():
        os.replace(new, target)
        return
    if _exchange(new, target):
        discard_dir(new, target)
        return
    aside = target.with_name(f".{target.name}.old-{os.getpid()}")
    os.replace(target, aside)
    os.replace(new, target)
    discard_dir(aside, target)


def _trash_of(target: Path) -> str:
    return f".{target.name}.trash-"


def discard_dir(folder: Path, target: Path) -> None:
    """Delete `folder` (an old version of `target`) without waiting: it is renamed to a
    hidden trash name beside `target` and deleted by a detached process. A site of 25,500
    entries is ~150,000 files and took 10 s to delete here; the build need not wait."""
    trash = Path(target).with_name(f"{_trash_of(Path(target))}{os.getpid()}-{time.monotonic_ns()}")
    os.replace(folder, trash)
    _delete_detached([trash])


def _delete_detached(folders: list[Path]) -> None:
    code = "import shutil, sys\nfor f in sys.argv[1:]: shutil.rmtree(f, ignore_errors=True)"
    try:
        subprocess.Popen([sys.executable, "-c", code, *map(str, folders)], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)  # fmt: skip
    except OSError:  # no process to spare: delete them here
        for f in folders:
            shutil.rmtree(f, ignore_errors=True)


def empty_trash(target: Path) -> None:
    """Delete what a killed deletion of `target`'s old versions left (in the background)."""
    target = Path(target)
    left = sorted(target.parent.glob(_trash_of(target) + "*"))
    if left:
        _delete_detached(left)


def recover_aside(target: Path) -> None:
    """If a previous run died between the two renames of `swap_in_dir`, put the site back."""
    target = Path(target)
    if target.exists():
        return
    for aside in sorted(target.parent.glob(f".{target.name}.old-*")):
        os.replace(aside, target)
        return
