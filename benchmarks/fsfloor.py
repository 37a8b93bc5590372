"""The filesystem's floor for writing a site: the time to make the same folders and files
with nothing but the system calls (no content to compute, no Python per file beyond the
call), on the same disk, in the same run. A build step that writes tens of thousands of
files is bounded by this; the ratio to it is what the code can still improve.

- `first`: every folder made and every file created with its bytes (files that are hard
  links in the site, the media, are linked from one file instead);
- `relinked`: every folder made and every file hard-linked (what a rebuild that finds
  every file unchanged must still do).
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

THREADS = 4
"""Threads making the files: the floor is the fastest this disk goes. With bare calls, 4
threads made the 25,500-entry tree in 19-22 s against 29-35 s for 1 (a slow hour; the
relinked tree 9-11 s either way); zoo_site.stage.Stage, which does Python work between
the calls, uses 1 (see its THREADS)."""


def site_tree(site: Path) -> tuple[list[str], list[tuple[str, bytes | None]]]:
    """The site's folders (parents first) and files (relative path, bytes; None for a hard
    link), read before any clock starts."""
    folders, files = [], []
    for top, dirs, names in os.walk(site):
        rel = os.path.relpath(top, site)
        if rel != ".":
            folders.append(rel)
        for name in names:
            path = os.path.join(top, name)
            linked = os.stat(path).st_nlink > 1
            files.append((os.path.join(rel, name), None if linked else Path(path).read_bytes()))
        dirs.sort()
    return folders, files


def _make(target: Path, folders: list[str], files: list[tuple[str, bytes | None]],
          relink: bool) -> float:  # fmt: skip
    # a file has at most 65,000 links on ext4: each thread links from its own files, a new
    # one every 50,000 links
    per_thread = -(-len(files) // THREADS // 50_000)
    sources = [[target.with_name(f"{target.name}.source{t}-{i}") for i in range(per_thread)]
               for t in range(THREADS)]  # fmt: skip
    for source in (s for own in sources for s in own):
        source.write_bytes(b"\0")
    by_depth: dict[int, list[str]] = {}
    for rel in folders:
        by_depth.setdefault(rel.count(os.sep), []).append(rel)

    def make_files(own: list[Path], chunk: list[tuple[str, bytes | None]]) -> None:
        for n, (rel, data) in enumerate(chunk):
            path = os.path.join(target, rel)
            if data is None or relink:
                os.link(own[n // 50_000], path)
            else:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                os.write(fd, data)
                os.close(fd)

    def make_folders(chunk: list[str]) -> None:
        for rel in chunk:
            os.mkdir(os.path.join(target, rel))

    start = time.perf_counter()
    os.mkdir(target)
    with ThreadPoolExecutor(THREADS) as pool:
        for depth in sorted(by_depth):
            level = by_depth[depth]
            list(pool.map(make_folders, [level[i::THREADS] for i in range(THREADS)]))
        list(pool.map(make_files, sources, [files[i::THREADS] for i in range(THREADS)]))
    os.sync()
    seconds = time.perf_counter() - start
    for source in (s for own in sources for s in own):
        source.unlink()
    return seconds


def floor(site: Path, scratch: Path) -> dict[str, float]:
    """Seconds to make `site`'s tree again under `scratch` (same disk): created, relinked."""
    folders, files = site_tree(site)
    out = {}
    for name, relink in (("first", False), ("relinked", True)):
        target = scratch / f"floor-{name}"
        out[name] = _make(target, folders, files, relink)
        shutil.rmtree(target)
    out["folders"], out["files"] = len(folders), len(files)
    return out
