"""The noise-robustness pages (issue 13): the numbers are the evaluations' own (mean and
spread over runs and episodes per algorithm and σ), the chart draws them where they belong,
and in Chromium the page, its chart, its films and the links to and from the viewers work."""

from __future__ import annotations

import json
import re
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browsing import Watched

from zoo_site.site import robustness as pages
from zoo_site.site.charts import BOTTOM, HEIGHT, TOP
from zoo_site.site.manifest import read_manifest


def item(algo: str, run: int, levels: dict[float, list[float]]) -> dict:
    return {"id": f"{algo}/Pong/{run}/final", "algo": algo, "run": run, "tag": "final",
            "protocol": "dopamine", "episodes": 2, "max_steps": 100,
            "levels": [{"sigma": s, "returns": r, "finished": [True] * len(r)}
                       for s, r in levels.items()],
            "video": None, "video_sigma": None}  # fmt: skip


ALGOS = [{"id": "dqn", "label": "DQN"}, {"id": "a2c", "label": "A2C"}, {"id": "es", "label": "ES"}]
ITEMS = [
    item("dqn", 1, {0.0: [20, 18], 0.1: [10, 6]}),
    item("dqn", 2, {0.0: [16, 14], 0.1: [2, -2]}),
    item("a2c", 1, {0.0: [-21, -19], 0.1: [-21, -21]}),
]


def test_summary_pools_runs_and_episodes_per_algorithm():
    lines = pages.summary(ALGOS, ITEMS)
    assert [line["algo"]["id"] for line in lines] == ["dqn", "a2c"]  # es has no entry
    dqn = lines[0]["by_sigma"]
    assert dqn[0.0]["mean"] == 17 and dqn[0.1]["mean"] == 4
    assert dqn[0.1]["sd"] == pytest.approx(statistics.stdev([10, 6, 2, -2]))
    assert dqn[0.1]["episodes"] == 4
    assert [m for _, m in dqn[0.1]["runs"]] == [8, 0]
    assert lines[1]["by_sigma"][0.1]["sd"] == 0


