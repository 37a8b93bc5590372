"""Driving Debian's Chromium with Playwright: shared by the browser tests."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
SELECTS = ("algo", "game", "run", "tag")


def require_chromium() -> None:
    """In CI a missing browser is a failure; elsewhere the browser tests are skipped."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing, and CI=true: the browser tests must run")
    pytest.skip(f"{CHROMIUM} is not installed")


class Watched:
    """A page plus everything it reported: console errors, dialogs and requests."""

    def __init__(self, page) -> None:
        self.page, self.errors, self.dialogs, self.requests = page, [], [], []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("dialog", self._on_dialog)
        page.on("request", lambda r: self.requests.append(r.url))

    def _on_dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.wait_ready()

    def wait_ready(self) -> None:
        self.page.wait_for_selector("body[data-ready='1']", timeout=10_000)

    def selected(self) -> dict[str, str]:
        return {key: self.page.input_value(f"#{key}") for key in SELECTS}

    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.page.url).query))


def wait_until_playing(page, seconds: float = 5.0) -> float:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t, paused = page.evaluate("[video.currentTime, video.paused]")
        if t > 0.3 and not paused:
            return t
        page.wait_for_timeout(100)
    raise AssertionError(f"the video did not play: currentTime={t}, paused={paused}")
