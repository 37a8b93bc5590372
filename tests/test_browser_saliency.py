"""Saliency in Chromium: the overlay by click and by deep link on every viewer, where it is
drawn (a planted peak lands where the grid position says), the curves that seek, and the
step panel's Q-values, probabilities and value.

The demo site (real maps of trained agents) serves most tests; a copy of it with one
entry's maps replaced by a single known peak checks the overlay's geometry; a one-entry
A2C zoo (logits and a value head) checks the probabilities and the value head.
"""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
from browsing import require_chromium
from typer.testing import CliRunner

from zoo_site.cli import app
from zoo_site.networks.netbuild import build_a2c_graph

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1200, "height": 1600}

# Statistics of an overlay canvas's pixels: how many are drawn, the mean colour of the
# drawn ones, and the brightest (most opaque) pixel, in canvas pixels.
CANVAS_STATS = """(canvas) => {
  const ctx = canvas.getContext("2d");
  const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
  let count = 0, r = 0, g = 0, b = 0, best = -1, at = null, redder = 0, bluer = 0;
  for (let p = 0; p < data.length; p += 4) {
    const a = data[p + 3];
    if (!a) continue;
    count++; r += data[p]; g += data[p + 1]; b += data[p + 2];
    if (data[p] > data[p + 2] + 40) redder++;
    if (data[p + 2] > data[p] + 40) bluer++;
    if (a > best) { best = a; at = [(p / 4) % canvas.width, Math.floor(p / 4 / canvas.width)]; }
  }
  return { count, width: canvas.width, height: canvas.height, r: r / Math.max(count, 1),
           g: g / Math.max(count, 1), b: b / Math.max(count, 1), best, at, redder, bluer };
}"""


@pytest.fixture(scope="module")
def site(demo_site, serve):
    require_chromium()
    return serve(demo_site)


def stats(page, selector: str = "#saliency-overlay") -> dict:
    return page.eval_on_selector(selector, CANVAS_STATS)


