"""Where the built-in templates and static site files are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    # In a wheel they are copied into the package; in a checkout (or an editable install)
    # they stay at the top level beside the package.
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"zoo-site is installed without its {name}/ folder (looked in {_PKG})")


def templates_dir() -> Path:
    return _find("templates")


def site_src_dir() -> Path:
    return _find("site_src")
