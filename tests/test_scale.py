"""Builds at scale: a Dask build equals the process-pool build (byte for byte where the
files are data, frame for frame for videos); a build killed or interrupted midway leaves
the previous site as it was and the rerun resumes; --strict, --media-url, the report."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio_ffmpeg
import pytest
from typer.testing import CliRunner

from zoo_site.cli import app
from zoo_site.site.manifest import read_manifest

pytestmark = pytest.mark.slow

#: A few of the demo zoo's entries: both conventions, three games.
PICK = [
    "apex/SeaquestNoFrameskip-v4/model1_final",
    "apex/BreakoutNoFrameskip-v4/model2_initial",
    "dqn/PongNoFrameskip-v4/model1_final",
    "dqn/SeaquestNoFrameskip-v4/model2_final",
]


def small_zoo(demo_zoo: Path, root: Path, pick=PICK, analyses: bool = False) -> Path:
    """A zoo of a few demo entries (models and rollouts hard-linked), with the demo's
    config (labels, conventions, saliency; the noise evaluation and the map of states only
    with `analyses`) but not its demo marker."""
    zoo = root / "zoo"
    for stem in pick:
        for suffix in (".pb", "_rollout.npz"):
            src = demo_zoo / f"{stem}{suffix}"
            dst = zoo / f"{stem}{suffix}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                dst.hardlink_to(src)
            except OSError:
                shutil.copy2(src, dst)
    # Without the analyses unless asked: these tests are about building at scale, and the
    # noise evaluation and the map would slow every build down.
    tables = re.split(r"(?m)^(?=\[)", (demo_zoo / "zoo-site.toml").read_text())
    kept = [t for t in tables if analyses or not t.startswith(("[robustness]", "[states]"))]
    off = '\n[robustness]\nlevels = []\n\n[states]\nmethod = "off"\n'
    (zoo / "zoo-site.toml").write_text("".join(kept) + ("" if analyses else off))
    return zoo


def build(*args: str):
    return CliRunner().invoke(app, ["build", *args])


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def decoded(path: Path) -> str:
    reader = imageio_ffmpeg.read_frames(str(path))
    next(reader)
    digest = hashlib.sha256()
    for frame in reader:
        digest.update(frame)
    return digest.hexdigest()


def test_dask_build_equals_the_process_pool_build(tmp_path, demo_zoo):
    """Two builds of the same inputs with separate caches, one on a process pool and one on
    a Dask LocalCluster: identical manifests, pages and data files, the same video frames."""
    zoo = small_zoo(demo_zoo, tmp_path)
    pool, dask = tmp_path / "pool", tmp_path / "dask"
    a = build("--zoo", str(zoo), "--out", str(pool), "--cache-dir", str(tmp_path / "c1"), "-j", "2")
    assert a.exit_code == 0, a.output
    b = build("--zoo", str(zoo), "--out", str(dask), "--cache-dir", str(tmp_path / "c2"),
              "-j", "2", "--scheduler", "local")  # fmt: skip
    assert b.exit_code == 0, b.output
    assert "(4 rendered, 0 reused)" in a.output and "(4 rendered, 0 reused)" in b.output
    one, two = files(pool), files(dask)
    assert one.keys() == two.keys()
    videos = [k for k in one if k.endswith(".mp4")]
    assert len(videos) == 4 * 2  # gameplay and atlas per entry
    for name in one.keys() - set(videos):
        assert one[name] == two[name], name  # manifests, pages, PNGs, outputs: byte-identical
    for name in videos:
        assert decoded(pool / name) == decoded(dask / name), name
    report = json.loads((tmp_path / "c2" / "build-report.json").read_text())
    assert report["counts"] == {"rendered": 4, "reused": 0, "failed": 0}
    assert [e["status"] for e in report["entries"]] == ["rendered"] * 4


def test_unreachable_dask_scheduler_is_a_clear_error(tmp_path, demo_zoo):
    zoo = small_zoo(demo_zoo, tmp_path, PICK[:1])
    where = ["--out", str(tmp_path / "site"), "--cache-dir", str(tmp_path / "c")]
    result = build("--zoo", str(zoo), *where, "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 1
    assert "cannot reach the Dask scheduler tcp://127.0.0.1:9" in " ".join(result.output.split())
    assert not (tmp_path / "site").exists()


def start_build(zoo: Path, out: Path, cache: Path, config: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "zoo_site", "build", "--zoo", str(zoo), "--out", str(out),
           "--cache-dir", str(cache), "--config", str(config), "-j", "1"]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip


def wait_for_results(cache: Path, count: int, proc: subprocess.Popen, timeout: float = 300):
    """Until `count` entries are finished in the cache (result.json is written last)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list(cache.glob("media/*/result.json"))) >= count:
            return
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.2)
    raise AssertionError("the build made no progress")


