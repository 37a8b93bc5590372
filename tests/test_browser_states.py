"""The map of states in Chromium (issue 13): the demo's map draws every point where its
JSON puts it, hovering shows that step's own frame from the thumbnail sheet, clicking opens
the viewer at that very step, the URL keeps the view; and a 20,000-point map draws and
answers (its draw time is printed; benchmarks/state_map.py measures it)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from browsing import Watched
from PIL import Image

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1100, "height": 900}


@pytest.fixture(scope="module")
def site(demo_site, serve):
    return demo_site, serve(demo_site)


@pytest.fixture
def watched(browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    yield Watched(page)
    context.close()


def screen_points(page, data: dict, by: str = "dense") -> np.ndarray:
    """Where map.html draws each point of a view, in viewport pixels (its projection, default
    view), the map scrolled into view first."""
    page.locator("#map").scroll_into_view_if_needed()
    box = page.evaluate("""() => { const c = document.getElementById('map'),
        r = c.getBoundingClientRect(); return {x: r.left + c.clientLeft, y: r.top + c.clientTop,
        width: c.clientWidth, height: c.clientHeight}; }""")
    side = min(box["width"], box["height"]) - 24
    view = data["views"][by]
    x = (np.array(view["x"]) - 0.5) * side + box["width"] / 2 + box["x"]
    y = (0.5 - np.array(view["y"])) * side + box["height"] / 2 + box["y"]
    return np.stack([x, y], axis=1)


def isolated(xy: np.ndarray, count: int) -> list[int]:
    """Points with no other within 8 pixels (a pointer on them picks them alone)."""
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(len(xy)) * 99
    return [int(n) for n in np.flatnonzero(d.min(axis=1) > 8)[:count]]


def test_hover_shows_the_steps_frame_and_click_opens_that_step(site, watched):
    site_dir, base = site
    data = json.loads((site_dir / "maps/Breakout.json").read_text())
    watched.open(f"{base}map.html?game=Breakout&colour=tag")
    page = watched.page
    assert page.input_value("#colour") == "tag" and page.input_value("#game") == "Breakout"
    assert "colour=tag" in page.url and "by=dense" in page.url
    xy = screen_points(page, data)
    chosen = isolated(xy, 3)
    assert chosen, "the demo's map has no isolated point to hover"
    sheet = np.asarray(Image.open(site_dir / data["thumbs"]["url"]).convert("RGB"))
    t = data["thumbs"]
    for n in chosen:
        i = data["views"]["dense"]["points"][n]
        page.mouse.move(*xy[n])
        page.wait_for_selector("#tip:not([hidden])", timeout=5_000)
        step = data["points"]["step"][i]
        assert f"step {step}" in page.text_content("#tip-text")
        # the thumbnail drawn is that point's cell of the sheet (2x, nearest neighbour)
        deadline = time.time() + 5
        while True:
            shown = np.array(page.evaluate(
                "() => Array.from(document.getElementById('thumb').getContext('2d')"
                ".getImageData(0, 0, 80, 106).data)"), np.uint8).reshape(106, 80, 4)  # fmt: skip
            if shown[:, :, 3].any() or time.time() > deadline:
                break
            page.mouse.move(xy[n][0] + 0.5, xy[n][1])
        r, c = divmod(i, t["columns"])
        cell = sheet[r * t["height"] : (r + 1) * t["height"], c * t["width"] : (c + 1) * t["width"]]
        np.testing.assert_array_equal(shown[::2, ::2, :3], cell)
    # click: the viewer at that step of that entry
    n = chosen[0]
    i = data["views"]["dense"]["points"][n]
    entry = data["entries"][data["points"]["entry"][i]]
    step = data["points"]["step"][i]
    page.mouse.click(*xy[n])
    watched.wait_ready()
    assert "video.html" in page.url
    page.wait_for_selector(f"#step:text-is('step {step} / 200')", timeout=5_000)
    for key in ("algo", "run", "tag"):
        assert page.input_value(f"#{key}") == str(entry[key])
    assert not watched.errors


def test_url_keeps_the_view_and_ram_placement(site, watched):
    site_dir, base = site
    watched.open(f"{base}map.html?game=Pong&by=ram&colour=action&view=0.3,0.6,2.5")
    page = watched.page
    assert page.input_value("#by") == "ram" and page.input_value("#colour") == "action"
    legend = page.locator("#legend li").all_inner_texts()
    data = json.loads((site_dir / "maps/Pong.json").read_text())
    assert set(legend) <= set(data["action_names"])
    page.select_option("#colour", "score")
    assert "colour=score" in page.url and "view=0.3,0.6,2.5" in page.url
    page.dblclick("#map", position={"x": 5, "y": 5})
    assert "view=" not in page.url
    watched.open(f"{base}map.html?game=Nowhere")
    assert "No map of" in page.text_content("#message")
    assert not watched.errors


def big_map(site_dir: Path, tmp: Path, points: int) -> Path:
    """A copy of the demo site whose Breakout map has `points` points (a simulation:
    random places, the demo's own entries, steps and thumbnails reused)."""
    copy = tmp / "site"
    shutil.copytree(site_dir, copy)
    data = json.loads((copy / "maps/Breakout.json").read_text())
    rng = np.random.default_rng(0)
    n0 = len(data["points"]["step"])
    pick = rng.integers(0, n0, points)
    data["points"] = {k: [v[j] for j in pick] for k, v in data["points"].items()}
    xy = rng.random((points, 2)).round(4)
    data["views"] = {"dense": {"points": list(range(points)), "x": xy[:, 0].tolist(),
                               "y": xy[:, 1].tolist()}}  # fmt: skip
    (copy / "maps/Breakout.json").write_text(json.dumps(data))
    return copy


def test_a_map_of_20000_points_draws_and_answers(demo_site, serve, watched, tmp_path):
    copy = big_map(demo_site, tmp_path, 20_000)
    base = serve(copy)
    watched.open(f"{base}map.html?game=Breakout")
    page = watched.page
    painted = page.evaluate("""() => {
        const c = document.getElementById('map'), d = c.getContext('2d')
          .getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }""")
    page.locator("#map").scroll_into_view_if_needed()
    box = page.locator("#map").bounding_box()
    side = min(box["width"], box["height"]) - 24
    assert painted > 0.5 * side * side  # 20,000 3x3 dots over the square: most of it
    ms = page.evaluate("""() => { const s = document.getElementById('colour'); const t0 =
        performance.now(); for (const v of ['run', 'algo']) { s.value = v;
        s.dispatchEvent(new Event('change')); } return (performance.now() - t0) / 2; }""")
    redraw = page.evaluate("""() => { const t0 = performance.now();
        for (let i = 0; i < 10; i++) window.dispatchEvent(new Event('resize'));
        return (performance.now() - t0) / 10; }""")
    print(f"20,000 points: {ms:.1f} ms per new colouring, {redraw:.1f} ms per redraw")
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#tip:not([hidden])", timeout=5_000)
    assert not watched.errors
