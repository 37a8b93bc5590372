"""The pages of a zoo with many checkpoints per run (parsed, no browser): the cards say the
protocol and the training step, each algo with checkpoints at known training steps gets an
SVG chart of its score over training, and the viewers carry the checkpoint controls."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from frontend_fixtures import (
    MODERN,
    checkpoint_manifest,
    checkpoint_returns,
    checkpoint_steps,
    fake_manifest,
)
from manifests import validate_site

from zoo_site.site import charts
from zoo_site.site.pages import write_pages
from zoo_site.site.templating import protocol_short, steps_label

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"


class Cards(HTMLParser):
    """Each card of the catalog: its data attributes and the text of each of its spans."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.cards: list[dict] = []
        self._span: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "li" and attrs.get("class") == "card":
            self.cards.append({"data": attrs, "spans": {}, "href": None})
        elif self.cards and tag == "a" and self.cards[-1]["href"] is None:
            self.cards[-1]["href"] = attrs["href"]
        elif self.cards and tag == "span" and attrs.get("class", "").startswith("card-"):
            self._span = attrs["class"]
            self.cards[-1]["spans"][self._span] = ""

    def handle_endtag(self, tag):
        if tag == "span":
            self._span = None

    def handle_data(self, data):
        if self._span:
            self.cards[-1]["spans"][self._span] += data


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, dict]:
    site_dir = tmp_path_factory.mktemp("checkpoint-pages")
    manifest = checkpoint_manifest()
    write_pages(site_dir, manifest)
    return site_dir, manifest


def html_of(site_dir: Path, name: str) -> str:
    return (site_dir / name).read_text(encoding="utf-8")


def progress_figures(html: str) -> dict[str, ET.Element]:
    """The over-training charts by algo (each a well-formed <figure> of SVG and text)."""
    found = re.findall(r'<figure class="training progress" data-algo="([^"]+)">.*?</figure>',
                       html, re.S)  # fmt: skip
    figures = re.findall(r'<figure class="training progress".*?</figure>', html, re.S)
    return {algo: ET.fromstring(fig) for algo, fig in zip(found, figures, strict=True)}


def test_checkpoint_sites_manifests_are_valid(site, tmp_path):
    full = validate_site(site[0])
    assert len(full["entries"]) == 25
    write_pages(tmp_path, checkpoint_manifest(checkpoints=51, algos=1, runs=1))
    root = validate_site(tmp_path)
    ((*_, tags, _, _),) = [r for r in root["groups"]["rows"] if r[1] == 0]
    assert tags == [[0, 50]]  # 51 checkpoints of one run: one range of tag indices


def test_an_over_training_chart_per_algo_with_its_points(site):
    site_dir, manifest = site
    html = html_of(site_dir, "scores/Pong.html")
    figures = progress_figures(html)
    assert list(figures) == ["DQN_modern", "C51_modern"]  # none for apex: no training steps
    steps = checkpoint_steps(6)
    labels = {t["id"]: t["label"] for t in manifest["tags"]}
    for algo, figure in figures.items():
        svg = figure.find(f"{SVG}svg")
        label = svg.get("aria-label")
        assert svg.get("role") == "group" and label.startswith("Pong: score of ")
        assert svg.find(f"{SVG}title").text == label
        assert len(svg.findall(f"{SVG}polyline")) == 2  # one line per run
        links = svg.findall(f"{SVG}a")
        assert len(links) == 2 * 6
        for run in (1, 2):
            points = [a for a in links if dict(parse_qsl(urlsplit(a.get("href")).query))["run"]
                      == str(run)]  # fmt: skip
            queries = [dict(parse_qsl(urlsplit(a.get("href")).query)) for a in points]
            assert all(a.get("href").startswith("../video.html?") for a in points)
            # x follows the training steps; each point links to its checkpoint's viewer
            assert queries == [{"algo": algo, "game": "Pong", "run": str(run), "tag": str(s)}
                               for s in steps]  # fmt: skip
            circles = [a.find(f"{SVG}circle") for a in points]
            xs = [float(c.get("cx")) for c in circles]
            assert xs == sorted(xs) and len(set(xs)) == 6
            # x is linear in the training step
            k = (xs[-1] - xs[0]) / steps[-1]
            assert xs == pytest.approx([xs[0] + k * s for s in steps], abs=0.11)
            # y: the mean return (higher is up), the final score where no episode ended
            values = []
            for i, a in enumerate(points):
                returns = checkpoint_returns(run, i)
                values.append(sum(returns) / len(returns) if returns else -5.0)
                title = a.find(f"{SVG}title").text
                assert title == a.get("aria-label")
                assert f"{labels[str(steps[i])]} ({steps[i]:,} agent steps)" in title
                if returns:
                    assert f"mean return {values[-1]:g} over 2 episodes" in title
                    assert circles[i].get("class") is None and circles[i].get("fill")
                else:
                    assert "no episode ended, final score -5" in title
                    assert circles[i].get("class") == "open"  # marked differently
            ys = [float(c.get("cy")) for c in circles]
            slope = (ys[-1] - ys[0]) / (values[-1] - values[0])
            assert slope < 0
            assert ys == pytest.approx([ys[0] + slope * (v - values[0]) for v in values],
                                       abs=0.11)  # fmt: skip
        caption = "".join(figure.find("figcaption").itertext())
        assert "hollow points: no episode ended" in caption
        assert "run 1" in caption and "run 2" in caption


