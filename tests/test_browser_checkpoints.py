"""Many checkpoints per run, in real Chromium: the viewer's "Training" slider switches
checkpoints keeping the step, the playing state and the speed; the facts say where an
entry came from; "Compare checkpoints of this run" opens a grid of a spread of them; the
pages stay accessible and fit a phone."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from browsing import Watched, wait_until_playing
from frontend_fixtures import (
    ACTION_NAMES,
    FPS,
    FRAMES,
    LAST_FRAMES,
    MODERN,
    build_checkpoint_site,
    step_tag_label,
)

pytestmark = pytest.mark.browser

AXE = (
    Path(__file__).resolve().parents[1]
    / "build"
    / "npm"
    / "node_modules"
    / "axe-core"
    / "axe.min.js"
)

VIEWPORT = {"width": 1200, "height": 900}
RUN = "algo=DQN_modern&game=Pong&run=1"
M = 1_000_000


@pytest.fixture(scope="module")
def base(tmp_path_factory, serve):
    """2 algos × 2 runs × 6 checkpoints (0, 10M, ..., 50M steps) of Pong, and apex/Pong/1/final."""
    site_dir = tmp_path_factory.mktemp("checkpoints")
    build_checkpoint_site(site_dir)
    return serve(site_dir)


@pytest.fixture(scope="module")
def base51(tmp_path_factory, serve):
    """One run with 51 checkpoints (0, 1M, ..., 50M steps)."""
    site_dir = tmp_path_factory.mktemp("checkpoints51")
    build_checkpoint_site(site_dir, checkpoints=51, algos=1, runs=1)
    return serve(site_dir)


def query(page) -> dict[str, str]:
    return dict(parse_qsl(page.evaluate("location.search").lstrip("?")))


def wait_entry(page, step: int) -> None:
    page.wait_for_selector(f"#video[data-entry='DQN_modern/Pong/1/{step}']", timeout=5_000)


def wait_step(page, step: int, frames: int = FRAMES) -> None:
    page.wait_for_selector(f"#step:text-is('step {step} / {frames}')", timeout=5_000)


def shown_step(page) -> int:
    return int(page.text_content("#step").removeprefix("step ").split(" / ")[0])


def assert_checkpoint(page, step: int, index: int, of: int = 6) -> None:
    """The slider, its label, the tag select and the URL all say checkpoint `step`."""
    label = f"{step // M}M steps · {step:,} agent steps" if step else "0 steps · 0 agent steps"
    page.wait_for_selector(f"#checkpoint-label:text-is('{label}')", timeout=5_000)
    assert page.input_value("#checkpoint") == str(index)
    valuetext = page.get_attribute("#checkpoint", "aria-valuetext")
    assert valuetext == f"{label} (checkpoint {index + 1} of {of})"
    assert page.input_value("#tag") == str(step)
    assert query(page)["tag"] == str(step)


def assert_paused_at(page, step: int, frames: int = FRAMES) -> None:
    wait_step(page, step, frames)
    assert page.evaluate("video.paused")
    assert page.evaluate("video.currentTime") == pytest.approx((step + 0.5) / FPS, abs=1e-3)
    page.wait_for_selector(f"#step-action:text-is('{ACTION_NAMES[step % len(ACTION_NAMES)]}')")


def test_slider_by_keyboard_keeps_the_paused_step(base, watched):
    watched.open(f"{base}video.html?{RUN}&tag={20 * M}&frame=7")
    page = watched.page
    assert page.is_visible("#training")
    assert page.get_attribute("#checkpoint", "max") == "5"
    assert_checkpoint(page, 20 * M, 2)
    assert_paused_at(page, 7)
    page.focus("#checkpoint")
    page.keyboard.press("ArrowRight")  # the slider's own key: a checkpoint, not a frame
    wait_entry(page, 30 * M)
    assert_checkpoint(page, 30 * M, 3)
    assert_paused_at(page, 7)
    assert query(page) == {"algo": "DQN_modern", "game": "Pong", "run": "1", "tag": str(30 * M),
                           "frame": "7"}  # fmt: skip
    assert page.evaluate("video.currentSrc").endswith(f"DQN_modern/Pong/1/{30 * M}/gameplay.mp4")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    wait_entry(page, 10 * M)
    assert_checkpoint(page, 10 * M, 1)
    assert_paused_at(page, 7)
    assert page.text_content("#fact-id") == f"DQN_modern/Pong/1/{10 * M}"
    assert watched.errors == []


def test_slider_input_event_clamps_the_step_to_a_shorter_video(base, watched):
    watched.open(f"{base}video.html?{RUN}&tag={40 * M}&frame=50")
    page = watched.page
    assert_paused_at(page, 50)
    page.eval_on_selector(
        "#checkpoint", "s => { s.value = '5'; s.dispatchEvent(new Event('input')); }"
    )
    wait_entry(page, 50 * M)
    assert_checkpoint(page, 50 * M, 5)
    assert_paused_at(page, LAST_FRAMES - 1, LAST_FRAMES)  # its video has 40 frames
    assert query(page)["frame"] == str(LAST_FRAMES - 1)
    assert page.is_disabled("#checkpoint-next") and not page.is_disabled("#checkpoint-prev")
    page.click("#checkpoint-prev")  # back to a longer video: the step stays where it is
    wait_entry(page, 40 * M)
    assert_paused_at(page, LAST_FRAMES - 1)
    assert watched.errors == []


def test_arrow_keys_step_frames_when_the_slider_is_not_focused(base, watched):
    watched.open(f"{base}video.html?{RUN}&tag={20 * M}&frame=7")
    page = watched.page
    page.focus("#checkpoint")
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("ArrowRight")
    assert_paused_at(page, 8)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert_paused_at(page, 6)
    assert page.get_attribute("#video", "data-entry") == f"DQN_modern/Pong/1/{20 * M}"
    assert_checkpoint(page, 20 * M, 2)


def test_playing_and_speed_survive_a_checkpoint_change(base, watched):
    watched.open(f"{base}video.html?{RUN}&tag=0")
    page = watched.page
    page.select_option("#speed", "0.5")
    wait_until_playing(page)
    page.wait_for_timeout(500)
    before = shown_step(page)
    page.click("#checkpoint-next")
    wait_entry(page, 10 * M)
    assert_checkpoint(page, 10 * M, 1)
    wait_until_playing(page)
    assert page.evaluate("video.playbackRate") == 0.5
    assert page.input_value("#speed") == "0.5"
    # It goes on from where it was (0.5× at 15 fps: ~8 steps a second), not from the start.
    assert before - 1 <= shown_step(page) <= before + 12
    assert "frame" not in query(page)  # playing: no step in the URL, as before
    # The tag select is the same choice: a checkpoint from it keeps the position too.
    page.click("#play")
    assert page.evaluate("video.paused")
    paused_at = shown_step(page)
    page.select_option("#tag", str(40 * M))
    wait_entry(page, 40 * M)
    assert_checkpoint(page, 40 * M, 4)
    assert_paused_at(page, paused_at)
    assert watched.errors == []


def test_facts_say_where_the_entry_came_from(base, watched):
    watched.open(f"{base}video.html?{RUN}&tag={20 * M}&frame=3")
    page = watched.page
    assert page.text_content("#fact-source") == "atari-agents"
    assert page.text_content("#fact-protocol") == MODERN["label"]
    assert page.text_content("#fact-step") == "20,000,000 agent steps"
    files = f"model DQN_modern/Pong/1/model_{20 * M}.gz; played by zoo-site"
    page.wait_for_selector(f"#fact-files:text-is('{files}')")
    # An atari-model-zoo entry: one checkpoint in its run, no protocol or training step.
    page.select_option("#algo", "apex")
    page.wait_for_selector("#video[data-entry='apex/Pong/1/final']")
    assert page.is_hidden("#training") and page.is_hidden("#to-checkpoints")
    assert page.is_hidden("#fact-protocol-box") and page.is_hidden("#fact-step-box")
    assert page.text_content("#fact-source") == "atari-model-zoo"
    page.wait_for_selector("#fact-files:text-is('rollout fake_rollout.npz')")
    # The activation viewer has the same files line.
    watched.open(f"{base}video2.html?{RUN}&tag={20 * M}&frame=3")
    page.wait_for_selector(f"#fact-files:text-is('{files}')")
    assert watched.errors == []


def grid_tags(href: str) -> list[str]:
    return dict(parse_qsl(urlsplit(href).query))["tags"].split(",")


def test_compare_checkpoints_opens_a_grid_of_the_run(base51, watched):
    watched.open(f"{base51}video.html?{RUN}&tag={25 * M}&frame=7")
    page = watched.page
    assert_checkpoint(page, 25 * M, 25, of=51)
    href = page.get_attribute("#to-checkpoints", "href")
    expected = [str(s * M) for s in (0, 10, 25, 30, 40, 50)]  # evenly spaced, this one in
    assert grid_tags(href) == expected
    assert dict(parse_qsl(urlsplit(href).query)) == {
        "game": "Pong", "algos": "DQN_modern", "runs": "1", "tags": ",".join(expected)
    }  # fmt: skip
    page.focus("#checkpoint")
    page.keyboard.press("End")
    wait_entry(page, 50 * M)
    assert grid_tags(page.get_attribute("#to-checkpoints", "href")) == [
        str(s * M) for s in (0, 10, 20, 30, 40, 50)
    ]
    page.keyboard.press("Home")
    wait_entry(page, 0)
    page.click("#checkpoint-next")
    wait_entry(page, 1 * M)
    assert grid_tags(page.get_attribute("#to-checkpoints", "href")) == [
        str(s * M) for s in (0, 1, 20, 30, 40, 50)
    ]
    page.click("#to-checkpoints")
    watched.wait_ready()
    assert page.url.split("?")[0].endswith("/grid.html")
    cells = page.locator(".cell").evaluate_all("cs => cs.map(c => c.dataset.tag)")
    assert cells == [str(s * M) for s in (0, 1, 20, 30, 40, 50)]
    labels = page.locator(".cell-label").all_inner_texts()
    names = [step_tag_label(s * M) for s in (0, 1, 20, 30, 40, 50)]
    assert labels == [f"DQN (modern) · run 1 · {name}" for name in names]
    # 51 checkpoints (and apex's "final"): folded behind a summary, each a labelled checkbox.
    boxes = "#tags .pick-list input[type=checkbox]"
    assert page.locator(boxes).count() == 51 + 1
    assert page.locator(f"{boxes}:checked").count() == 6
    summary = page.locator("#tags summary")
    assert summary.inner_text() == "6 of 52: 0 steps, 1M steps, 20M steps, 30M steps, …"
    assert page.locator("#tags").bounding_box()["height"] < 100  # no wall of checkboxes
    summary.click()
    assert page.locator("#tags").bounding_box()["height"] < 320
    page.fill("#tags input[type=search]", "33M")
    assert page.locator("#tags .pick-list label:visible").all_inner_texts() == ["33M steps"]
    page.locator("#tags label:has-text('33M steps') input").check()
    page.wait_for_function("document.querySelectorAll('.cell').length === 7")
    assert "33000000" in query(page)["tags"].split(",")
    # The form is drawn anew after the change: the list stays open and filtered.
    assert page.locator("#tags details").evaluate("d => d.open")
    assert page.input_value("#tags input[type=search]") == "33M"
    page.click("#tags button:has-text('6 evenly')")
    page.wait_for_function("document.querySelectorAll('.cell').length === 6")
    # 6 of 52 evenly: indices round(i * 51 / 5) = 0, 10, 20, 31, 41, 51 (the last: "final")
    assert query(page)["tags"].split(",") == [str(s * M) for s in (0, 10, 20, 31, 41)] + ["final"]
    page.click("#tags button:has-text('All')")
    page.wait_for_function("document.querySelectorAll('.cell').length === 52")
    assert watched.errors == []


def run_axe(page) -> list:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize(
    "url",
    [f"video.html?{RUN}&tag={20 * M}&frame=7",
     f"grid.html?game=Pong&algos=DQN_modern&runs=1&tags=0,{20 * M},{50 * M}", "index.html"],
)  # fmt: skip
def test_accessible(base51, browser, url):
    if not AXE.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{AXE} is missing (make test-deps installs it), and CI=true")
        pytest.skip("axe-core is not installed: run make test-deps")
    context = browser.new_context(viewport=VIEWPORT, bypass_csp=True)  # for axe's script only
    try:
        watched = Watched(context.new_page())
        watched.open(base51 + url)
        page = watched.page
        page.wait_for_timeout(300)
        page.evaluate("() => document.querySelectorAll('video').forEach(v => v.pause())")
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        assert run_axe(page) == []
        assert [e for e in watched.errors if "axe" not in e] == []
    finally:
        context.close()


@pytest.mark.parametrize(
    "url",
    [f"video.html?{RUN}&tag={20 * M}&frame=7",
     f"grid.html?game=Pong&algos=DQN_modern&runs=1&tags=0,{20 * M},{50 * M}", "index.html"],
)  # fmt: skip
def test_fits_a_phone(base51, browser, url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        watched = Watched(context.new_page())
        watched.open(base51 + url)
        page = watched.page
        page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
        page.wait_for_timeout(300)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{url} is {width} px wide on a 390 px screen"
        assert watched.errors == []
    finally:
        context.close()