def wait_true(page, expression: str, seconds: float = 15.0) -> None:
    """Poll `expression` (the pages' CSP forbids wait_for_function's eval)."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        page.wait_for_timeout(100)


def open_viewer(watched, base: str, page: str, entry: str, extra: str = "") -> None:
    algo, game, run, tag = entry.split("/")
    watched.open(f"{base}{page}?algo={algo}&game={game}&run={run}&tag={tag}{extra}")
    watched.page.wait_for_selector(f"body[data-details='{entry}']", timeout=15_000)
    watched.page.evaluate("document.querySelector('video').pause()")


def test_overlay_by_deep_link_and_by_click(site, watched):
    page = watched.page
    open_viewer(watched, site, "video.html", "apex/Pong/1/final", "&saliency=actor&frame=40")
    assert page.input_value("#saliency") == "actor"
    actor = stats(page)
    assert actor["count"] > 500 and actor["b"] > actor["r"] + 60, actor  # the paper's blue
    assert page.get_attribute("#saliency-overlay", "data-saliency-step") == "40"
    page.select_option("#saliency", "critic")
    critic = stats(page)
    assert critic["count"] > 500 and critic["r"] > critic["b"] + 60, critic  # red
    assert watched.query()["saliency"] == "critic"
    page.select_option("#saliency", "both")
    both = stats(page)
    assert both["redder"] > 50 and both["bluer"] > 50, both
    page.select_option("#palette", "cb")
    cb = stats(page)
    assert cb["g"] > both["g"] + 40, (cb, both)  # sky blue and orange both carry green
    assert watched.query()["palette"] == "cb"
    page.select_option("#saliency", "off")
    assert stats(page)["count"] == 0
    assert "saliency" not in watched.query()
    # the note says how often maps were computed; the critic label says it is max Q
    assert "every 5 steps" in page.text_content("#saliency-note")
    page.select_option("#saliency", "critic")
    assert "V = max" in page.text_content("#saliency-legend")
    # an agent without maps says so, and draws nothing
    open_viewer(watched, site, "video.html", "apex/Seaquest/1/final", "&saliency=both")
    assert "No saliency maps" in page.text_content("#saliency-note")
    assert stats(page)["count"] == 0
    assert not watched.errors, watched.errors


def test_opacity_scales_the_overlay(site, watched):
    page = watched.page
    open_viewer(watched, site, "video.html", "dqn/Breakout/1/final", "&saliency=actor&frame=60")
    full = stats(page)
    page.fill("#salpha", "0.3")  # a range input: fill sets its value and fires input
    page.dispatch_event("#salpha", "input")
    faint = stats(page)
    assert watched.query()["salpha"] == "0.3"
    assert faint["best"] < full["best"] * 0.6, (faint, full)
    watched.open(page.url)  # the same link gives the same picture
    page.wait_for_selector("body[data-details='dqn/Breakout/1/final']")
    page.evaluate("document.querySelector('video').pause()")
    assert abs(stats(page)["best"] - faint["best"]) <= 2


def test_the_saliency_and_value_curves_seek(site, watched):
    page = watched.page
    open_viewer(watched, site, "video.html", "dqn/Pong/2/final", "&saliency=both")
    for curve in ("#saliency-curve", "#value-curve"):
        box = page.locator(curve).bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
        wait_true(page, f"document.querySelector('{curve}').dataset.step !== undefined")
        step = int(page.get_attribute(curve, "data-step"))
        assert abs(step - 0.25 * 199) <= 2, (curve, step)
        t = page.evaluate("video.currentTime")
        assert int(t * 15) == step, (t, step)  # the video is at that step's frame
    # the step panel: Q-values of every action, and V = max of them
    q = json.loads(page.get_attribute("#step-outputs", "data-values"))
    assert "Q-values" in page.text_content("#step-outputs-label") and len(q) == 6
    value = page.text_content("#step-value")
    assert "V = max" in page.text_content("#step-value-label")
    assert float(value) == pytest.approx(max(q), abs=0.01)
    assert not watched.errors, watched.errors


def test_activation_viewer_overlays_the_gameplay_region(site, watched, demo_site):
    page = watched.page
    entry = "apex/Breakout/2/final"
    open_viewer(watched, site, "video2.html", entry, "&saliency=both&frame=20")
    details = json.loads((demo_site / "a" / entry / "entry.json").read_text())
    region = details["activations"]["atlas"]["regions"]["gameplay"]
    canvas = page.eval_on_selector(
        "#saliency-overlay",
        """(c, r) => {
      const { data } = c.getContext("2d").getImageData(0, 0, c.width, c.height);
      let inside = 0, outside = 0;
      for (let p = 3; p < data.length; p += 4) {
        if (!data[p]) continue;
        const x = ((p - 3) / 4) % c.width, y = Math.floor((p - 3) / 4 / c.width);
        if (x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height) inside++;
        else outside++;
      }
      return { inside, outside, width: c.width };
    }""",
        region,
    )
    atlas = details["activations"]["atlas"]
    assert canvas["width"] == atlas["width"]
    assert canvas["inside"] > 1000 and canvas["outside"] == 0, canvas
    assert "saliency=both" in page.url
    assert not watched.errors, watched.errors


def test_grid_cells_show_the_maps(site, watched):
    page = watched.page
    watched.open(f"{site}grid.html?game=Pong&algos=apex,dqn&runs=1&tags=initial,final"
                 "&saliency=actor&t=3")  # fmt: skip
    cells = page.locator("figure.cell[data-entry]")
    assert cells.count() == 4
    wait_true(
        page,
        "[...document.querySelectorAll('figure.cell[data-entry$=\"/final\"]')]"
        ".every((c) => c.dataset.saliencyStep)",
    )
    for i in range(4):
        entry = cells.nth(i).get_attribute("data-entry")
        drawn = cells.nth(i).locator("canvas").evaluate(CANVAS_STATS)
        if entry.endswith("/final"):
            assert drawn["count"] > 200 and drawn["b"] > drawn["r"], (entry, drawn)
        else:  # untrained agents have no maps in the demo
            assert drawn["count"] == 0, (entry, drawn)
    assert watched.query()["saliency"] == "actor"
    page.select_option("#saliency", "off")
    assert all(cells.nth(i).locator("canvas").evaluate(CANVAS_STATS)["count"] == 0
               for i in range(4))  # fmt: skip
    assert not watched.errors, watched.errors


# ---- the overlay's geometry: a planted peak ----------------------------------------------------

PEAK = (3, 12)  # grid row, column: observation pixel (15, 60)


@pytest.fixture(scope="module")
def planted(demo_site, tmp_path_factory, serve):
    """The demo site with dqn/Pong/1/final's maps replaced by one peak at PEAK."""
    require_chromium()
    site = tmp_path_factory.mktemp("planted") / "site"
    shutil.copytree(demo_site, site)
    folder = site / "a" / "dqn" / "Pong" / "1" / "final"
    info = json.loads((folder / "entry.json").read_text())["saliency"]
    maps = np.zeros(info["shape"], "<f4")
    maps[:, :, PEAK[0], PEAK[1]] = 1.0
    maps.tofile(folder / "saliency.f32")
    return serve(site), info


