"""Names become paths and URLs: only plain, safe names are accepted."""

from __future__ import annotations

import re

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str) -> str | None:
    """Return why `name` is not a safe path/URL component, or None when it is."""
    if not isinstance(name, str) or not name:
        return "is empty"
    if ".." in name:
        return f"{name!r} contains '..'"
    if _SAFE.fullmatch(name):
        return None
    bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c in "_.-"))})
    shown = ", ".join(repr(c) for c in bad) or "a leading '.', '_' or '-'"
    if len(name) > 64:
        return f"{name[:20]!r}… is longer than 64 characters"
    return f"{name!r} is not a plain name (letters, digits, '_', '.', '-'; found {shown})"
