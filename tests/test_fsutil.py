"""fsutil's staged writes: the site is filled by a few threads, one path never twice, files
unchanged since the site being replaced linked from it, and every size kept."""

from __future__ import annotations

import os
import stat

import pytest

from zoo_site import fsutil
from zoo_site.errors import ZooSiteError
from zoo_site.fsutil import bytes_digest


def fill(folder, previous=None, pages=200, text="page {i}"):
    with fsutil.staging(folder, previous=previous) as stage:
        for i in range(pages):
            fsutil.write_text(folder / "a" / str(i % 7) / str(i) / "index.html", text.format(i=i))
        fsutil.write_json(folder / "manifest.json", {"pages": pages})
    return stage


def test_every_file_is_written_whole_and_world_readable_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        stage = fill(tmp_path / "site")
    finally:
        os.umask(old)
    files = sorted(p for p in (tmp_path / "site").rglob("*") if p.is_file())
    assert len(files) == 201
    assert (tmp_path / "site/a/3/10/index.html").read_text() == "page 10"
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in files)
    assert stage.sizes["a/3/10/index.html"] == len("page 10")
    assert stage.sizes["manifest.json"] == len('{"pages":200}\n')
    assert sum(stage.sizes.values()) == sum(p.stat().st_size for p in files)


def test_a_path_written_twice_is_an_error_naming_it(tmp_path):
    site = tmp_path / "site"
    with pytest.raises(ZooSiteError, match=r"a/x/index\.html: written twice"):
        with fsutil.staging(site):
            fsutil.write_text(site / "a/x/index.html", "one")
            fsutil.write_text(site / "a/x/index.html", "two")


def test_the_same_path_spelt_another_way_is_still_the_same_path(tmp_path):
    """A path made from the folder's own string is taken as it is, others are cleaned up:
    `a/./x`, `a/b/../x` and `a//x` are all `a/x`, so writing two of them is an error."""
    site = tmp_path / ".site.staging"  # the build's staging folder: a dot in the root
    for other in ("a/./x", "a/b/../x", "a//x"):
        with pytest.raises(ZooSiteError, match=r"a/x: written twice"):
            with fsutil.staging(site) as stage:
                stage.write(f"{stage.root}a/x", b"one")
                stage.write(f"{stage.root}{other}", b"two")
    with fsutil.staging(site) as stage:
        stage.write(f"{stage.root}a/.hidden/x", b"one")
        assert stage.holds(site) and stage.holds(f"{stage.root}a") and not stage.holds(tmp_path)
    assert (site / "a/.hidden/x").read_bytes() == b"one"


def test_unchanged_files_are_linked_from_the_previous_site_and_it_stays_intact(tmp_path):
    fill(tmp_path / "old")
    stage = fill(tmp_path / "new", previous=tmp_path / "old")
    assert len(stage.reused) == 201  # nothing changed: every file is the old one, linked
    old, new = tmp_path / "old/a/3/10/index.html", tmp_path / "new/a/3/10/index.html"
    assert os.path.samefile(old, new)

    def changed(i):
        return "page {i}" if i % 3 else "new page {i}"

    with fsutil.staging(tmp_path / "next", previous=tmp_path / "new") as stage:
        for i in range(200):
            page = tmp_path / "next" / "a" / str(i % 7) / str(i) / "index.html"
            fsutil.write_text(page, changed(i).format(i=i))
    assert len(stage.reused) == sum(1 for i in range(200) if i % 3)
    assert (tmp_path / "next/a/0/0/index.html").read_text() == "new page 0"
    assert not os.path.samefile(
        tmp_path / "next/a/0/0/index.html", tmp_path / "new/a/0/0/index.html"
    )
    # The site being replaced is untouched, linked files included.
    assert (tmp_path / "new/a/0/0/index.html").read_text() == "page 0"
    assert (tmp_path / "new/a/1/1/index.html").read_text() == "page 1"


