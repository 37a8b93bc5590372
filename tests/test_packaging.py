"""The wheel carries the templates and the static site files: an installed zoo-site works."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-q", "-w", str(out), str(ROOT)],
        check=True,
    )  # fmt: skip
    (built,) = out.glob("zoo_site-*.whl")
    return built


def test_wheel_ships_templates_and_site_src(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (ROOT / "templates").iterdir():
        assert f"zoo_site/templates/{template.name}" in names
    for asset in (ROOT / "site_src").iterdir():
        assert f"zoo_site/site_src/{asset.name}" in names
    assert "zoo_site/cli.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "zoo-site = zoo_site.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_layout_finds_its_resources(wheel, tmp_path):
    """Unpack the wheel alone (no checkout beside it) and find the resources in it."""
    target = tmp_path / "installed"
    zipfile.ZipFile(wheel).extractall(target)
    code = "import zoo_site.resources as r; print(r.templates_dir()); print(r.site_src_dir())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    templates, site_src = out.stdout.split()
    assert templates == str(target / "zoo_site" / "templates")
    assert site_src == str(target / "zoo_site" / "site_src")
