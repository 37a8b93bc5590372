"""Shared fixtures: one tiny real demo zoo (real games, real graphs), made once per run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: "A few hundred steps per rollout": long enough for real gameplay, short enough for CI.
TEST_STEPS = 200


def pytest_configure(config):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def test_cache(tmp_path_factory) -> Path:
    """A cache shared by the session's builds (the demo zoo lives in it, as by default).
    For a quick inner loop, ZOO_SITE_TEST_CACHE names a folder kept between runs, so the
    demo zoo is made once (never in CI: there every run starts from nothing)."""
    kept = os.environ.get("ZOO_SITE_TEST_CACHE")
    if kept and os.environ.get("CI") != "true":
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def demo_zoo(test_cache) -> Path:
    from zoo_site.demo import DemoSpec, make_demo_zoo

    return make_demo_zoo(test_cache / "demo-zoo", DemoSpec(steps=TEST_STEPS), jobs=2)


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the session (a failure, not a skip, in CI)."""
    from browsing import CHROMIUM, CHROMIUM_ARGS, require_chromium

    require_chromium()
    if os.environ.get("CI") == "true":
        from playwright import sync_api
    else:
        sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def watched(browser, request):
    """A fresh page in its own browser context, watched for errors, dialogs and requests;
    a test module may set VIEWPORT = {"width": …, "height": …}."""
    from browsing import Watched

    viewport = getattr(request.module, "VIEWPORT", None)
    context = browser.new_context(**({"viewport": viewport} if viewport else {}))
    yield Watched(context.new_page())
    context.close()


@pytest.fixture(scope="session")
def demo_site(request, tmp_path_factory, test_cache) -> Path:
    """`zoo-site build` with no zoo given: the demo zoo (already cached) becomes a site.
    For a quick inner loop on the browser tests, ZOO_SITE_TEST_DEMO_SITE names a demo site
    built earlier with the same settings (never in CI; tests that rebuild it then fail)."""
    from typer.testing import CliRunner

    if os.environ.get("ZOO_SITE_TEST_DEMO_SITE") and os.environ.get("CI") != "true":
        return Path(os.environ["ZOO_SITE_TEST_DEMO_SITE"])
    request.getfixturevalue("demo_zoo")  # made first, into the shared cache

    from zoo_site.cli import app

    home = tmp_path_factory.mktemp("project")
    config = home / "zoo-site.toml"
    config.write_text(f'out = "site"\n[demo]\nsteps = {TEST_STEPS}\n')
    args = ["build", "-j", "2", "--cache-dir", str(test_cache), "--config", str(config)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Built 24 entries" in result.output
    return home / "site"


@pytest.fixture(scope="session")
def serve():
    """serve(site_dir) -> base URL of a Range-capable server on 127.0.0.1."""
    import threading

    from zoo_site.site.serve import make_server

    servers = []

    def start(site_dir: Path) -> str:
        httpd = make_server(site_dir)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()
