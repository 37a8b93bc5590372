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
    """A cache shared by the session's builds (the demo zoo lives in it, as by default)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def demo_zoo(test_cache) -> Path:
    from zoo_site.demo import DemoSpec, make_demo_zoo

    return make_demo_zoo(test_cache / "demo-zoo", DemoSpec(steps=TEST_STEPS), jobs=2)
