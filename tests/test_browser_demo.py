"""The real demo site in real Chromium: a deep link opens and plays that very agent."""

from __future__ import annotations

import pytest
from browsing import SELECTS, wait_until_playing

from zoo_site.site.manifest import read_manifest

pytestmark = pytest.mark.browser


def test_deep_link_to_a_demo_agent_plays_it(demo_site, serve, watched):
    base = serve(demo_site)
    manifest = read_manifest(demo_site)
    entry = next(e for e in manifest["entries"] if e["id"] == "apex/Seaquest/2/final")
    watched.open(f"{base}video.html?algo=apex&game=Seaquest&run=2&tag=final")
    page = watched.page
    assert watched.selected() == {k: str(entry[k]) for k in SELECTS}
    assert page.evaluate("video.currentSrc").endswith(entry["video"])
    first = wait_until_playing(page)
    page.wait_for_timeout(700)
    assert page.evaluate("video.currentTime") > first  # it keeps playing
    assert page.evaluate("[video.videoWidth, video.videoHeight]") == [320, 420]
    assert "untrained" in page.text_content("body")
    assert watched.errors == []
    assert all(url.startswith(base) for url in watched.requests)


def test_original_zoo_link_forms_work_on_the_demo(demo_site, serve, watched):
    base = serve(demo_site)
    # The original viewer's own published links put tag before run; it read only run_id.
    watched.open(f"{base}video.html?algo=dqn&game=Pong&tag=initial&run_id=2")
    assert watched.selected() == {"algo": "dqn", "game": "Pong", "run": "2", "tag": "initial"}
    assert watched.page.get_attribute("#video", "data-entry") == "dqn/Pong/2/initial"
