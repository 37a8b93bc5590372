"""Links that preview (issue 14): every entry has its own small page with Open Graph and
Twitter-card metadata (absolute with a base URL), which forwards to the viewer; robots.txt
and sitemap.xml list them; the base URL comes from --base-url, the config or GitHub
Actions, and without one the build says previews are off."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest
from building import build_zoo

from zoo_site.site import previews
from zoo_site.site.manifest import read_manifest


def test_github_pages_url_only_inside_actions():
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "Uber-Research/atari-zoo"}
    assert previews.github_pages_url(env) == "https://uber-research.github.io/atari-zoo/"
    user = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "alice/alice.github.io"}
    assert previews.github_pages_url(user) == "https://alice.github.io/"
    assert previews.github_pages_url({"GITHUB_REPOSITORY": "a/b"}) is None
    assert previews.normalise("https://x.org/zoo") == "https://x.org/zoo/"
    assert previews.normalise(None) is None
    with pytest.raises(ValueError):
        previews.normalise("x.org/zoo")


class Meta(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and ("property" in a or "name" in a):
            self.meta[a.get("property") or a["name"]] = a["content"]
        if tag == "link" and a.get("rel") == "canonical":
            self.links["canonical"] = a["href"]


def parse(path) -> Meta:
    m = Meta()
    m.feed(path.read_text())
    return m


@pytest.mark.slow
def test_entry_pages_sitemap_and_robots(tmp_path):
    from zoo_site.networks.netbuild import build_dqn_graph
    from zoo_site.rollouts.ale import minimal_action_names

    folder = tmp_path / "zoo" / "dqn" / "PongNoFrameskip-v4"
    folder.mkdir(parents=True)
    graph = build_dqn_graph(len(minimal_action_names("Pong")), seed=1)
    (folder / "model1_final.pb").write_bytes(graph.SerializeToString())
    tables = '[saliency]\nmethod = "off"\n[robustness]\nlevels = []\n[states]\nmethod = "off"'
    site, _ = build_zoo(tmp_path / "zoo", tmp_path, tmp_path / "cache", tables,
                        args=("--base-url", "https://example.org/zoo"))  # fmt: skip
    manifest = read_manifest(site)
    assert manifest["site"]["base_url"] == "https://example.org/zoo/"
    page = site / "a/dqn/Pong/1/final/index.html"
    m = parse(page)
    assert m.meta["og:title"] == m.meta["twitter:title"]
    assert m.meta["og:title"] == "DQN playing Pong, run 1, Final"  # the labels, not the ids
    assert "12 steps of gameplay" in m.meta["og:description"]
    assert m.links["canonical"] == m.meta["og:url"] == "https://example.org/zoo/a/dqn/Pong/1/final/"
    assert m.meta["og:image"] == "https://example.org/zoo/a/dqn/Pong/1/final/poster.png"
    assert m.meta["twitter:card"] == "summary_large_image"
    assert m.meta["zoo-viewer"] == "../../../../../video.html?algo=dqn&game=Pong&run=1&tag=final"
    assert (site / "a/dqn/Pong/1/final" / m.meta["zoo-viewer"].split("?")[0]).resolve() == (
        site / "video.html").resolve()  # fmt: skip
    ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    urls = [loc.text for loc in ET.parse(site / "sitemap.xml").getroot().iter(f"{ns}loc")]
    assert "https://example.org/zoo/a/dqn/Pong/1/final/" in urls
    assert "https://example.org/zoo/" in urls
    robots = (site / "robots.txt").read_text()
    assert "Allow: /" in robots and "Sitemap: https://example.org/zoo/sitemap.xml" in robots
    # no base URL: the pages still exist and forward, with no absolute addresses, no sitemap
    site, _ = build_zoo(tmp_path / "zoo", tmp_path, tmp_path / "cache", tables)
    m = parse(site / "a/dqn/Pong/1/final/index.html")
    assert "og:image" not in m.meta and "canonical" not in m.links and "og:title" in m.meta
    assert not (site / "sitemap.xml").exists()
    assert "Sitemap" not in (site / "robots.txt").read_text()
