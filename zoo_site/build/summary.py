"""What a build did: the per-entry results and problems, and build-report.json."""

from __future__ import annotations

import json
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

    _work: dict[str, dict[str, Any] | None] = field(default_factory=dict, repr=False)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    def work(self, result: EntryResult) -> dict[str, Any] | None:
        """What rendering the entry's media took (`entries.work_path`: steps, CPU-seconds
        per stage, bytes, the rollout's cut), when it was rendered; None if unknown (media
        rendered before zoo-site kept it, or a failed entry)."""
        from zoo_site.build.entries import work_path

        if result.media_dir is None or self.cache is None:
            return None
        if result.entry_id not in self._work:
            try:
                path = work_path(self.cache, result.media_dir.name)
                self._work[result.entry_id] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self._work[result.entry_id] = None
        return self._work[result.entry_id]

    def cuts(self) -> dict[str, dict[str, Any]]:
        """Each built entry whose rollout [rollout] max_steps cut: what the cut did."""
        out = {}
        for r in self.results:
            cut = (self.work(r) or {}).get("cut")
            if cut:
                out[r.entry_id] = cut
        return out

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
                **_sources(summary.entries.get(r.entry_id), r, summary.cache),
                **_work(r, summary.work(r))}
               for r in summary.results]  # fmt: skip
    problems = [{"level": p.level, "file": rel(p.path), "entry": p.entry, "message": p.message}
                for p in summary.problems]  # fmt: skip
    counts = {k: summary.count(k) for k in ("rendered", "reused", "failed")}
    warnings = sum(p.level == "warning" for p in summary.problems)
    return {"generator": f"zoo-site {__version__}", "counts": counts, "errors": summary.errors,
            "warnings": warnings, "entries": entries, "problems": problems}  # fmt: skip


def _work(result: EntryResult, work: dict[str, Any] | None) -> dict[str, Any]:
    """An entry's steps (frames) and media key; with what rendering them took, its
    CPU-seconds per stage (play, render, saliency: measured when the media were rendered,
    in this build or an earlier one), the bytes of its published media (the saliency
    maps' apart) and its rollout's cut. `zoo-site plan` estimates from these."""
    if result.media is None or result.media_dir is None:
        return {}
    row: dict[str, Any] = {"steps": result.media.frames, "media": result.media_dir.name}
    if work is not None:
        keys = ("cpu", "bytes", "saliency_bytes", "saliency_steps", "saliency_method",
                "activations", "cut")  # fmt: skip
        row.update({k: work.get(k) for k in keys})
    return row


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