class Svg(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[str, dict] = {}
        self.current = ""
        self.links: list[tuple[str, float]] = []
        self.href = ""
        self.ticks: list[str] = []
        self.dots: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "g" and "algo-points" in a.get("class", ""):
            self.current = ""
        elif tag == "g" and "algo-line" in a.get("class", ""):
            self.current = a["data-algo"]
            self.lines[self.current] = {}
        elif tag == "polyline":
            self.lines[self.current]["line"] = [tuple(map(float, p.split(",")))
                                                for p in a["points"].split()]  # fmt: skip
        elif tag == "a":
            self.href = a["href"]
        elif tag == "circle":
            self.links.append((self.href, float(a["cy"])))
            self.dots.append((a["cx"], a["cy"]))


def test_chart_draws_the_means_in_order_and_links_each_run():
    lines = pages.summary(ALGOS, ITEMS)
    svg = Svg()
    svg.feed(str(pages.chart("Pong", lines)))
    assert set(svg.lines) == {"dqn", "a2c"}
    (x0, y0), (x1, y1) = svg.lines["dqn"]["line"]
    assert x0 < x1 and y0 < y1  # higher mean, higher on screen (smaller y)
    # the y scale is linear: dqn's means 17 and 4 and a2c's -20 and -21 keep their ratios
    (_, a0), (_, a1) = svg.lines["a2c"]["line"]
    per_unit = (y1 - y0) / (4 - 17)
    assert a0 == pytest.approx(y0 + (-20 - 17) * per_unit, abs=0.2)
    assert a1 == pytest.approx(y0 + (-21 - 17) * per_unit, abs=0.2)
    assert all(TOP <= y <= HEIGHT - BOTTOM for _, y in svg.links)
    hrefs = {h for h, _ in svg.links}
    assert "../video.html?algo=dqn&game=Pong&run=2&tag=final" in hrefs
    assert len(svg.links) == 6  # a dot per run and level
    assert len(set(svg.dots)) == 6  # side by side: none hides another


# --- the built demo site, in Chromium -------------------------------------------------------


@pytest.fixture(scope="module")
def site(demo_site, serve):
    return demo_site, serve(demo_site)


@pytest.fixture
def watched(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    yield Watched(page)
    context.close()


def _expected(site_dir: Path, game: str) -> dict[tuple[str, float], float]:
    """From the entries' own entry.json: the mean return per algo and σ."""
    pooled: dict[tuple[str, float], list[float]] = {}
    manifest = read_manifest(site_dir)
    for e in manifest["entries"]:
        if e["game"] == game and e["robustness"]:
            details = json.loads((site_dir / e["details"]).read_text())
            for lv in details["robustness"]["levels"]:
                pooled.setdefault((e["algo"], lv["sigma"]), []).extend(lv["returns"])
    return {k: sum(v) / len(v) for k, v in pooled.items()}


@pytest.mark.browser
def test_robustness_page_in_chromium(site, watched):
    site_dir, base = site
    manifest = read_manifest(site_dir)
    games = {p["game"]: p for p in manifest["robustness"]}
    assert set(games) == {"Breakout", "Pong"}  # the demo evaluates its trained agents
    expected = _expected(site_dir, "Breakout")
    page = watched.page
    page.goto(base + "index.html")
    link = page.locator("#game-Breakout a", has_text="Robustness to noise")
    assert link.get_attribute("href") == "robustness/Breakout.html"
    link.click()
    page.wait_for_url(re.compile(r"robustness/Breakout\.html$"))
    assert page.locator("figure.robustness-chart svg.chart-svg").is_visible()
    algos = {a for a, _ in expected}
    assert page.locator("g.algo-line").count() == len(algos)
    # the table's means are the entries' evaluations
    for (algo, sigma), mean in expected.items():
        cells = page.locator(f"tr[data-algo='{algo}'] td")
        sigmas = sorted({s for a, s in expected if a == algo})
        text = cells.nth(sigmas.index(sigma)).inner_text()
        assert float(text.split()[0].replace(",", "")) == pytest.approx(mean, abs=0.01)
    # the stylesheet (../assets) applies: the band is translucent
    opacity = page.evaluate("getComputedStyle(document.querySelector('.band')).fillOpacity")
    assert float(opacity) < 0.5
    # a film of what the network saw plays: as many frames as the episode's steps
    film = page.locator("details.noisy-film").first
    film.locator("summary").click()
    video = film.locator("video")
    video.evaluate("v => { v.muted = true; return v.play(); }")
    entry_id = film.locator("xpath=..").get_attribute("data-entry")
    details = json.loads((site_dir / "a" / entry_id / "entry.json").read_text())
    steps = details["robustness"]["video"]["steps"]
    duration = video.evaluate("v => v.duration")
    assert duration == pytest.approx(steps / details["robustness"]["video"]["fps"], abs=0.2)
    # a run's dot opens its viewer, whose link leads back to its row
    dot = page.locator("a.point").first
    href = dot.get_attribute("href")
    dot.click()
    watched.wait_ready()
    assert "video.html" in page.url
    back = page.locator("#to-robustness")
    assert back.is_visible()
    entry = dict(p.split("=") for p in href.split("?")[1].split("&"))
    want = f"robustness/Breakout.html#{entry['algo']}%2FBreakout%2F{entry['run']}%2F{entry['tag']}"
    assert back.get_attribute("href") == want
    back.click()
    page.wait_for_url(re.compile(r"robustness/Breakout\.html#"))
    row = page.locator(f"li[data-entry='{entry['algo']}/Breakout/{entry['run']}/{entry['tag']}']")
    assert row.is_visible()
    assert page.evaluate("document.querySelector(':target') !== null")
    assert not watched.errors
