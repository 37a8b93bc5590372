"""Content keys of models and rollouts, remembered against the file's stat; and --jobs N
keeping a build on N cores."""

from __future__ import annotations

import os

from zoo_site import fsutil


def test_digest_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    model = tmp_path / "model1_final.pb"
    model.write_bytes(b"a" * 1000)
    cache = tmp_path / "cache"
    reads = []
    real = fsutil.file_digest
    monkeypatch.setattr(fsutil, "file_digest", lambda p: reads.append(p) or real(p))

    first = fsutil.cached_digest(model, cache)
    assert first == real(model) and len(reads) == 1
    assert fsutil.cached_digest(model, cache) == first and len(reads) == 1  # not read again

    model.write_bytes(b"b" * 1000)  # same size, new content and modification time
    st = model.stat()
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    second = fsutil.cached_digest(model, cache)
    assert second == real(model) != first and len(reads) == 2

    replaced = tmp_path / "other.pb"
    replaced.write_bytes(b"c" * 1000)
    os.replace(replaced, model)  # a new file (inode) at the same path
    assert fsutil.cached_digest(model, cache) == real(model) and len(reads) == 3


def test_a_damaged_record_is_recomputed(tmp_path):
    model = tmp_path / "m.pb"
    model.write_bytes(b"x")
    digest = fsutil.cached_digest(model, tmp_path / "c")
    (record,) = (tmp_path / "c" / "digests").iterdir()
    record.write_text("{not json")
    assert fsutil.cached_digest(model, tmp_path / "c") == digest


def test_jobs_keep_the_build_on_that_many_cores():
    import pytest

    from zoo_site.build.executor import cpu_limit

    if not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs CPU affinity and 2 cores")
    allowed = os.sched_getaffinity(0)
    with cpu_limit(1):
        assert len(os.sched_getaffinity(0)) == 1
        child = os.popen("python3 -c 'import os; print(len(os.sched_getaffinity(0)))'").read()
        assert child.strip() == "1"  # what the build starts inherits the limit
    assert os.sched_getaffinity(0) == allowed
    with cpu_limit(None), cpu_limit(len(allowed)):
        assert os.sched_getaffinity(0) == allowed