def test_linked_media_are_placed_and_sized(tmp_path):
    video = tmp_path / "cache" / "gameplay.mp4"
    video.parent.mkdir()
    video.write_bytes(b"\0" * 1234)
    with fsutil.staging(tmp_path / "site") as stage:
        fsutil.link_or_copy(video, tmp_path / "site/a/apex/Pong/1/final/gameplay.mp4")
    placed = tmp_path / "site/a/apex/Pong/1/final/gameplay.mp4"
    assert os.path.samefile(placed, video)
    assert stage.sizes == {"a/apex/Pong/1/final/gameplay.mp4": 1234}


def test_a_failed_write_fails_the_stage_with_its_own_error(tmp_path):
    site = tmp_path / "site"
    with pytest.raises(FileNotFoundError, match="no-such.mp4"):
        with fsutil.staging(site):
            fsutil.link_or_copy(tmp_path / "no-such.mp4", site / "a" / "gameplay.mp4")
            for i in range(50):
                fsutil.write_text(site / "ok" / f"{i}.html", "fine")
    # Writes after the failure may or may not have been made; none is left half-written.
    assert all(p.read_text() == "fine" for p in site.rglob("*.html"))


def test_a_reused_file_is_linked_or_made_where_the_previous_site_has_none(tmp_path):
    fill(tmp_path / "old", pages=3)
    site = tmp_path / "new"
    with fsutil.staging(site, previous=tmp_path / "old") as stage:
        assert fsutil.stage_of(site) is stage and fsutil.stage_of(site / "a/x") is stage
        for i in range(4):  # page 3 is not in the old site: it is made
            stage.reuse(site / "a" / str(i % 7) / str(i) / "index.html", lambda: b"made")
    assert sorted(stage.reused) == [f"a/{i}/{i}/index.html" for i in range(3)]
    assert os.path.samefile(site / "a/2/2/index.html", tmp_path / "old/a/2/2/index.html")
    assert (site / "a/3/3/index.html").read_bytes() == b"made"
    assert stage.sizes["a/0/0/index.html"] == len("page 0")


