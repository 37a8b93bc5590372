"""Staged writes: a site folder filled from scratch by a writer thread, then swapped in
whole (fsutil.swap_in_dir). fsutil's write_* functions route a path under a folder being
staged here."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from zoo_site.errors import ZooSiteError


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

    def __init__(self, folder: Path, previous: Path | None = None, threads: int = THREADS,
                 known: dict[str, Kept] | None = None):  # fmt: skip
        self.root = os.path.join(os.path.abspath(folder), "")
        self.previous = os.path.join(os.path.abspath(previous), "") if previous else None
        self.known = known if previous and known else {}
        """What the build that made `previous` kept of its files (`Kept`), by relative
        path: a file whose new bytes have the same digest, the old one's size and mtime
        as kept, is linked without reading the old one; one whose digest differs is
        written without reading it; one touched since (another size or mtime) is
        compared byte for byte."""
        self.digests: dict[str, Kept] = {}
        """What is kept of each file written here (not of media linked in), for the next
        build's `known`."""
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
            try:
                os.mkdir(parent)  # one call where its own parent is there, as it mostly is
            except FileExistsError:  # made by a worker process (put)
                pass
            except FileNotFoundError:
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
                st, kept = os.stat(target), self.known.get(rel)
                if kept is None or [st.st_size, st.st_mtime_ns] == kept[1:]:
                    self.reused.append(rel)
                    self.sizes[rel] = st.st_size
                    if kept is not None:  # the same file: the next build knows it too
                        self.digests[rel] = kept
                    return
                os.unlink(target)  # touched since that build: made again
        self._write(target, make())

    def _write(self, target: str, data: bytes) -> None:
        rel = target[len(self.root) :]
        self._parent(target)
        self.record(rel, *put((self.root, self.previous, self.known.get(rel)), rel, data))

    def record(self, rel: str, size: int, reused: bool, kept: Kept) -> None:
        """Note a file that `put` wrote into the folder (here or in a worker process)."""
        self.sizes[rel] = size
        self.digests[rel] = kept
        if reused:
            self.reused.append(rel)

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


def digest(data: bytes) -> str:
    """A file's digest as the stage keeps it (fsutil.bytes_digest's)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


Kept = list[Any]
"""What a build keeps of a file it wrote: [digest, size, mtime in ns] (JSON's list)."""


def put(where: tuple[str, str | None, Kept | None], rel: str, data: bytes,
        ) -> tuple[int, bool, Kept]:  # fmt: skip
    """Write `data` to `root + rel` (its folder made if need be), or hard-link the same
    path of `previous` when that holds the same bytes: `where` is (root, previous, what
    the stage knows of previous's file or None; with it, the old file is not read).
    Return (size, whether it was linked, what to keep of it), what `Stage.record` takes.
    A `Stage`'s writes, callable in another process (site/entry_pages.py's workers)."""
    root, previous, known = where
    target, new = root + rel, digest(data)
    source = previous + rel if previous else None
    old = _same_file(source, data, new, known) if source else None
    if source and old is not None:
        try:
            _in_folder(target, lambda: os.link(source, target))
            return len(data), True, [new, old.st_size, old.st_mtime_ns]
        except FileNotFoundError:  # the old site lost it since: made afresh
            pass
    try:
        fd = _in_folder(target, lambda: os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                                                0o644))  # fmt: skip
    except FileExistsError:
        raise ZooSiteError(f"{rel}: written twice in one build") from None
    try:
        os.fchmod(fd, 0o644)  # whatever the umask: a site is world-readable
        _write_all(fd, data)
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return len(data), False, [new, st.st_size, st.st_mtime_ns]


def _in_folder(target: str, make: Callable[[], Any]) -> Any:
    """`make()`, which makes `target`; its folder made first if it is missing (no extra
    call where it is there, as it nearly always is)."""
    try:
        return make()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(target), exist_ok=True)
    return make()


def _same_file(path: str, data: bytes, new: str, known: Kept | None) -> os.stat_result | None:
    """The old file's status if it holds `data` (digest `new`): taken from what was kept
    of it where its size and mtime are still those, read and compared otherwise."""
    if known is not None and known[0] != new:
        return None  # changed: nothing to read
    try:
        st = os.stat(path)
        if st.st_size != len(data):
            return None
        if known is not None and [st.st_size, st.st_mtime_ns] == known[1:]:
            return st
        with open(path, "rb") as f:
            return st if f.read() == data else None
    except OSError:
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_STAGES: list[Stage] = []
"""The folders being filled now (see `staging`)."""


@contextlib.contextmanager
def staging(folder: Path, previous: Path | None = None,
            known: dict[str, Kept] | None = None) -> Iterator[Stage]:  # fmt: skip
    """Fill `folder` as a `Stage` (fast writes, files unchanged since `previous` linked
    from it); on leaving, wait for every write and sync the filesystem once (before any
    swap). A site of 25,500 entries writes ~51,000 files: an fsync each took 139 s of a
    172 s build here."""
    stage = Stage(Path(folder), previous if previous and Path(previous).is_dir() else None,
                  known=known)  # fmt: skip
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