@pytest.mark.parametrize("how", ["kill", "interrupt"])
def test_a_build_stopped_midway_leaves_the_site_and_resumes(tmp_path, demo_zoo, how):
    zoo = small_zoo(demo_zoo, tmp_path)
    out, cache = tmp_path / "site", tmp_path / "cache"
    old, new = tmp_path / "old.toml", tmp_path / "new.toml"
    # A --config stands for the zoo's: the analyses are off, as they are not what this is
    # about (on by default, they made each build of these 4 entries take 3 minutes).
    off = '[saliency]\nmethod = "off"\n[robustness]\nlevels = []\n[states]\nmethod = "off"\n'
    old.write_text('title = "Old site"\n' + off)
    new.write_text('title = "New site"\n' + off + "[render]\ncrf = 17\n")  # all redone
    first = build("--zoo", str(zoo), "--out", str(out), "--cache-dir", str(cache),
                  "--config", str(old), "-j", "2")  # fmt: skip
    assert first.exit_code == 0, first.output
    before = files(out)

    proc = start_build(zoo, out, cache, new)
    wait_for_results(cache, 4 + 1, proc)  # the old build's 4, and one of the new build's
    if how == "kill":
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    else:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        assert "the previous site is unchanged" in proc.stdout.read()
    assert files(out) == before  # exactly as it was

    rerun = build("--zoo", str(zoo), "--out", str(out), "--cache-dir", str(cache),
                  "--config", str(new), "-j", "2")  # fmt: skip
    assert rerun.exit_code == 0, rerun.output
    report = json.loads((cache / "build-report.json").read_text())
    statuses = sorted(e["status"] for e in report["entries"])
    assert statuses.count("reused") >= 1 and statuses.count("rendered") >= 1, statuses
    assert read_manifest(out)["site"]["title"] == "New site"
    assert not list(tmp_path.glob(".site.staging*"))


def test_strict_fails_on_a_warning_and_keeps_the_site(tmp_path, demo_zoo):
    zoo = small_zoo(demo_zoo, tmp_path, PICK[:1])
    out, cache = tmp_path / "site", tmp_path / "cache"
    assert build("--zoo", str(zoo), "--out", str(out), "--cache-dir", str(cache)).exit_code == 0
    before = files(out)
    log = zoo / "apex" / "checkpoints" / "SeaquestNoFrameskip-v4_1_log.json"
    log.parent.mkdir(parents=True)
    log.write_text("[{oops")
    strict = build("--zoo", str(zoo), "--out", str(out), "--cache-dir", str(cache), "--strict")
    text = " ".join(strict.output.split())
    assert strict.exit_code == 1, strict.output
    assert f"{log}: unreadable JSON" in text and "--strict: 1 warning(s)" in text
    assert files(out) == before
    lenient = build("--zoo", str(zoo), "--out", str(out), "--cache-dir", str(cache))
    assert lenient.exit_code == 0, lenient.output
    assert "1 warning(s)" in lenient.output
    report = json.loads((cache / "build-report.json").read_text())
    assert report["problems"] == [{
        "level": "warning", "file": "apex/checkpoints/SeaquestNoFrameskip-v4_1_log.json",
        "entry": None, "message": report["problems"][0]["message"],
    }]  # fmt: skip


def test_media_url_puts_media_beside_the_site_for_another_host(tmp_path, demo_zoo):
    zoo = small_zoo(demo_zoo, tmp_path, PICK[:1], analyses=True)
    out, cache = tmp_path / "site", tmp_path / "cache"
    url = "https://media.example.org/zoo"
    result = build("--zoo", str(zoo), "--out", str(out), "--cache-dir", str(cache),
                   "--media-url", url)  # fmt: skip
    assert result.exit_code == 0, result.output
    media = tmp_path / "site-media"
    pages = files(out)
    assert not [k for k in pages if k.endswith((".mp4", ".png", ".f32"))]
    assert "a/apex/Seaquest/1/final/entry.json" in pages
    stored = files(media)
    assert "a/apex/Seaquest/1/final/gameplay.mp4" in stored
    assert "a/apex/Seaquest/1/final/atlas.mp4" in stored
    assert "maps/Seaquest.png" in stored  # the map's thumbnails too
    game_map = json.loads(pages["maps/Seaquest.json"])
    assert game_map["thumbs"]["url"] == f"{url}/maps/Seaquest.png"
    (entry,) = read_manifest(out)["entries"]
    assert entry["video"] == f"{url}/a/apex/Seaquest/1/final/gameplay.mp4"
    assert entry["details"] == "a/apex/Seaquest/1/final/entry.json"  # stays on the pages
    details = json.loads(pages[entry["details"]])
    assert details["activations"]["atlas"]["video"].startswith(url + "/a/")
    assert details["activations"]["outputs"]["url"].startswith(url + "/a/")
    csp = pages["video2.html"].decode()
    assert "media-src 'self' https://media.example.org;" in csp
    assert "connect-src 'self' https://media.example.org;" in csp
    bad = build("--zoo", str(zoo), "--out", str(out), "--media-url", "ftp://x/")
    assert bad.exit_code == 2 and "must be an http(s) URL" in bad.output


