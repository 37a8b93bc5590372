"""`zoo-site clip`: cells pixel-exact at the right step, labels, saliency, links, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from frontend_fixtures import FPS, FRAMES, build_fake_site, fake_frames, write_video
from mediacheck import decode
from typer.testing import CliRunner

from zoo_site.cli import app
from zoo_site.clip import (
    BACKGROUND,
    ClipOptions,
    Maps,
    link_params,
    load_manifest,
    make_clip,
    select_link,
    step_range,
)
from zoo_site.errors import ConfigError, EntryError, ZooNotFound
from zoo_site.site.pages import write_pages

SHORT, SHORT_FRAMES = "apex/Seaquest/1/initial", 40  # a shorter video: its last frame is held
WITH_MAPS = "apex/Seaquest/1/final"  # the one entry with saliency maps
PEAK = (2, 5)  # grid row, column of the planted maps' peak
ROWS, COLS, EVERY = 5, 8, 4
POSITIONS = {"rows": [4, 20, 36, 52, 68], "cols": [2, 12, 22, 32, 42, 52, 62, 72]}


def saliency_info(media: str) -> dict:
    count = -(-FRAMES // EVERY)
    return {
        "url": f"{media}/saliency.f32", "dtype": "<f4", "shape": [count, 2, ROWS, COLS],
        "modes": ["actor", "critic"], "method": "perturbation", "every": EVERY, "steps": count,
        "positions": POSITIONS, "observation": [84, 84], "screen": [0, 0, 1, 1],
        "actor_label": "the output", "critic": "max_output", "critic_label": "V = max",
        "settings": {"method": "perturbation", "stride": 16, "radius": 5, "blur": 3, "every": 4},
    }  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The front-end tests' fake site (7 entries, 60 steps at 15 fps, a bar moving 5 px a
    step), with one shorter video and one entry with planted saliency maps."""
    site = tmp_path_factory.mktemp("clip-site") / "site"
    manifest = build_fake_site(site)
    for seed, entry in enumerate(manifest["entries"]):
        if entry["id"] == SHORT:
            entry["frames"] = SHORT_FRAMES
            write_video(site / entry["video"], fake_frames(seed, SHORT_FRAMES))
        if entry["id"] == WITH_MAPS:
            entry["saliency"] = True
            details = json.loads((site / entry["details"]).read_text())
            details["saliency"] = info = saliency_info(entry["video"].rsplit("/", 1)[0])
            maps = np.zeros(info["shape"], "<f4")
            maps[:, :, PEAK[0], PEAK[1]] = 1.0
            maps.tofile(site / info["url"])
            (site / entry["details"]).write_text(json.dumps(details))
    write_pages(site, manifest)  # manifest.json and the shards, with the changes
    return site


def source(site: Path, entry_id: str) -> np.ndarray:
    return decode(site / "a" / entry_id / "gameplay.mp4")[1]


def crop(frame: np.ndarray, box) -> np.ndarray:
    x, y, w, h = box
    return frame[y : y + h, x : x + w].astype(np.float32)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def clip(site: Path, out: Path, **kw):
    return make_clip(ClipOptions(site=site, out=out, **kw), say=lambda _: None)


# ---- which cells: links and ids --------------------------------------------------------------


def test_a_grid_link_gives_the_grids_cells_in_manifest_order(site):
    manifest = load_manifest(site)
    for link in ("http://host:8000/grid.html?game=Seaquest&algos=dqn,apex&runs=1,2&tag=final",
                 "grid.html?game=Seaquest&algos=dqn,apex&runs=2&runs=1&tag=final",
                 "game=Seaquest&algo=dqn,apex&runs=1,2"):  # fmt: skip
        sel = select_link(manifest, link)
        ids = [e["id"] if e else None for _, e in sel.cells]
        # algos in the manifest's order (apex, dqn); runs, the last with several, are columns
        assert ids == ["apex/Seaquest/1/final", "apex/Seaquest/2/final",
                       "dqn/Seaquest/1/final", None], link  # fmt: skip
        assert sel.cols == 2 and sel.step is None
    sel = select_link(
        manifest, "?game=Seaquest&algo=apex&run=1&tags=final,initial&t=2&saliency=both"
    )
    assert [e["id"] for _, e in sel.cells] == [SHORT, WITH_MAPS] and sel.cols == 2
    assert (sel.saliency, sel.salpha, sel.palette) == ("both", None, None)
    assert step_range(sel, None, None) == (30, FRAMES)  # t=2 s is step 30; to the longest's end
    assert step_range(sel, 3, 10) == (3, 10)
    sel = select_link(manifest, "grid.html?game=Pong&frame=12&salpha=0.3&palette=cb")
    ids = [e["id"] if e else None for _, e in sel.cells]  # every algo and run, as the grid
    assert ids == ["apex/Pong/1/final", None, None, "dqn/Pong/2/final"]
    assert sel.cols == 2 and step_range(sel, None, None) == (12, FRAMES)
    assert (sel.salpha, sel.palette) == (0.3, "cb")
    assert link_params("algo=dqn&game=Pong") == {"algo": ["dqn"], "game": ["Pong"]}


