"""Building a small zoo from a test: one `zoo-site build` with a config written for it."""

from __future__ import annotations

import json
from pathlib import Path

LIGHT_ANALYSES = (
    "[saliency]\nevery = 10\n[robustness]\nlevels = [0.0, 0.1]\nepisodes = 1\nmax_steps = 30\n"
)
"""A zoo-site.toml's analyses at a test's size: saliency, the noise evaluation and the map of
states stay on (each source's networks go through them) but cost seconds, not the minutes
of their defaults (5 noise levels x 3 episodes of up to 2,500 steps, saliency of every 5th
step)."""


def build_zoo(zoo: Path, home: Path, cache: Path, tables: str, steps: int = 12, top: str = "",
              args: tuple[str, ...] = ()) -> tuple[Path, dict[str, str]]:  # fmt: skip
    """`zoo-site build -j 1 [args]` of `zoo` with `home/zoo-site.toml` (the top-level keys
    `top`, rollouts of `steps` steps, then the TOML `tables`); the site and each entry's
    status ("rendered", "reused")."""
    from typer.testing import CliRunner

    from zoo_site.cli import app

    home.mkdir(parents=True, exist_ok=True)
    config = home / "zoo-site.toml"
    config.write_text(f'zoo = "{zoo}"\nout = "site"\n{top}\n[rollout]\nsteps = {steps}\n{tables}\n')
    command = ["build", "-j", "1", "--cache-dir", str(cache), "--config", str(config), *args]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    report = json.loads((cache / "build-report.json").read_text())
    return home / "site", {e["id"]: e["status"] for e in report["entries"]}