def test_pages_limits_are_checked_with_advice(tmp_path, monkeypatch):
    from zoo_site import fsutil
    from zoo_site.build import publish as build_module

    with fsutil.staging(tmp_path / "site") as stage:  # the sizes are those the stage wrote
        fsutil.write_bytes(tmp_path / "site" / "a" / "big.mp4", b"x" * 300)
        fsutil.write_bytes(tmp_path / "site" / "index.html", b"x" * 100)
    monkeypatch.setattr(build_module, "PAGES_FILE_LIMIT", 200)
    monkeypatch.setattr(build_module, "PAGES_SITE_LIMIT", 350)
    problems = build_module.pages_limits(stage.sizes, media_elsewhere=False)
    assert [(p.path, p.level) for p in problems] == [
        ("a/big.mp4", "warning"),
        ("site", "warning"),
    ]
    assert "--media-url" in problems[0].message and "--media-url" in problems[1].message
    elsewhere = build_module.pages_limits({"big.mp4": 300}, media_elsewhere=True)
    assert [p.path for p in elsewhere] == ["big.mp4"]


def test_site_files_are_world_readable(demo_site):
    for path in demo_site.rglob("*"):
        mode = path.stat().st_mode
        assert mode & 0o004, path  # others may read
        if path.is_dir():
            assert mode & 0o001, path  # and enter folders


def test_only_what_changed_is_redone(tmp_path, demo_zoo):
    zoo = small_zoo(demo_zoo, tmp_path)
    where = ["--zoo", str(zoo), "--out", str(tmp_path / "site"), "--cache-dir", str(tmp_path / "c")]
    assert "(4 rendered, 0 reused)" in build(*where).output
    assert "(0 rendered, 4 reused)" in build(*where).output
    # One entry's rollout changes (another run's recording of the same game): only it is redone.
    changed = zoo / "dqn/SeaquestNoFrameskip-v4/model2_final_rollout.npz"
    changed.unlink()
    shutil.copyfile(demo_zoo / "dqn/SeaquestNoFrameskip-v4/model1_final_rollout.npz", changed)
    assert "(1 rendered, 3 reused)" in build(*where).output
    # A display label changes no picture: nothing is rendered again.
    config = zoo / "zoo-site.toml"
    text = config.read_text()
    label = 'label = "Ape-X convention (demo)"'
    assert "[algos.apex]" in text and label in text
    config.write_text(text.replace(label, 'label = "Ape-X"'))
    result = build(*where)
    assert "(0 rendered, 4 reused)" in result.output, result.output
    # A setting of one algo (its layer list) redoes that algo's entries only.
    layers = '["deepq/q_func/convnet/Conv_1/Relu", "deepq/q_func/convnet/Conv_2/Relu", ' \
             '"deepq/q_func/state_value/Relu", "deepq/q_func/q_values"]'  # fmt: skip
    text = config.read_text().replace("[algos.apex]", f"[algos.apex]\nlayers = {layers}")
    config.write_text(text)
    result = build(*where)
    assert "(2 rendered, 2 reused)" in result.output, result.output


def test_a_zoo_over_http_builds_the_same_site(tmp_path, demo_zoo, serve):
    """`--zoo http://…` (published with `zoo-site index`) gives the site the local zoo
    gives; the same content keys, so the renders are reused from the cache."""
    zoo = small_zoo(demo_zoo, tmp_path, PICK[:2])
    cache = tmp_path / "cache"
    indexed = CliRunner().invoke(app, ["index", str(zoo)])
    assert indexed.exit_code == 0, indexed.output
    local = build("--zoo", str(zoo), "--out", str(tmp_path / "local"), "--cache-dir", str(cache))
    assert local.exit_code == 0, local.output
    url = serve(zoo)
    remote = build("--zoo", url, "--out", str(tmp_path / "remote"), "--cache-dir", str(cache))
    assert remote.exit_code == 0, remote.output
    assert "(0 rendered, 2 reused)" in " ".join(remote.output.split()), remote.output
    assert files(tmp_path / "remote") == files(tmp_path / "local")
    again = build("--zoo", url, "--out", str(tmp_path / "remote"), "--cache-dir", str(cache))
    assert "2 reused" in " ".join(again.output.split())
    assert "0 downloaded" in " ".join(again.output.split())