def test_a_planted_peak_is_drawn_where_its_grid_position_is(planted, watched):
    base, info = planted
    open_viewer(watched, base, "video.html", "dqn/Pong/1/final", "&saliency=actor&frame=10")
    drawn = stats(watched.page)
    oy = info["positions"]["rows"][PEAK[0]]
    ox = info["positions"]["cols"][PEAK[1]]
    h, w = info["observation"]
    x0, y0, x1, y1 = info["screen"]
    # observation pixel centres -> canvas pixels (the canvas is the video's own size)
    want_x = (x0 + (ox + 0.5) / w * (x1 - x0)) * drawn["width"]
    want_y = (y0 + (oy + 0.5) / h * (y1 - y0)) * drawn["height"]
    got_x, got_y = drawn["at"]
    pixel = drawn["width"] / w  # one observation pixel on the canvas
    assert abs(got_x - want_x) <= 1.5 * pixel and abs(got_y - want_y) <= 1.5 * pixel, (
        drawn, want_x, want_y)  # fmt: skip
    # smooth, and local: drawn only within a grid spacing or so of the peak
    assert drawn["count"] < 0.05 * drawn["width"] * drawn["height"], drawn


# ---- logits and a value head ------------------------------------------------------------------


@pytest.fixture(scope="module")
def a2c_site(tmp_path_factory, serve):
    require_chromium()
    home = tmp_path_factory.mktemp("a2c-site")
    folder = home / "zoo" / "a2c" / "PongNoFrameskip-v4"
    folder.mkdir(parents=True)
    (folder / "model1_final.pb").write_bytes(build_a2c_graph(6, seed=3).SerializeToString())
    config = home / "zoo-site.toml"
    config.write_text('zoo = "zoo"\nout = "site"\n[rollout]\nsteps = 30\n[saliency]\nevery = 2\n')
    args = ["build", "-j", "1", "--cache-dir", str(home / "cache"), "--config", str(config)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return serve(home / "site"), home / "site"


def test_logits_give_probabilities_and_the_value_head_its_value(a2c_site, watched):
    base, site = a2c_site
    page = watched.page
    open_viewer(watched, base, "video.html", "a2c/Pong/1/final", "&saliency=critic&frame=7")
    assert "probabilities" in page.text_content("#step-outputs-label")
    probs = json.loads(page.get_attribute("#step-outputs", "data-values"))
    assert len(probs) == 6 and sum(probs) == pytest.approx(1.0, abs=1e-6)
    outputs = np.fromfile(site / "a/a2c/Pong/1/final/outputs.f32", "<f4").reshape(30, 6)
    logits = outputs[7].astype(np.float64)
    want = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(probs, want, atol=1e-6)
    value = np.fromfile(site / "a/a2c/Pong/1/final/value.f32", "<f4")
    assert "value head" in page.text_content("#step-value-label")
    assert float(page.text_content("#step-value")) == pytest.approx(float(value[7]), abs=0.01)
    assert "value head" in page.text_content("#saliency-legend")
    assert stats(page)["count"] > 0  # the critic map, from the value head
    assert not watched.errors, watched.errors
