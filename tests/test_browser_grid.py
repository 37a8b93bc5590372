"""The comparison grid (grid.html) in a real Chromium: deep links, sync, safety."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import numpy as np
import pytest
from browsing import Watched
from frontend_fixtures import (
    FPS,
    build_fake_site,
    fake_frames,
    fake_manifest,
    write_video,
)
from PIL import Image

from zoo_site.site.pages import write_pages

pytestmark = pytest.mark.browser

#: The long site: 10 s videos (the fake site's are 4 s), one of them shorter (8 s).
LONG_FRAMES, SHORT_FRAMES, SHORT_ID = 150, 120, "dqn/Seaquest/1/final"

VIDEOS = "[...document.querySelectorAll('#grid video')]"
TIMES = f"{VIDEOS}.map((v) => v.currentTime)"
MASTER = "document.querySelector('#grid [data-master] video')"


APEX_DQN_BY_RUNS = [("apex", "1", "final"), ("apex", "2", "final"),
                    ("dqn", "1", "final"), ("dqn", "2", "final")]  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site_dir = tmp_path_factory.mktemp("grid-site")
    return site_dir, build_fake_site(site_dir)


@pytest.fixture(scope="module")
def base_url(site, serve):
    return serve(site[0])


def long_frames(seed: int, count: int) -> np.ndarray:
    return fake_frames(seed, count, speed=3)


@pytest.fixture(scope="module")
def long_url(tmp_path_factory, serve):
    site_dir = tmp_path_factory.mktemp("grid-long-site")
    manifest = fake_manifest()
    manifest["entries"] = [e for e in manifest["entries"] if e["game"] == "Seaquest"]
    for seed, entry in enumerate(manifest["entries"]):
        entry["frames"] = SHORT_FRAMES if entry["id"] == SHORT_ID else LONG_FRAMES
        frames = long_frames(seed, entry["frames"])
        write_video(site_dir / entry["video"], frames)
        Image.fromarray(frames[0]).save(site_dir / entry["poster"])
    write_pages(site_dir, manifest)
    return serve(site_dir)


VIEWPORT = {"width": 1280, "height": 1800}


def cells(page) -> list[dict]:
    page.wait_for_selector("body:not([data-busy])")  # a change that fetches a game's shard
    return page.evaluate(
        """[...document.querySelectorAll('#grid .cell')].map((c) => ({
            algo: c.dataset.algo, run: c.dataset.run, tag: c.dataset.tag,
            entry: c.dataset.entry || null, text: c.textContent,
            video: !!c.querySelector('video')}))"""
    )


def wait_loaded(page, count: int, seconds: float = 10.0) -> None:
    """Wait until `count` videos have data and none is seeking."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        states = page.evaluate(f"{VIDEOS}.map((v) => [v.readyState, v.seeking])")
        if len(states) == count and all(r >= 2 and not s for r, s in states):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"videos not loaded: {states}")


def step_text(page) -> tuple[int, int]:
    step, of = page.text_content("#step").removeprefix("step ").split(" / ")
    return int(step), int(of)


def assert_local(watched, base_url) -> None:
    origin = urlsplit(base_url).netloc
    foreign = [u for u in watched.requests if urlsplit(u).netloc != origin]
    assert foreign == []


def test_deep_link_restores_the_grid(site, base_url, watched):
    query = "game=Seaquest&algos=apex,dqn&runs=1,2&tag=final&t=2"
    watched.open(f"{base_url}grid.html?{query}")
    page = watched.page
    got = cells(page)
    assert [(c["algo"], c["run"], c["tag"]) for c in got] == APEX_DQN_BY_RUNS
    assert [c["entry"] for c in got] == [
        "apex/Seaquest/1/final",
        "apex/Seaquest/2/final",
        "dqn/Seaquest/1/final",
        None,
    ]
    assert "Ape-X · run 1 · Final" in got[0]["text"] and "score 10.5" in got[0]["text"]
    assert "DQN (Dopamine) · run 1 · Final" in got[2]["text"]
    assert "no entry" in got[3]["text"] and not got[3]["video"]
    assert all("no entry" not in c["text"] for c in got[:3])
    attrs = page.evaluate(f"{VIDEOS}.map((v) => [v.muted, v.playsInline, !!v.poster])")
    assert attrs == [[True, True, True]] * 3
    wait_loaded(page, 3)
    centre = (30 + 0.5) / FPS  # t=2 s is step 30 at 15 fps
    for t in page.evaluate(TIMES):
        assert abs(t - centre) <= 1 / FPS, t
    assert step_text(page) == (30, 60)
    assert page.input_value("#seek") == "30"
    assert page.evaluate(
        "[...document.querySelectorAll('#algos input:checked')].map((i) => i.value)"
    ) == ["apex", "dqn"]
    query = watched.query()
    assert {k: query[k] for k in ("game", "algos", "runs", "tag")} == {
        "game": "Seaquest",
        "algos": "apex,dqn",
        "runs": "1,2",
        "tag": "final",
    }
    assert abs(float(query["t"]) - 2) < 1 / FPS
    assert page.is_hidden("#message")
    assert watched.errors == [] and watched.dialogs == []
    assert_local(watched, base_url)


