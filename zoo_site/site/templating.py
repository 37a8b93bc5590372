"""The Jinja2 environment every page is rendered in, and its filters (a module of its own
so that entry_pages.py's worker processes load it without the rest of pages.py)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from zoo_site.resources import templates_dir
from zoo_site.site import charts


def make_environment(template_override: Path | None = None) -> jinja2.Environment:
    loaders = [jinja2.FileSystemLoader(templates_dir())]
    if template_override is not None:
        loaders.insert(0, jinja2.FileSystemLoader(template_override))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # one build renders 25,500 entry pages: no stat of the templates each
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = format_number
    env.filters["protocol_short"] = protocol_short
    env.filters["steps"] = steps_label
    return env


def format_number(x: float) -> str:
    """1234.0 -> '1,234'; 12.5 -> '12.5' (at most two decimals, like the viewer's JS)."""
    return f"{x:,.2f}".rstrip("0").rstrip(".")


def protocol_short(protocol: dict | None) -> str:
    """The protocol's label up to its first ':' ('modern: sticky actions…' -> 'modern');
    '' when there is none."""
    return protocol["label"].split(":")[0].strip() if protocol else ""


def steps_label(step: int) -> str:
    """50000000 -> '50M agent steps' (one agent step is 4 frames in Atari)."""
    return f"{charts.short_steps(step)} agent steps"