def test_the_charts_are_on_the_games_scores_page_linked_from_the_catalog(site):
    html = html_of(site[0], "scores/Pong.html")
    assert html.count('class="training progress"') == 2
    assert "the scores over training" in html
    assert 'href="scores/Pong.html"' in html_of(site[0], "index.html")


def test_no_chart_without_training_steps(tmp_path):
    """atari-model-zoo entries (no training step), or a single checkpoint per run with
    one: no over-training chart."""
    write_pages(tmp_path / "zoo", fake_manifest())
    assert progress_figures(html_of(tmp_path / "zoo", "scores/Pong.html")) == {}
    single = checkpoint_manifest(checkpoints=2)
    single["entries"] = [e for e in single["entries"] if e["tag"] != "0"]
    write_pages(tmp_path / "single", single)
    assert progress_figures(html_of(tmp_path / "single", "scores/Pong.html")) == {}
    algo = {"id": "DQN_modern", "label": "DQN (modern)"}
    assert charts.progress_chart("Pong", algo, single["entries"], {}) is None


def test_chart_section_without_any_ended_episode(tmp_path):
    """With no episode ended anywhere there is no returns chart, but the checkpoints'
    scores still make over-training charts (all hollow)."""
    manifest = checkpoint_manifest(algos=1, runs=1)
    for e in manifest["entries"]:
        e["episode_returns"] = []
    write_pages(tmp_path, manifest)
    html = html_of(tmp_path, "scores/Pong.html")
    figures = progress_figures(html)
    assert list(figures) == ["DQN_modern"]
    circles = figures["DQN_modern"].iter(f"{SVG}circle")
    assert {c.get("class") for c in circles} == {"open"}
    assert 'class="chart-svg"' in html and "episode returns of each run" in html


def test_chart_text_is_escaped(tmp_path):
    manifest = checkpoint_manifest(algos=1, runs=1)
    manifest["algos"][0]["label"] = "<b>DQN</b> & co"
    manifest["tags"][2]["label"] = '"20M" <i>steps</i>'
    write_pages(tmp_path, manifest)
    html = html_of(tmp_path, "scores/Pong.html")
    assert "<b>DQN</b>" not in html and "<i>steps</i>" not in html
    figure = progress_figures(html)["DQN_modern"]
    assert "<b>DQN</b> & co" in figure.find(f"{SVG}svg").get("aria-label")


def test_viewer_pages_carry_the_checkpoint_controls(site):
    site_dir, _ = site
    video = html_of(site_dir, "video.html")
    for marker in (
        'class="checkpoints" role="group" aria-label="Checkpoints of this run" hidden',
        '<label for="checkpoint">Training</label>',
        '<input id="checkpoint" type="range"',
        '<output id="checkpoint-label" for="checkpoint">',
        'id="checkpoint-prev" type="button" aria-label="Previous checkpoint"',
        'id="checkpoint-next" type="button" aria-label="Next checkpoint"',
        '<a id="to-checkpoints" href="grid.html" hidden>Compare checkpoints of this run</a>',
        'id="fact-source"', 'id="fact-protocol"', 'id="fact-step"', 'id="fact-files"',
    ):  # fmt: skip
        assert marker in video, marker
    assert 'id="fact-files"' in html_of(site_dir, "video2.html")


@pytest.mark.parametrize(
    ("protocol", "short"),
    [(MODERN, "modern"), ({"name": "x", "label": "Dopamine: sticky"}, "Dopamine"),
     ({"name": "x", "label": "no colon"}, "no colon"), (None, "")],
)  # fmt: skip
def test_protocol_short(protocol, short):
    assert protocol_short(protocol) == short


@pytest.mark.parametrize(
    ("step", "text"),
    [(0, "0"), (999, "999"), (250_000, "250k"), (2_500_000, "2.5M"), (50_000_000, "50M"),
     (1_500_000_000, "1.5B")],
)  # fmt: skip
def test_short_steps(step, text):
    assert charts.short_steps(step) == text
    assert steps_label(step) == f"{text} agent steps"