@pytest.mark.parametrize(
    ("link", "says"),
    [
        ("grid.html?game=Tennis", "no game 'Tennis'"),
        ("grid.html?game=Pong&algos=apex,a2c", "no algo 'a2c' for Pong (it has: apex, dqn)"),
        ("grid.html?game=Pong&runs=7", "no run '7' for Pong"),
        ("grid.html?game=Pong&algo=dqn&run=2&tag=initial&t=abc", "'t=abc' is not a step"),
        ("http://h/grid.html", "has no parameters"),
    ],
)
def test_a_bad_link_says_what_does_not_exist(site, tmp_path, link, says):
    with pytest.raises(ConfigError) as caught:
        clip(site, tmp_path / "x.mp4", grid=link)
    assert says in str(caught.value)
    assert not list(tmp_path.iterdir())


def test_bad_ids_options_and_sites_are_clear_errors(site, tmp_path):
    out = tmp_path / "x.mp4"
    with pytest.raises(ConfigError) as caught:
        clip(site, out, entries=["apex/Pong/1/final", "apex/Pong/9/final", "dqn-Pong"])
    text = str(caught.value)
    assert "no entry 'apex/Pong/9/final'" in text and "(Pong has: dqn/Pong/2/final, " in text
    assert "no entry 'dqn-Pong'" in text and "algo/game/run/tag" in text
    with pytest.raises(ConfigError, match="not both or neither"):
        clip(site, out)
    with pytest.raises(ConfigError, match="--to 61"):
        clip(site, out, entries=["apex/Pong/1/final"], stop=61)
    with pytest.raises(ConfigError, match="--saliency 'left'"):
        clip(site, out, entries=["apex/Pong/1/final"], saliency="left")
    with pytest.raises(ZooNotFound, match="no manifest.json"):
        clip(tmp_path / "nothing", out, entries=["apex/Pong/1/final"])
    broken = tmp_path / "broken"
    shutil.copytree(site, broken)
    (broken / "a/apex/Pong/1/final/gameplay.mp4").unlink()
    with pytest.raises(EntryError, match="apex/Pong/1/final: its video is missing"):
        clip(broken, out, entries=["apex/Pong/1/final"])
    assert not out.exists()


# ---- the video -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def grid_clip(site, tmp_path_factory):
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    link = f"grid.html?game=Seaquest&algo=apex&runs=1,2&tags=initial,final&t={5 / FPS}"
    result = clip(site, out, grid=link, stop=50)
    meta, frames = decode(out)
    return result, meta, frames


def test_frame_n_is_step_from_plus_n_of_every_cell_pixel_exact(site, grid_clip):
    result, meta, frames = grid_clip
    assert result.cells == [SHORT, WITH_MAPS, "apex/Seaquest/2/initial", "apex/Seaquest/2/final"]
    assert (result.start, result.stop, result.frames) == (5, 50, 45)
    assert len(frames) == 45 and meta["fps"] == FPS and meta["pix_fmt"].startswith("yuv420p")
    width, height = meta["size"]
    assert (width, height) == result.size and width % 2 == 0 and height % 2 == 0
    assert result.pictures[2] is None  # apex/Seaquest/2/initial: no entry, an empty cell
    for index, entry_id in enumerate(result.cells):
        box = result.pictures[index]
        if box is None:
            continue
        src = source(site, entry_id)
        assert box[2:] == (160, 210)  # never resized
        for n in (0, 17, 34):
            step = 5 + n
            if step >= len(src):
                continue
            got = crop(frames[n], box)
            near = step + 3 if step + 3 < len(src) else step - 3
            exact, other = mad(got, src[step]), mad(got, src[near])
            assert exact < 6 and other > 4 * exact, (entry_id, n, exact, other)


