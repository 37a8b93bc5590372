"""What a build did: the per-entry results and problems, and build-report.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo_site import __version__
from zoo_site.errors import Problem
from zoo_site.records import EntryResult
from zoo_site.sources.base import Entry


@dataclass
class BuildSummary:
    out: Path
    results: list[EntryResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    entries: dict[str, Entry] = field(default_factory=dict)
    cache: Path | None = None
    zoos: list[Path] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def errors(self) -> int:
        return self.count("failed") + sum(p.level == "error" for p in self.problems)


def build_report(summary: BuildSummary) -> dict[str, Any]:
    """build-report.json: every entry rendered, reused or failed (with why), the files it
    came from (model, rollout: the zoo's, or the one zoo-site played, in the cache), and
    every problem; zoo paths relative to the zoo, played rollouts to the cache."""

    def rel(path: str | None) -> str | None:
        if not path:
            return path
        for zoo in summary.zoos:
            try:
                return str(Path(path).resolve().relative_to(Path(zoo).resolve()))
            except ValueError:
                continue
        return Path(path).name

    entries = [{"id": r.entry_id, "status": r.status, "file": rel(r.path) if r.error else None,
                "reason": r.error or None, "seconds": round(r.seconds, 3),
                **_sources(summary.entries.get(r.entry_id), r, summary.cache)}
               for r in summary.results]  # fmt: skip
    problems = [{"level": p.level, "file": rel(p.path), "entry": p.entry, "message": p.message}
                for p in summary.problems]  # fmt: skip
    counts = {k: summary.count(k) for k in ("rendered", "reused", "failed")}
    warnings = sum(p.level == "warning" for p in summary.problems)
    return {"generator": f"zoo-site {__version__}", "counts": counts, "errors": summary.errors,
            "warnings": warnings, "entries": entries, "problems": problems}  # fmt: skip


def _sources(entry: Entry | None, result: EntryResult, cache: Path | None) -> dict[str, Any]:
    """The model and rollout files behind an entry; a played rollout as a cache path."""
    if entry is None:
        return {}
    model = entry.relative(entry.model.path) if entry.model else None
    if entry.rollout is not None:
        rollout: dict[str, Any] = {"source": "zoo", "file": entry.relative(entry.rollout)}
    elif result.played is not None and result.status != "failed":
        played = result.played
        if cache is not None:
            try:
                played = played.resolve().relative_to(cache.resolve())
            except ValueError:
                pass
        rollout = {
            "source": "played",
            "cache_file": played.as_posix(),
            "protocol": result.media.rollout["protocol"] if result.media else None,
        }
    else:
        rollout = {"source": None}
    return {"model": model, "rollout": rollout}
