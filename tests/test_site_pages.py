"""The generated pages (parsed without a browser) and the preview server's Range support."""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from frontend_fixtures import build_fake_site, fake_manifest
from manifests import validate_site

from zoo_site.fsutil import file_digest, staging
from zoo_site.resources import site_src_dir
from zoo_site.site.pages import write_pages
from zoo_site.site.serve import make_server, parse_range
from zoo_site.site.templating import format_number

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("index.html", "video.html", "video2.html", "grid.html", "404.html")
URL_ATTRS = {"href", "src", "poster", "action"}


class Page(HTMLParser):
    """The parts of a page the checks look at."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_bodies: list[str] = []
        self.text: list[str] = []
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.script_bodies if self._in_script else self.text).append(data)

    def attrs(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    def urls(self) -> list[str]:
        return [v for _, attrs in self.tags for k, v in attrs.items() if k in URL_ATTRS and v]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, dict]:
    site_dir = tmp_path_factory.mktemp("site")
    return site_dir, build_fake_site(site_dir)


def parse(site_dir: Path, name: str) -> Page:
    return Page((site_dir / name).read_text(encoding="utf-8"))


def test_fake_site_manifests_are_valid(site):
    full = validate_site(site[0])
    assert sorted(e["id"] for e in full["entries"]) == sorted(e["id"] for e in site[1]["entries"])


def test_write_pages_returns_pages_and_assets(site):
    site_dir, manifest = site
    written = write_pages(site_dir, manifest)
    assets = sorted(p.name for p in site_src_dir().iterdir() if p.is_file())
    assert {p.name for p in written} >= set(PAGES) | set(assets) | {"manifest.json"}
    for name in assets:
        copied = (site_dir / "assets" / name).read_bytes()
        source = (site_src_dir() / name).read_bytes()
        if name.endswith(".js"):  # sibling imports carry the sibling's digest, nothing else
            copied = re.sub(rb"(\./[\w.-]+\.js)\?v=[0-9a-f]{10}", rb"\1", copied)
        assert copied == source, name


def test_module_imports_name_the_copy_they_load(site):
    """Every sibling import is versioned by the digest of the file it names, as the pages'
    script tags are, so each module is one module (loaded once) and never a stale one."""
    site_dir = site[0]
    imports = 0
    for module in (site_dir / "assets").glob("*.js"):
        for name, version in re.findall(r'"\./([\w.-]+\.js)\?v=([0-9a-f]+)"', module.read_text()):
            assert version == file_digest(site_dir / "assets" / name)[:10], (module.name, name)
            imports += 1
    assert imports >= 10
    page = parse(site_dir, "video.html")
    (script,) = page.attrs("script")
    assert script["type"] == "module"
    name, version = script["src"].removeprefix("assets/").split("?v=")
    assert version == file_digest(site_dir / "assets" / name)[:10]


def test_an_import_cycle_or_a_missing_module_is_an_error(tmp_path):
    from zoo_site.site.pages import copy_assets

    (tmp_path / "a.js").write_text('import { b } from "./b.js";\n')
    (tmp_path / "b.js").write_text('import { a } from "./a.js";\n')
    with pytest.raises(ValueError, match="cycle"):
        copy_assets(tmp_path, tmp_path / "out")
    (tmp_path / "b.js").write_text('import { c } from "./c.js";\n')
    with pytest.raises(ValueError, match="c.js, which does not exist"):
        copy_assets(tmp_path, tmp_path / "out2")


@pytest.mark.parametrize("name", PAGES)
def test_page_has_csp_and_no_inline_code(site, name):
    page = parse(site[0], name)
    csp = [
        a["content"] for a in page.attrs("meta") if a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert len(csp) == 1 and "script-src 'self'" in csp[0] and "object-src 'none'" in csp[0]
    assert all(not body.strip() for body in page.script_bodies)
    assert all(a.get("src") for a in page.attrs("script"))
    assert not page.attrs("style")
    for _, attrs in page.tags:
        assert not [k for k in attrs if k.startswith("on") or k == "style"], attrs


@pytest.mark.parametrize("name", PAGES)
def test_page_links_are_relative(site, name):
    for url in parse(site[0], name).urls():
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and not url.startswith("/"), url


@pytest.mark.parametrize("name", PAGES)
def test_page_shows_notice_and_uses_busted_assets(site, name):
    page = parse(site[0], name)
    assert "These demo agents are untrained" in "".join(page.text)
    stylesheet = [a["href"] for a in page.attrs("link") if a.get("rel") == "stylesheet"]
    assert stylesheet == [f"assets/zoo.css?v={file_digest(site_src_dir() / 'zoo.css')[:10]}"]


def test_no_notice_when_null(tmp_path):
    manifest = fake_manifest(notice=None)
    write_pages(tmp_path, manifest)
    assert 'class="notice"' not in (tmp_path / "index.html").read_text()


def test_index_has_a_section_per_game_and_no_cards(site):
    """The catalog's cards are drawn by index.js near the screen (tests/test_browser_catalog);
    the page itself carries each game's heading, count and links, and the filters."""
    site_dir, manifest = site
    html = (site_dir / "index.html").read_text()
    page = Page(html)
    sections = [a for a in page.attrs("section") if "game" in (a.get("class") or "")]
    assert [s["data-game"] for s in sections] == ["Seaquest", "Pong"]
    counts = [a["data-count"] for a in page.attrs("span") if a.get("class") == "game-count"]
    assert counts == ["4", "3"]
    assert 'class="card' not in html
    hrefs = [a["href"] for a in page.attrs("a")]
    assert "grid.html?game=Seaquest" in hrefs and "scores/Seaquest.html" in hrefs
    options = [a["value"] for a in page.attrs("option")]
    assert options == ["", "apex", "dqn", "", "Seaquest", "Pong", "", "initial", "final"]
    assert "7 agents" in html