def test_a_shorter_video_holds_its_last_frame(site, grid_clip):
    result, _, frames = grid_clip
    src = source(site, SHORT)
    box = result.pictures[0]
    last = src[SHORT_FRAMES - 1]
    for n in (SHORT_FRAMES - 5, 40, 44):  # steps 39 (its last), 45, 49
        assert mad(crop(frames[n], box), last) < 6
    assert mad(crop(frames[44], box), src[SHORT_FRAMES - 4]) > 4 * mad(crop(frames[44], box), last)
    assert any(SHORT in note and "held" in note for note in result.notes)


def test_each_cell_has_a_label_band_with_the_score_at_the_step(grid_clip):
    result, _, frames = grid_clip
    for band in result.bands:
        pixels = crop(frames[0], band)
        text = np.abs(pixels - np.array(BACKGROUND, np.float32)).max(axis=2) > 60
        assert text.sum() > 100  # there are letters
        assert text[: band[3] // 3].any() and text[2 * band[3] // 3 :].any()  # three lines
    # the fake score rises at steps 10, 20, ...: steps 6 and 16 differ in the score line only
    band = result.bands[1]
    first, second = crop(frames[1], band), crop(frames[11], band)
    lines = np.abs(first - second).max(axis=(1, 2))
    assert lines[: 2 * band[3] // 3].max() < 40 and lines[2 * band[3] // 3 :].max() > 60


def test_saliency_changes_only_the_cells_with_maps(site, grid_clip, tmp_path):
    plain, _, clean = grid_clip
    link = f"grid.html?game=Seaquest&algo=apex&runs=1,2&tags=initial,final&t={5 / FPS}"
    result = clip(site, tmp_path / "sal.mp4", grid=link, stop=50, saliency="actor", salpha=1.0)
    _, frames = decode(tmp_path / "sal.mp4")
    assert any("No saliency maps" in n and SHORT in n and WITH_MAPS not in n for n in result.notes)
    for index, entry_id in enumerate(result.cells):
        box = result.pictures[index]
        if box is None:
            continue
        changed = mad(crop(frames[10], box), crop(clean[10], box))
        if entry_id == WITH_MAPS:
            assert changed > 1
            diff = np.abs(crop(frames[10], box) - crop(clean[10], box)).sum(axis=2)
            y, x = np.unravel_index(np.argmax(diff), diff.shape)
            # the peak's observation pixel, stretched over the screen (160×210 from 84×84)
            oy, ox = POSITIONS["rows"][PEAK[0]], POSITIONS["cols"][PEAK[1]]
            assert abs(x - (ox + 0.5) * 160 / 84) < 6 and abs(y - (oy + 0.5) * 210 / 84) < 6
            blue = crop(frames[10], box)[y, x]
            assert blue[2] > blue[0] + 60  # the actor is blue in the paper's palette
        else:
            assert changed < 0.2, (entry_id, changed)


def test_maps_are_scaled_and_upsampled_as_the_site_does():
    info = saliency_info("m")
    maps = np.zeros(info["shape"], "<f4")
    maps[:, 0, PEAK[0], PEAK[1]] = 2.0
    maps[3, 1] = np.arange(ROWS * COLS).reshape(ROWS, COLS)
    m = Maps(info, maps.ravel())
    assert [m.row_of(s) for s in (0, 3, 4, 59, 500)] == [0, 0, 1, 14, 14]
    actor = m.upsample(0, "actor")
    assert actor.shape == (84, 84) and actor.max() == 1.0  # 2.0 / its 99th percentile, clamped
    oy, ox = POSITIONS["rows"][PEAK[0]], POSITIONS["cols"][PEAK[1]]
    assert actor[oy, ox] == 1.0 and actor[oy, ox + 5] == pytest.approx(0.5)
    assert actor[0, 0] == 0 and actor[83, 83] == 0
    critic = m.upsample(3, "critic")
    ys, xs = POSITIONS["rows"], POSITIONS["cols"]
    scale = np.sort(maps[:, 1].ravel())[int(0.99 * maps[:, 1].size)]
    assert critic[ys[1], xs[2]] == pytest.approx(min(1, (1 * COLS + 2) / scale))
    assert critic[0, 0] == critic[ys[0], xs[0]]  # clamped beyond the first grid point


def test_entry_ids_a_square_layout_and_an_atomic_write(site, tmp_path):
    out = tmp_path / "ids.mp4"
    out.write_bytes(b"old")
    ids = ["apex/Pong/1/final", "dqn/Pong/2/final", "dqn/Seaquest/1/final"]
    result = clip(site, out, entries=ids, start=10, stop=20)
    assert result.cells == ids and result.frames == 10
    (x0, y0, *_), (x1, y1, *_), (x2, y2, *_) = result.pictures
    assert y0 == y1 < y2 and x0 == x2 < x1  # 2 columns: √3 rounded up
    _, frames = decode(out)
    assert len(frames) == 10
    assert mad(crop(frames[0], result.pictures[2]), source(site, ids[2])[10]) < 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ids.mp4"]


def test_a_failed_clip_leaves_the_old_file(site, tmp_path, monkeypatch):
    from zoo_site import clip as clip_module

    out = tmp_path / "clip.mp4"
    out.write_bytes(b"old")

    def boom(self, step):
        if step > 3:
            raise RuntimeError("disk full")
        return self.background.copy()

    monkeypatch.setattr(clip_module.Composer, "compose", boom)
    with pytest.raises(RuntimeError):
        clip(site, out, entries=["apex/Pong/1/final"])
    assert out.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_the_command(site, tmp_path):
    out = tmp_path / "cli.mp4"
    args = ["clip", "--site", str(site), "--grid", "grid.html?game=Pong&frame=50", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}: 4 cells, steps 50 to 59 (10 frames at 15 fps" in result.output
    assert len(decode(out)[1]) == 10
    result = CliRunner().invoke(app, ["clip", "--site", str(site), "apex/Pong/5/final"])
    assert result.exit_code == 2 and "no entry 'apex/Pong/5/final'" in result.output
    bad = CliRunner().invoke(app, ["clip", "--site", str(tmp_path / "none"), "apex/Pong/1/final"])
    assert bad.exit_code == 3 and "no manifest.json" in bad.output


# ---- the page's hint: the command for the view shown ------------------------------------------


@pytest.mark.browser
def test_the_grid_page_shows_the_command_for_its_view(site, serve, watched):
    base = serve(site)
    watched.open(f"{base}grid.html?game=Seaquest&algos=apex,dqn&runs=1,2&tag=final&t=2")
    command = watched.page.text_content("#clip-cmd")
    assert command.startswith("zoo-site clip --grid 'grid.html?game=Seaquest&algos=apex,dqn")
    assert "--from 30 --to 60 -o clip.mp4" in command
    link = command.split("'")[1]
    sel = select_link(load_manifest(site), link)
    assert [e["id"] if e else None for _, e in sel.cells] == [
        "apex/Seaquest/1/final", "apex/Seaquest/2/final", "dqn/Seaquest/1/final", None,
    ]  # fmt: skip
    assert watched.errors == []


# ---- the demo site: real gameplay, real maps ---------------------------------------------------


@pytest.mark.slow
def test_a_clip_of_the_demo_site_with_its_saliency_maps(demo_site, tmp_path):
    link = "grid.html?game=Breakout&algos=apex,dqn&runs=1&tags=initial,final&saliency=both"
    clean = clip(demo_site, tmp_path / "clean.mp4", grid=link, stop=40, saliency="off")
    maps = clip(demo_site, tmp_path / "maps.mp4", grid=link, stop=40)  # the link's "both"
    assert clean.cells == ["apex/Breakout/1/initial", "apex/Breakout/1/final",
                           "dqn/Breakout/1/initial", "dqn/Breakout/1/final"]  # fmt: skip
    assert clean.frames == 40 and clean.size == maps.size
    (note,) = maps.notes
    assert "apex/Breakout/1/initial" in note and "dqn/Breakout/1/initial" in note
    plain, drawn = decode(tmp_path / "clean.mp4")[1], decode(tmp_path / "maps.mp4")[1]
    for entry_id, box in zip(clean.cells, clean.pictures, strict=True):
        src = source(demo_site, entry_id)
        assert mad(crop(plain[20], box), src[20]) < 6
        changed = mad(crop(drawn[20], box), crop(plain[20], box))
        assert (changed > 1) if entry_id.endswith("final") else (changed < 0.2), entry_id


def test_clip_help_stays_light():
    code = (
        "import sys\nfrom zoo_site.cli import main\nsys.argv = ['zoo-site', 'clip', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('moviepy', 'imageio_ffmpeg', 'cv2') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout and "--grid" in out.stdout, out.stdout + out.stderr