def test_play_keeps_videos_in_sync_then_seek_and_step(long_url, watched):
    watched.open(f"{long_url}grid.html?game=Seaquest&algos=apex,dqn&runs=1,2&tag=final")
    page = watched.page
    wait_loaded(page, 3)
    assert step_text(page) == (0, LONG_FRAMES)
    page.click("#play")
    page.wait_for_timeout(2000)
    # knock one follower 1.5 s off (and slow another): the sync must pull them back
    followers = f"{VIDEOS}.filter((v) => v !== {MASTER})"
    page.evaluate(f"{followers}.map((v, i) => i ? v.playbackRate = 0.5 : v.currentTime += 1.5)")
    page.wait_for_timeout(3000)
    times, paused, master = page.evaluate(
        f"[{TIMES}, {VIDEOS}.map((v) => v.paused), {MASTER}.currentTime]"
    )
    assert paused == [False] * 3
    assert 4.0 < master < 6.5, master  # played about 5 s at 1x
    for t in times:
        assert abs(t - master) <= 1 / FPS, (times, master)
    assert page.text_content("#play") == "Pause"
    assert "t" not in watched.query()

    page.click("#play")  # pause: all on one frame centre
    wait_loaded(page, 3)
    step, _ = step_text(page)
    assert all(v for v in page.evaluate(f"{VIDEOS}.map((v) => v.paused)"))
    for t in page.evaluate(TIMES):
        assert abs(t - (step + 0.5) / FPS) < 1e-3, t
    assert abs(float(watched.query()["t"]) - (step + 0.5) / FPS) < 1e-3

    page.fill("#seek", "100")  # the slider
    wait_loaded(page, 3)
    assert step_text(page) == (100, LONG_FRAMES)
    for t in page.evaluate(TIMES):
        assert abs(t - 100.5 / FPS) <= 1 / FPS
    page.click("#next")
    page.click("#next")
    page.click("#prev")
    wait_loaded(page, 3)
    assert step_text(page) == (101, LONG_FRAMES)
    for t in page.evaluate(TIMES):
        assert abs(t - 101.5 / FPS) <= 1 / FPS

    page.fill("#seek", "140")  # past the shorter video's end: it holds its last frame
    wait_loaded(page, 3)
    ids = page.evaluate(
        "[...document.querySelectorAll('#grid [data-entry]')].map((c) => c.dataset.entry)"
    )
    for entry_id, t in zip(ids, page.evaluate(TIMES), strict=True):
        last = SHORT_FRAMES - 1 if entry_id == SHORT_ID else 140
        assert abs(t - (last + 0.5) / FPS) <= 1 / FPS, (entry_id, t)

    page.evaluate("document.activeElement.blur()")  # the keys of the page, not of the slider
    page.keyboard.press("ArrowLeft")
    wait_loaded(page, 3)
    assert step_text(page) == (139, LONG_FRAMES)
    page.keyboard.press(" ")
    assert page.get_attribute("#play", "aria-pressed") == "true"
    page.keyboard.press(" ")
    assert page.get_attribute("#play", "aria-pressed") == "false"
    page.select_option("#speed", "0.5")
    assert watched.query()["speed"] == "0.5"
    assert page.evaluate(f"{VIDEOS}.map((v) => v.playbackRate)") == [0.5] * 3
    assert watched.errors == []


def test_tags_across(site, base_url, watched):
    watched.open(f"{base_url}grid.html?game=Seaquest&algos=apex&runs=1&tags=initial,final")
    page = watched.page
    got = cells(page)
    assert [c["entry"] for c in got] == ["apex/Seaquest/1/initial", "apex/Seaquest/1/final"]
    assert "Initial" in got[0]["text"] and "Final" in got[1]["text"]
    wait_loaded(page, 2)
    assert page.evaluate(TIMES) == pytest.approx([0.5 / FPS] * 2, abs=1e-4)
    query = watched.query()
    assert (query["algo"], query["run"], query["tags"]) == ("apex", "1", "initial,final")
    assert page.is_hidden("#message")
    assert watched.errors == []


def test_defaults_and_form(site, base_url, watched):
    watched.open(f"{base_url}grid.html")
    page = watched.page
    got = cells(page)
    # first game; all algos (rows) x all runs (columns); tag final
    assert [(c["algo"], c["run"], c["tag"]) for c in got] == APEX_DQN_BY_RUNS
    assert watched.query() == {
        "game": "Seaquest",
        "algos": "apex,dqn",
        "runs": "1,2",
        "tag": "final",
    }
    page.select_option("#game", "Pong")
    assert [c["entry"] for c in cells(page)] == [
        "apex/Pong/1/final",
        None,
        None,
        "dqn/Pong/2/final",
    ]
    page.check("#tags input[value='initial']")
    assert watched.query()["tags"] == "initial,final"
    assert len(cells(page)) == 8
    for label in page.query_selector_all("#grid-form input"):
        assert label.evaluate("(i) => !!i.closest('label')")
    assert watched.errors == []


