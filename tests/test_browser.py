"""The viewer and the index in a real Chromium (Playwright), served by zoo_site.site.serve."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from browsing import SELECTS, wait_until_playing
from frontend_fixtures import build_fake_site

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site_dir = tmp_path_factory.mktemp("browser-site")
    return site_dir, build_fake_site(site_dir)


@pytest.fixture(scope="module")
def base_url(site, serve):
    return serve(site[0])


def entry_of(site, algo, game, run, tag) -> dict:
    return next(e for e in site[1]["entries"] if e["id"] == f"{algo}/{game}/{run}/{tag}")


def canonical(entry: dict) -> dict[str, str]:
    return {key: str(entry[key]) for key in SELECTS}


def test_deep_link_plays_that_entry(site, base_url, watched):
    entry = entry_of(site, "dqn", "Pong", 2, "final")
    watched.open(f"{base_url}video.html?algo=dqn&game=Pong&run=2&tag=final")
    page = watched.page
    assert watched.selected() == canonical(entry)
    assert page.get_attribute("#video", "data-entry") == entry["id"]
    assert page.evaluate("video.currentSrc").endswith(entry["video"])
    wait_until_playing(page)
    assert page.text_content("#fact-id") == entry["id"]
    page.wait_for_selector("#step:not(:text-is('step 0 / 60'))")
    step, of = page.text_content("#step").removeprefix("step ").split(" / ")
    assert 0 < int(step) < int(of) == entry["frames"]
    assert page.is_hidden("#message")
    assert watched.errors == []


def test_run_id_alias(site, base_url, watched):
    watched.open(f"{base_url}video.html?algo=apex&game=Seaquest&run_id=2&tag=final")
    assert watched.selected() == canonical(entry_of(site, "apex", "Seaquest", 2, "final"))
    assert watched.query() == canonical(entry_of(site, "apex", "Seaquest", 2, "final"))


def test_no_parameters_shows_first_entry(site, base_url, watched):
    watched.open(f"{base_url}video.html")
    first = entry_of(site, "apex", "Seaquest", 1, "initial")
    assert watched.page.get_attribute("#video", "data-entry") == first["id"]
    assert watched.query() == canonical(first)


def test_unknown_algo_shows_message_and_a_valid_video(site, base_url, watched):
    watched.open(f"{base_url}video.html?algo=xyz&game=Pong&run=2&tag=final")
    page = watched.page
    message = page.text_content("#message[role='alert']")
    assert 'No entry for algo "xyz".' in message and "Showing apex / " in message
    shown = page.get_attribute("#video", "data-entry")
    assert shown in {e["id"] for e in site[1]["entries"]}
    assert page.evaluate("video.currentSrc").endswith(entry_of(site, *shown.split("/"))["video"])
    wait_until_playing(page)
    assert watched.query() == dict(zip(SELECTS, shown.split("/"), strict=True))
    assert list(watched.query()) == list(SELECTS)


def test_missing_combination_falls_back(site, base_url, watched):
    watched.open(f"{base_url}video.html?algo=dqn&game=Seaquest&run=2&tag=final")
    assert "No entry for run" in watched.page.text_content("#message")
    assert watched.selected() == canonical(entry_of(site, "dqn", "Seaquest", 1, "final"))


def test_select_change_updates_url_and_video(site, base_url, watched):
    watched.open(f"{base_url}video.html?algo=apex&game=Seaquest&run=1&tag=initial")
    page = watched.page
    assert page.locator("#run option").count() == 2
    page.select_option("#game", "Pong")  # apex/Pong has only run 1, tag final
    expected = entry_of(site, "apex", "Pong", 1, "final")
    page.wait_for_selector("#video[data-entry='apex/Pong/1/final']")
    assert watched.selected() == canonical(expected)
    assert page.evaluate("location.search") == "?algo=apex&game=Pong&run=1&tag=final"
    assert page.locator("#tag option").all_inner_texts() == ["Final"]
    page.select_option("#algo", "dqn")  # Pong stays; run 1 is invalid -> 2; final stays
    page.wait_for_selector("#video[data-entry='dqn/Pong/2/final']")
    assert page.evaluate("location.search") == "?algo=dqn&game=Pong&run=2&tag=final"
    assert page.evaluate("video.currentSrc").endswith(
        entry_of(site, "dqn", "Pong", 2, "final")["video"]
    )
    assert watched.errors == []


def test_markup_in_the_url_is_never_markup(base_url, watched):
    watched.open(f"{base_url}video.html?algo=<img src=x onerror=alert(1)>&game=<b>bold</b>")
    page = watched.page
    page.wait_for_timeout(300)
    assert watched.dialogs == []
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#message b").count() == 0
    assert "<img src=x onerror=alert(1)>" in page.text_content("#message")


def test_every_request_stays_on_the_server(base_url, watched):
    watched.open(f"{base_url}video.html?algo=dqn&game=Seaquest&run=1&tag=final")
    wait_until_playing(watched.page)
    watched.page.goto(f"{base_url}index.html")
    assert watched.requests
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in watched.requests), watched.requests


def test_index_links_open_the_viewer(site, base_url, watched):
    page = watched.page
    for entry_id in ("dqn/Pong/2/initial", "apex/Seaquest/2/final"):
        page.goto(f"{base_url}index.html")
        algo, game, run, tag = entry_id.split("/")
        page.click(f".card a[href='video.html?algo={algo}&game={game}&run={run}&tag={tag}']")
        watched.wait_ready()
        assert page.get_attribute("#video", "data-entry") == entry_id
        assert watched.selected() == canonical(entry_of(site, algo, game, run, tag))
    assert watched.errors == []


def test_missing_page_gets_the_404_page(base_url, watched):
    response = watched.page.goto(f"{base_url}no/such/page")
    assert response.status == 404
    assert "Page not found" in watched.page.text_content("h1")
