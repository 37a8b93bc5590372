"""End to end: build the site of a tiny real demo zoo and check every output by reading it."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from building import LIGHT_ANALYSES
from conftest import TEST_STEPS
from manifests import validate_site
from mediacheck import decode, keyframes, top_level
from typer.testing import CliRunner

from zoo_site.cli import app
from zoo_site.media.render import upscale
from zoo_site.site.manifest import read_manifest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def shared_cache(test_cache) -> None:
    CACHE[:] = [test_cache]


@pytest.fixture(scope="module")
def site(demo_site) -> Path:
    return demo_site


CACHE: list[Path] = []


def run_build(*args: str):
    """Build through the CLI, sharing the session's cache (as a researcher's reruns do)."""
    return CliRunner().invoke(app, ["build", "--jobs", "2", "--cache-dir", str(CACHE[0]), *args])


def manifest_of(site: Path) -> dict:
    return read_manifest(site)


def rollout_frames(demo_zoo: Path, entry: dict) -> np.ndarray:
    path = demo_zoo / entry["algo"] / f"{entry['game']}NoFrameskip-v4"
    with np.load(path / f"model{entry['run']}_{entry['tag']}_rollout.npz") as npz:
        return npz["frames"]


def test_manifest_is_valid_against_its_schema(site):
    manifest = validate_site(site)
    assert [g["id"] for g in manifest["games"]] == ["Breakout", "Pong", "Seaquest"]
    assert [a["id"] for a in manifest["algos"]] == ["apex", "dqn"]
    assert [t["id"] for t in manifest["tags"]] == ["initial", "final"]
    assert manifest["runs"] == [1, 2]
    assert len(manifest["entries"]) == 24
    assert manifest["site"]["demo"] is True
    assert "untrained" in manifest["site"]["notice"]


def test_every_video_is_h264_faststart_one_frame_per_step(site, demo_zoo):
    for entry in manifest_of(site)["entries"]:
        video = site / entry["video"]
        meta, frames = decode(video)
        steps = len(rollout_frames(demo_zoo, entry))
        assert meta["codec"] == "h264", entry["id"]
        assert meta["pix_fmt"].startswith("yuv420p"), meta["pix_fmt"]
        assert tuple(meta["size"]) == (entry["width"], entry["height"]) == (320, 420)
        assert len(frames) == entry["frames"] == steps == TEST_STEPS
        boxes = top_level(video)
        assert boxes.index("moov") < boxes.index("mdat"), boxes
        keys = keyframes(video)
        gaps = np.diff([*keys, entry["frames"] + 1])
        assert keys[0] == 1 and gaps.max() <= round(entry["fps"]), keys
        assert (site / entry["poster"]).stat().st_size > 0


def test_frame_n_is_step_n_pixel_exact_within_codec_tolerance(site, demo_zoo):
    manifest = manifest_of(site)
    for entry in manifest["entries"][:: len(manifest["entries"]) // 4]:
        _, decoded = decode(site / entry["video"])
        expected = upscale(rollout_frames(demo_zoo, entry), entry["scale"]).astype(np.int16)
        error = np.abs(decoded.astype(np.int16) - expected).mean(axis=(1, 2, 3))
        assert error.max() < 2.0, (entry["id"], error.max())
        # Identity, not just similarity: where consecutive steps differ, frame n is
        # closer to step n than to step n-1.
        shifted = np.abs(decoded[1:].astype(np.int16) - expected[:-1]).mean(axis=(1, 2, 3))
        moving = np.abs(expected[1:] - expected[:-1]).mean(axis=(1, 2, 3)) > 1.0
        assert (error[1:][moving] < shifted[moving]).all(), entry["id"]


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def test_every_entry_page_links_its_viewer(site):
    """The catalog's cards are drawn from the shards (tests/test_browser_catalog.py); the
    static links to every entry are its own page a/<algo>/<game>/<run>/<tag>/."""
    from posixpath import normpath

    linked = set()
    for entry in manifest_of(site)["entries"]:
        page = f"a/{entry['id']}/index.html"
        parser = Links()
        parser.feed((site / page).read_text())
        for href in parser.hrefs:
            parts = urlsplit(href)
            if parts.scheme:  # the canonical link, with --base-url only
                continue
            assert not parts.netloc and not href.startswith("/"), href
            path = normpath(f"a/{entry['id']}/{parts.path}")
            if path == "video.html" and parts.query:
                q = {k: v[0] for k, v in parse_qs(parts.query).items()}
                linked.add(f"{q['algo']}/{q['game']}/{q['run']}/{q['tag']}")
    assert linked == {e["id"] for e in manifest_of(site)["entries"]}


def test_site_is_complete_for_static_hosting(site):
    assert (site / ".nojekyll").exists()
    for page in ("index.html", "video.html", "404.html", "manifest.json"):
        assert (site / page).stat().st_size > 0
    assert not list(site.parent.glob(".site.staging*"))


def test_rebuild_reuses_everything_and_is_byte_identical(site, test_cache):
    before = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    inodes = {p.relative_to(site): p.stat().st_ino for p in site.rglob("*") if p.is_file()}
    result = run_build("--config", str(site.parent / "zoo-site.toml"))
    assert result.exit_code == 0, result.output
    assert "(0 rendered, 24 reused)" in result.output
    after = {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert before.keys() == after.keys()
    assert all(before[k] == after[k] for k in before)
    # Nothing was written again: every file is the old site's (linked), pages included.
    pages = [k for k in inodes if k.parts[0] == "a" and k.name in ("index.html", "entry.json")]
    assert len(pages) == 2 * 24
    assert all(p.stat().st_ino == inodes[k] for k in inodes if (p := site / k))


def make_broken_zoo(demo_zoo: Path, root: Path) -> dict[str, str]:
    """The demo zoo plus one entry per kind of damage; returns file -> expected message."""
    zoo = root / "zoo"
    shutil.copytree(demo_zoo, zoo, copy_function=_link)
    good = zoo / "apex" / "SeaquestNoFrameskip-v4" / "model1_final_rollout.npz"
    data = dict(np.load(good))
    frames, obs = data["frames"], data["observations"]
    broken: dict[str, str] = {}

    def put(rel: str, message: str, payload=None, arrays=None):
        path = zoo / rel
        if arrays is not None:
            np.savez(path, **arrays)
        else:
            path.write_bytes(payload)
        broken[str(path)] = message

    put("apex/SeaquestNoFrameskip-v4/model3_final_rollout.npz", "truncated or corrupt",
        payload=good.read_bytes()[: good.stat().st_size // 3])  # fmt: skip
    put("dqn/PongNoFrameskip-v4/model3_final.pb", "not a TensorFlow frozen graph",
        payload=b"\x08\xff\xff garbage " * 50)  # fmt: skip
    put("dqn/BreakoutNoFrameskip-v4/model3_final_rollout.npz", "missing key(s) observations",
        arrays={"frames": frames[:5]})  # fmt: skip
    put("apex/BreakoutNoFrameskip-v4/model3_final_rollout.npz",
        "frames has 10 steps but observations has 9",
        arrays={"frames": frames[:10], "observations": obs[:9]})  # fmt: skip
    put("apex/PongNoFrameskip-v4/model3_final_rollout.npz", "empty rollout",
        arrays={"frames": frames[:0], "observations": obs[:0]})  # fmt: skip
    put("apex/PongNoFrameskip-v4/model3_<b>_rollout.npz", "is not a plain name", payload=b"")
    return broken


def _link(src, dst):
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)


def test_bad_entries_are_named_and_the_rest_still_builds(tmp_path, demo_zoo, test_cache, site):
    broken = make_broken_zoo(demo_zoo, tmp_path)
    out = tmp_path / "site"
    result = run_build("--zoo", str(tmp_path / "zoo"), "--out", str(out))
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())  # undo the console's wrapping
    for path, message in broken.items():
        assert path in text, path
        assert message in text, message
    assert "Built 24 entries" in text and "5 failed" in text
    manifest = manifest_of(out)
    assert len(manifest["entries"]) == 24
    assert manifest["runs"] == [1, 2]


def test_failed_build_leaves_the_previous_site_untouched(tmp_path, demo_zoo):
    out = tmp_path / "site"
    assert run_build("--zoo", str(demo_zoo), "--out", str(out)).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad_zoo = tmp_path / "bad"
    (bad_zoo / "apex" / "PongNoFrameskip-v4").mkdir(parents=True)
    (bad_zoo / "apex" / "PongNoFrameskip-v4" / "model1_final_rollout.npz").write_bytes(b"junk")
    result = run_build("--zoo", str(bad_zoo), "--out", str(out))
    assert result.exit_code == 1
    assert "no entry could be built" in result.output
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert before == after


def test_crash_while_writing_pages_leaves_the_previous_site(tmp_path, demo_zoo, monkeypatch):
    out = tmp_path / "site"
    assert run_build("--zoo", str(demo_zoo), "--out", str(out)).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("zoo_site.site.pages.write_pages", explode)
    result = run_build("--zoo", str(demo_zoo), "--out", str(out))
    assert result.exit_code == 130
    assert before == {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_refuses_to_overwrite_a_folder_that_is_not_a_site(tmp_path, demo_zoo):
    out = tmp_path / "precious"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    result = run_build("--zoo", str(demo_zoo), "--out", str(out))
    assert result.exit_code != 0
    assert "refusing to replace" in result.output
    assert (out / "thesis.tex").read_text() == "years of work"


def test_model_without_rollout_is_played_once_into_the_cache(tmp_path, demo_zoo):
    zoo = tmp_path / "zoo"
    game = zoo / "dqn" / "PongNoFrameskip-v4"
    game.mkdir(parents=True)
    shutil.copy(demo_zoo / "dqn" / "PongNoFrameskip-v4" / "model2_final.pb", game / "model7.pb")
    (zoo / "zoo-site.toml").write_text("[rollout]\nsteps = 30\nseed = 3\n" + LIGHT_ANALYSES)
    out = tmp_path / "site"
    result = run_build("--zoo", str(zoo), "--out", str(out))
    assert result.exit_code == 0, result.output
    (entry,) = manifest_of(out)["entries"]
    assert entry["id"] == "dqn/Pong/7/final"  # an untagged model is the final snapshot
    assert entry["rollout"] == {"source": "played"} and entry["frames"] == 30
    assert entry["activations"] is True
    played = list(CACHE[0].glob("rollouts/dqn/PongNoFrameskip-v4/model7_final_rollout.npz"))
    assert len(played) == 1
    assert not list(zoo.rglob("*.npz"))  # the zoo itself is never written to
    again = run_build("--zoo", str(zoo), "--out", str(out))
    assert "(0 rendered, 1 reused)" in again.output
    # Played with the zoo layout's protocol for Dopamine's DQN; the report and entry.json
    # say which files the entry came from.
    report = json.loads((CACHE[0] / "build-report.json").read_text())
    (row,) = report["entries"]
    assert row["model"] == "dqn/PongNoFrameskip-v4/model7.pb"
    cached = "rollouts/dqn/PongNoFrameskip-v4/model7_final_rollout.npz"
    assert row["rollout"] == {"source": "played", "protocol": "dopamine", "cache_file": cached}
    assert (CACHE[0] / row["rollout"]["cache_file"]).is_file()
    details = json.loads((out / entry["details"]).read_text())
    assert details["files"] == {"model": "dqn/PongNoFrameskip-v4/model7.pb", "rollout": None,
                                "played": True}  # fmt: skip
    assert details["protocol"]["name"] == "dopamine"