def test_lazy_loading(site, base_url, browser):
    context = browser.new_context(viewport={"width": 400, "height": 500})
    try:
        watched = Watched(context.new_page())
        watched.open(
            f"{base_url}grid.html?game=Seaquest&algos=apex,dqn&runs=1,2&tags=initial,final"
        )
        page = watched.page
        page.wait_for_timeout(500)
        srcs = page.evaluate(f"{VIDEOS}.map((v) => [v.getAttribute('src'), v.preload])")
        assert srcs[0][0] is not None  # the master
        assert [None, "none"] in srcs  # an off-screen cell: poster only
        page.click("#play")
        page.wait_for_timeout(300)
        assert all(
            s for s, _ in page.evaluate(f"{VIDEOS}.map((v) => [v.getAttribute('src'), v.preload])")
        )
        assert watched.errors == []
    finally:
        context.close()


XSS = ["<img src=x onerror=alert(1)>", '"><script>alert(1)</script>']


@pytest.mark.parametrize("payload", XSS)
def test_hostile_values_are_text(site, base_url, watched, payload):
    from urllib.parse import quote

    watched.open(f"{base_url}grid.html")
    page = watched.page
    counts = """[
        document.querySelectorAll('img, script, iframe').length,
        document.querySelectorAll('*').length,
        document.querySelector('#message').childElementCount]"""
    clean = page.evaluate(counts)
    v = quote(payload)
    keys = ["game", "algos", "runs", "tag", "tags", "algo", "run", "t", "speed"]
    watched.open(f"{base_url}grid.html?" + "&".join(f"{k}={v}" for k in keys))
    page.wait_for_timeout(300)
    assert page.evaluate(counts) == clean
    message = page.text_content("#message[role='alert']")
    assert payload[:20] in message and "Showing what exists instead." in message
    assert watched.query()["game"] == "Seaquest"
    assert watched.dialogs == [] and watched.errors == []
    assert_local(watched, base_url)


def test_the_grid_has_the_viewers_keys_and_speeds(site, base_url, watched):
    """One key map and one list of speeds for the viewer and the grid (player.js)."""
    entry = "algo=apex&game=Seaquest&run=1&tag=final"
    watched.open(f"{base_url}video.html?{entry}")
    page = watched.page
    viewer_speeds = page.locator("#speed option").all_inner_texts()
    watched.open(f"{base_url}grid.html?game=Seaquest&algos=apex&runs=1,2&tag=final")
    assert page.locator("#speed option").all_inner_texts() == viewer_speeds
    assert viewer_speeds == ["0.1×", "0.25×", "0.5×", "1×", "1.5×", "2×"]
    wait_loaded(page, 2)
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("]")
    assert page.input_value("#speed") == "1.5" and watched.query()["speed"] == "1.5"
    assert page.evaluate(f"{VIDEOS}.map((v) => v.playbackRate)") == [1.5, 1.5]
    for _ in range(3):
        page.keyboard.press("[")
    assert page.input_value("#speed") == "0.25" and watched.query()["speed"] == "0.25"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_loaded(page, 2)
    assert step_text(page)[0] == 2
    # Space on a focused button presses the button, once (it does not also toggle).
    page.focus("#play")
    page.keyboard.press(" ")
    assert page.get_attribute("#play", "aria-pressed") == "true"
    page.keyboard.press(" ")
    assert page.get_attribute("#play", "aria-pressed") == "false"
    assert watched.errors == []


def test_a_choice_with_no_entry_says_so_and_does_not_throw(site, base_url, watched):
    """apex has no run 2 of Pong: each value exists for the game, their combination not."""
    watched.open(f"{base_url}grid.html?game=Pong&algos=apex&runs=2&tag=final")
    page = watched.page
    got = cells(page)
    assert [(c["algo"], c["run"], c["entry"]) for c in got] == [("apex", "2", None)]
    assert "None of the chosen combinations has an entry for Pong" in page.text_content("#message")
    assert page.is_disabled("#play") and page.is_disabled("#seek")
    page.keyboard.press(" ")  # nothing to play: nothing happens
    page.check("#runs input[value='1']")
    got = cells(page)
    assert [c["entry"] for c in got] == ["apex/Pong/1/final", None]
    assert page.is_enabled("#play")
    page.click("#play")
    assert page.get_attribute("#play", "aria-pressed") == "true"
    assert watched.errors == [] and watched.dialogs == []