def test_each_game_has_a_scores_page_linking_to_its_videos(site):
    site_dir = site[0]
    page = parse(site_dir, "scores/Seaquest.html")
    links = [a["href"] for a in page.attrs("a") if "video.html?" in a["href"]]
    assert links and all(link.startswith("../video.html?") for link in links)
    assert all((site_dir / "scores" / link).resolve().parent == site_dir.resolve()
               for link in [link.split("?")[0] for link in links])  # fmt: skip
    assert "Seaquest: scores" in "".join(page.text)


def test_title_is_escaped(tmp_path):
    write_pages(tmp_path, fake_manifest(title="<script>alert(1)</script> & co"))
    for name in PAGES:
        html = (tmp_path / name).read_text()
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
        assert not any(body.strip() for body in Page(html).script_bodies)


def test_output_is_byte_identical(tmp_path):
    manifest = fake_manifest()
    first = write_pages(tmp_path / "a", manifest)
    second = write_pages(tmp_path / "b", manifest)
    assert [p.relative_to(tmp_path / "a") for p in first] == [
        p.relative_to(tmp_path / "b") for p in second
    ]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a


def test_entry_pages_from_worker_processes_equal_those_rendered_here(tmp_path, monkeypatch):
    """A big zoo's entry pages are rendered by worker processes (entry_pages.py): the same
    bytes as rendered in the build's own process, and a template fault still names the file."""
    from zoo_site.errors import ZooSiteError
    from zoo_site.site import entry_pages

    manifest = fake_manifest()
    here = write_pages(tmp_path / "here", manifest)
    monkeypatch.setattr(entry_pages, "IN_PROCESSES_FROM", 1)
    monkeypatch.setattr(entry_pages, "CHUNK", 2)  # several chunks, their order kept
    monkeypatch.setattr(entry_pages.os, "sched_getaffinity", lambda _: {0, 1})
    workers = write_pages(tmp_path / "workers", manifest)
    pages = [p for p in here if p.name == "index.html" and p.parent != tmp_path / "here"]
    assert len(pages) == len(manifest["entries"]) >= 3
    for a, b in zip(here, workers, strict=True):
        assert a.relative_to(tmp_path / "here") == b.relative_to(tmp_path / "workers")
        assert a.read_bytes() == b.read_bytes(), a
    # In a build the workers write the pages into the staged site themselves.
    with staging(tmp_path / "staged") as stage:
        staged = write_pages(tmp_path / "staged", manifest)
    for a, b in zip(here, staged, strict=True):
        assert a.read_bytes() == b.read_bytes(), a
        assert stage.sizes[b.relative_to(tmp_path / "staged").as_posix()] == b.stat().st_size
    override = tmp_path / "templates"
    override.mkdir()
    (override / "entry.html").write_text("{{ entries[0].id }}")  # not an entry page's value
    with pytest.raises(ZooSiteError, match="templates/entry.html: .*entries"):
        write_pages(tmp_path / "bad", manifest, template_override=override)


def test_template_override_wins(tmp_path):
    override = tmp_path / "templates"
    override.mkdir()
    (override / "index.html").write_text(
        '{% extends "base.html" %}{% block main %}<p>Custom {{ site.title }}</p>{% endblock %}'
    )
    write_pages(tmp_path / "site", fake_manifest(), template_override=override)
    assert "<p>Custom Fake zoo</p>" in (tmp_path / "site" / "index.html").read_text()
    assert 'id="video"' in (tmp_path / "site" / "video.html").read_text()


def test_assets_are_small():
    sizes = [p.stat().st_size for p in site_src_dir().iterdir() if p.suffix in {".js", ".css"}]
    assert sum(sizes) < 100_000  # all JS and CSS together, uncompressed (the limit)


