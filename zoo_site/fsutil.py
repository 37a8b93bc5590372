"""Atomic file writes and the atomic swap of a whole site folder."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from zoo_site.errors import ZooSiteError


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


class Stage:
    """A folder being filled from scratch that no one reads until it is swapped in whole
    (see `staging`). Files written under it are written in place, without a temporary
    file and an fsync each, by a writer thread in batches (making a file or a folder is a
    kernel call of 0.1-0.3 ms on this kind of disk, made while the caller computes the
    next files; more writers only contend in the kernel, see `THREADS`); one path is
    never written twice; a file whose
    bytes equal those of the same path in `previous` (the site being replaced) is
    hard-linked from there, which costs a tenth of making it; and each file's size is
    kept (`sizes`), so nothing walks the folder again."""

    THREADS = 1
    """Writer threads. At 25,500 entries (docs/performance.md), 4 writers took 1.4-3.3x
    the CPU time of 1 (kernel time) and were no faster: a rebuild 9.3-12.7 s against
    7.7-10.0 s, a first build within the disk's noise; on tmpfs 7.9 s against 6.9 s."""
    BATCH = 64
    """Operations handed to a thread at once (a hand-over costs about as much as a link)."""
    PENDING = 256 << 20
    """Bytes waiting to be written at most: the caller runs ahead of the threads (making
    the next pages while they make files) this far, and no further."""

    def __init__(self, folder: Path, previous: Path | None = None, threads: int = THREADS):
        self.root = os.path.join(os.path.abspath(folder), "")
        self.previous = os.path.join(os.path.abspath(previous), "") if previous else None
        self.sizes: dict[str, int] = {}
        """Each file's size, by its path relative to the folder."""
        self.reused: list[str] = []
        """The files hard-linked from `previous` (relative paths)."""
        self._made: set[str] = set()
        self._batch: list[tuple[Callable[..., None], Any, Any]] = []
        self._batch_bytes = 0
        self._pending = 0
        self._room = threading.Condition()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="zoo-site-write")
        self._errors: list[BaseException] = []

    def holds(self, target: Path | str) -> bool:
        """Whether `target` is the folder or under it."""
        return self._under(os.fspath(target)) or os.path.join(
            os.path.abspath(target), "").startswith(self.root)  # fmt: skip

    def write(self, target: Path | str, data: bytes) -> None:
        """Write `data` to `target` (a path under the folder)."""
        self._add(self._write, self._path(target), data)

    def link(self, src: Path | str, target: Path | str) -> None:
        """Place `src` at `target` as a hard link (a copy across filesystems)."""
        self._add(self._link, os.fspath(src), self._path(target))

    def reuse(self, target: Path | str, make: Callable[[], bytes]) -> None:
        """Place the same path's file of `previous` at `target` (a hard link): the caller
        knows it would be made the same (site/previews.py keys the entry pages); where
        `previous` has no such file, write `make()`'s bytes instead."""
        self._add(self._reuse, self._path(target), make)

    def _path(self, target: Path | str) -> str:
        """`target` as an absolute path; one made from `root` is taken as it is."""
        path = os.fspath(target)
        return path if self._under(path) else os.path.abspath(path)

    def _under(self, path: str) -> bool:
        """Whether `path` is plainly under the folder: it starts with `root` and has no
        `.`, `..` or empty part after it (os.path.abspath need not clean it up)."""
        rest = path[len(self.root) - 1 :]
        return path.startswith(self.root) and "/." not in rest and "//" not in rest

    def finish(self) -> None:
        """Wait for every write; raise the first that failed."""
        self._flush()
        self.close()
        if self._errors:
            raise self._errors[0]

    def close(self) -> None:
        """Wait for the writes under way (whether or not they fail)."""
        self._pool.shutdown(wait=True)

    def _add(self, op: Callable[..., None], a: Any, b: Any) -> None:
        self._batch.append((op, a, b))
        if isinstance(b, bytes):
            self._batch_bytes += len(b)
        if len(self._batch) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._errors:
            raise self._errors[0]
        if not self._batch:
            return
        batch, size = self._batch, self._batch_bytes + len(self._batch)
        self._batch, self._batch_bytes = [], 0
        with self._room:
            self._room.wait_for(lambda: self._pending < self.PENDING or bool(self._errors))
            self._pending += size
        future = self._pool.submit(self._run, batch)
        future.add_done_callback(functools.partial(self._done, size))

    @staticmethod
    def _run(batch: list[tuple[Callable[..., None], Any, Any]]) -> None:
        for op, a, b in batch:
            op(a, b)

    def _done(self, size: int, future: Future) -> None:
        if future.exception() is not None:
            self._errors.append(future.exception())  # type: ignore[arg-type]
        with self._room:
            self._pending -= size
            self._room.notify_all()

    def _parent(self, target: str) -> None:
        parent = os.path.dirname(target)
        if parent not in self._made:
            os.makedirs(parent, exist_ok=True)  # writers may race here: both succeed
            self._made.add(parent)

    def _reuse(self, target: str, make: Callable[[], bytes]) -> None:
        rel = target[len(self.root) :]
        self._parent(target)
        if self.previous:
            try:
                os.link(self.previous + rel, target)
            except FileNotFoundError:
                pass
            else:
                self.reused.append(rel)
                self.sizes[rel] = os.stat(target).st_size
                return
        self._write(target, make())

    def _write(self, target: str, data: bytes) -> None:
        rel = target[len(self.root) :]
        self._parent(target)
        if self.previous and _same_bytes(self.previous + rel, data):
            os.link(self.previous + rel, target)
            self.reused.append(rel)
        else:
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                raise ZooSiteError(f"{rel}: written twice in one build") from None
            try:
                os.fchmod(fd, 0o644)  # whatever the umask: a site is world-readable
                _write_all(fd, data)
            finally:
                os.close(fd)
        self.sizes[rel] = len(data)

    def _link(self, src: str, target: str) -> None:
        self._parent(target)
        st = os.stat(src)
        try:
            os.link(src, target)
        except FileExistsError:
            raise ZooSiteError(f"{target[len(self.root) :]}: written twice in one build") from None
        except OSError:  # another filesystem, or too many links
            shutil.copyfile(src, target)
            st = os.stat(target)
        if stat.S_IMODE(st.st_mode) != 0o644:
            os.chmod(target, 0o644)
        self.sizes[target[len(self.root) :]] = st.st_size


def _same_bytes(path: str, data: bytes) -> bool:
    try:
        if os.stat(path).st_size != len(data):
            return False
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_STAGES: list[Stage] = []
"""The folders being filled now (see `staging`)."""


@contextlib.contextmanager
def staging(folder: Path, previous: Path | None = None) -> Iterator[Stage]:
    """Fill `folder` as a `Stage` (fast writes, files unchanged since `previous` linked
    from it); on leaving, wait for every write and sync the filesystem once (before any
    swap). A site of 25,500 entries writes ~51,000 files: an fsync each took 139 s of a
    172 s build here."""
    stage = Stage(Path(folder), previous if previous and Path(previous).is_dir() else None)
    _STAGES.append(stage)
    try:
        yield stage
        stage.finish()
        os.sync()
    finally:
        _STAGES.remove(stage)
        stage.close()


def stage_of(target: Path) -> Stage | None:
    """The `Stage` that `target` is written in, if any."""
    for stage in _STAGES:
        if stage.holds(target):
            return stage
    return None


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


def bytes_digest(data: bytes) -> str:
    """What `file_digest` gives for a file holding `data`."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


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