def test_files_put_by_another_process_are_kept_like_the_stages_own(tmp_path):
    """A worker process writes into the stage with `put` (site/entry_pages.py): its folder
    is made if need be, an unchanged file is linked from the previous site, a path written
    twice is still an error naming it, and `record` keeps what it did."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from zoo_site.stage import put

    fill(tmp_path / "old", pages=2)
    site = tmp_path / "new"
    with fsutil.staging(site, previous=tmp_path / "old") as stage:
        where = (stage.root, stage.previous, None)
        jobs = [("a/0/0/index.html", b"page 0"), ("a/1/1/index.html", b"changed"),
                ("b/new/index.html", b"new")]  # fmt: skip
        with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(put, where, rel, data) for rel, data in jobs]
            done = [f.result() for f in futures]
            for (rel, _), args in zip(jobs, done, strict=True):
                stage.record(rel, *args)
            with pytest.raises(ZooSiteError, match=r"b/new/index\.html: written twice"):
                pool.submit(put, where, "b/new/index.html", b"again").result()
    assert [reused for _, reused, _ in done] == [True, False, False]
    assert stage.digests["b/new/index.html"][:2] == [bytes_digest(b"new"), 3]
    assert stage.reused == ["a/0/0/index.html"]
    assert os.path.samefile(site / "a/0/0/index.html", tmp_path / "old/a/0/0/index.html")
    assert (site / "a/1/1/index.html").read_bytes() == b"changed"
    assert (tmp_path / "old/a/1/1/index.html").read_text() == "page 1"
    assert (site / "b/new/index.html").read_bytes() == b"new"
    assert stat.S_IMODE((site / "b/new/index.html").stat().st_mode) == 0o644
    assert stage.sizes == {"a/0/0/index.html": 6, "a/1/1/index.html": 7, "b/new/index.html": 3}


def test_known_digests_spare_reading_the_previous_site(tmp_path, monkeypatch):
    """With what the previous build kept of its files (`known`: digest, size, mtime), a
    file is linked or written without reading the old one; one touched since that build is
    compared byte for byte; what is kept of the new files is kept for the next build."""
    import builtins

    from zoo_site import stage as staged

    old = fill(tmp_path / "old", pages=4)
    page = tmp_path / "old/a/1/1/index.html"
    assert old.digests["a/1/1/index.html"] == [bytes_digest(b"page 1"), 6,
                                               page.stat().st_mtime_ns]  # fmt: skip
    reads = []

    def watched(path, *args, **kwargs):
        reads.append(os.fspath(path))
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(staged, "open", watched, raising=False)
    known = {**old.digests, "a/2/2/index.html": ["0" * 32, 6, 0]}  # as if it had changed
    touched = tmp_path / "old/a/3/3/index.html"
    os.utime(touched, ns=(0, 1))  # the same bytes, touched since: compared
    site = tmp_path / "new"
    with fsutil.staging(site, previous=tmp_path / "old", known=known) as stage:
        for i in range(4):
            fsutil.write_text(site / "a" / str(i) / str(i) / "index.html", f"page {i}")
        fsutil.write_text(site / "manifest.json", "changed")
    assert reads == [str(touched)]
    assert sorted(stage.reused) == [f"a/{i}/{i}/index.html" for i in (0, 1, 3)]
    assert os.path.samefile(site / "a/1/1/index.html", page)
    assert not os.path.samefile(site / "a/2/2/index.html", tmp_path / "old/a/2/2/index.html")
    assert (site / "a/2/2/index.html").read_text() == "page 2"
    assert (site / "manifest.json").read_text() == "changed"
    assert stage.digests["a/3/3/index.html"] == [bytes_digest(b"page 3"), 6, 1]
    assert stage.digests["manifest.json"][:2] == [bytes_digest(b"changed"), 7]


def test_a_page_reused_by_its_key_is_made_again_if_touched_since(tmp_path):
    old = fill(tmp_path / "old", pages=2)
    edited = tmp_path / "old/a/1/1/index.html"
    edited.write_text("edit 1")  # by hand, after that build (the same size)
    os.utime(edited, ns=(0, 1))  # its mtime changed (within a clock tick it might not)
    site = tmp_path / "new"
    with fsutil.staging(site, previous=tmp_path / "old", known=old.digests) as stage:
        for i in range(2):
            stage.reuse(
                site / "a" / str(i) / str(i) / "index.html", lambda i=i: f"page {i}".encode()
            )
    assert stage.reused == ["a/0/0/index.html"]
    assert (site / "a/1/1/index.html").read_text() == "page 1"
    assert (tmp_path / "old/a/1/1/index.html").read_text() == "edit 1"


def test_a_rebuild_that_changes_nothing_reads_and_renders_nothing(tmp_path, monkeypatch):
    """The build's catalog step (tests/simulation.py) twice over the same entries: the
    second links every file it writes from the first site, by what the first build kept
    in its cache, without reading one old file or rendering one entry page."""
    import builtins

    import simulation

    from zoo_site import stage as staged
    from zoo_site.site import entry_pages

    simulation.build_site(tmp_path / "site", tmp_path / "work", 30)
    before = {p: p.stat().st_ino for p in (tmp_path / "site").rglob("*") if p.is_file()}
    reads, renders = [], []
    monkeypatch.setattr(staged, "open", lambda p, *a, **k: (reads.append(p),
                        builtins.open(p, *a, **k))[1], raising=False)  # fmt: skip
    render = entry_pages._render
    monkeypatch.setattr(entry_pages, "_render", lambda *a: (renders.append(1), render(*a))[1])
    simulation.build_site(tmp_path / "site", tmp_path / "work", 30)
    after = {p: p.stat().st_ino for p in (tmp_path / "site").rglob("*") if p.is_file()}
    assert after == before and len(before) > 30 * 4  # media, entry.json, page each
    assert reads == [] and renders == []