@pytest.mark.parametrize(
    ("value", "text"), [(40.0, "40"), (12.5, "12.5"), (1234567.0, "1,234,567"), (-3.14159, "-3.14")]
)
def test_format_number(value, text):
    assert format_number(value) == text


# --- serve.py ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 9)),
        ("bytes=5-", (5, 99)),
        ("bytes=-10", (90, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=90-500", (90, 99)),
        ("bytes=100-", (-1, -1)),
        ("bytes=-0", (-1, -1)),
        ("bytes=9-3", None),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 100) == expected


@pytest.fixture(scope="module")
def server(site):
    httpd = make_server(site[0])
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def get(port: int, path: str, headers: dict | None = None, method: str = "GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def video_of(site) -> tuple[str, bytes]:
    url = site[1]["entries"][0]["video"]
    return url, (site[0] / url).read_bytes()


def test_full_get(site, server):
    url, data = video_of(site)
    response, body = get(server, "/" + url)
    assert response.status == 200 and body == data
    assert response.getheader("Accept-Ranges") == "bytes"
    assert response.getheader("Content-Type") == "video/mp4"
    assert response.getheader("Content-Length") == str(len(data))


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=1000-", 1000, None), ("bytes=-300", -300, None)],
)
def test_range_get(site, server, header, first, last):
    url, data = video_of(site)
    start = first % len(data)
    end = len(data) - 1 if last is None else last
    response, body = get(server, "/" + url, {"Range": header})
    assert response.status == 206
    assert body == data[start : end + 1]
    assert response.getheader("Content-Range") == f"bytes {start}-{end}/{len(data)}"
    assert response.getheader("Content-Length") == str(end - start + 1)


def test_connections_send_without_waiting_for_acks(site):
    """Headers and body go out in two writes: with Nagle's algorithm on, a keep-alive
    response's body waits for the browser's delayed ACK (40 ms on Linux), on every request
    (a page of posters, a card file). The server's sockets have TCP_NODELAY."""
    httpd, nodelay = make_server(site[0]), []
    finish = httpd.finish_request

    def served(request, address):  # the request's socket stays open until this returns
        finish(request, address)
        nodelay.append(request.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    httpd.finish_request = served  # type: ignore[method-assign]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        response, _ = get(httpd.server_address[1], "/manifest.json")
        assert response.status == 200
        for _ in range(100):
            if nodelay:
                break
            time.sleep(0.05)
        assert nodelay and nodelay[0] != 0
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_unsatisfiable_range(site, server):
    url, data = video_of(site)
    response, body = get(server, "/" + url, {"Range": f"bytes={len(data)}-"})
    assert response.status == 416 and body == b""
    assert response.getheader("Content-Range") == f"bytes */{len(data)}"


def test_head_sends_no_body(site, server):
    url, data = video_of(site)
    response, body = get(server, "/" + url, method="HEAD")
    assert response.status == 200 and body == b""
    assert response.getheader("Content-Length") == str(len(data))


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/manifest.json", "application/json"),
        ("/assets/video.js", "text/javascript; charset=utf-8"),
        ("/assets/zoo.css", "text/css; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
        ("/a/apex/Seaquest/1/initial/poster.png", "image/png"),
        ("/", "text/html; charset=utf-8"),
    ],
)
def test_content_types(server, path, content_type):
    response, _ = get(server, path)
    assert response.status == 200
    assert response.getheader("Content-Type") == content_type


def test_missing_file_serves_404_page(site, server):
    response, body = get(server, "/no/such/page.html")
    assert response.status == 404
    assert body == (site[0] / "404.html").read_bytes()


def test_folder_without_slash_redirects(server):
    response, _ = get(server, "/a?x=1")
    assert response.status == 301
    assert response.getheader("Location") == "/a/?x=1"


def test_the_not_found_page_links_from_the_site_root_when_the_base_url_is_known(tmp_path):
    """GitHub Pages serves 404.html at whatever path was missing (a/…/final/ too): with a
    base URL every link and asset is from the site's root path; without, relative."""
    manifest = fake_manifest()
    manifest["site"]["base_url"] = "https://someone.github.io/zoo/"
    write_pages(tmp_path / "known", manifest)
    write_pages(tmp_path / "unknown", fake_manifest())
    for folder, prefix in (("known", "/zoo/"), ("unknown", "")):
        page = Page((tmp_path / folder / "404.html").read_text())
        links = [a["href"] for a in page.attrs("a") if not a["href"].startswith("#")]
        links += [a["href"] for a in page.attrs("link")]
        assert links and all(link.startswith(prefix) for link in links), links
        assert all(link.startswith("/zoo/") == bool(prefix) for link in links), links
        targets = {link.removeprefix(prefix).split("?")[0] for link in links}
        assert targets >= {"index.html", "video.html"}
