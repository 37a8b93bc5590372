"""Publishing: the whole site is written into a staging folder, checked, and swapped in;
a failed or interrupted build leaves the previous site exactly as it was."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from zoo_site.build.report import Reporter
from zoo_site.build.summary import BuildSummary
from zoo_site.errors import BuildFailed, Problem, ZooSiteError
from zoo_site.fsutil import (
    Stage,
    bytes_digest,
    dumps_json,
    empty_trash,
    file_digest,
    link_or_copy,
    recover_aside,
    swap_in_dir,
    write_json,
    write_text,
)
from zoo_site.fsutil import staging as staged_writes
from zoo_site.records import EntryResult
from zoo_site.site.manifest import entry_manifest, media_url
from zoo_site.site.previews import PageKeys
from zoo_site.site.statemap import FOLDER, GameFiles
from zoo_site.sources.base import Entry


def check_strict(strict: bool, summary: BuildSummary, out: Path) -> None:
    """With --strict, any warning fails the build before the site is swapped in."""
    warnings = [p for p in summary.problems if p.level == "warning"]
    if strict and warnings:
        raise BuildFailed(
            f"--strict: {len(warnings)} warning(s), listed above; the site at {out} was left "
            "as it was"
        )


#: GitHub Pages' limits: a published site of at most 1 GB, files of at most 100 MB.
PAGES_SITE_LIMIT, PAGES_FILE_LIMIT = 1_000_000_000, 100_000_000


def assemble(
    out: Path,
    manifest: dict,
    built: list[tuple[Entry, EntryResult]],
    zoos: list[Path],
    media_base: str | None,
    strict: bool,
    summary: BuildSummary,
    reporter: Reporter,
    robustness: dict[str, list[dict]] | None = None,
    maps: list[GameFiles] | None = None,
) -> None:
    """Write the complete site beside `out`, then swap it in; never a half-written site.
    With --media-url the media go to `<out>-media` (swapped in first), for another host."""
    from zoo_site.site.pages import write_pages

    out = Path(out).resolve()
    for zoo in zoos:
        check_out(out, zoo)
    media_out = out.with_name(out.name + "-media") if media_base else None
    folders = [out] + ([media_out] if media_out else [])
    for folder in folders:
        recover_aside(folder)
        empty_trash(folder)
    staging = {f: f.with_name(f".{f.name}.staging") for f in folders}
    for folder in staging.values():
        shutil.rmtree(folder, ignore_errors=True)
    site, media = staging[out], staging[media_out] if media_out else staging[out]
    index = _index_of(out, summary.cache)
    kept = _kept(out, index)
    keys = PageKeys(old=kept.get("pages", {}))
    try:
        with contextlib.ExitStack() as stack:  # every folder filled, then synced once
            # unchanged files are linked from the site being replaced
            known = {out: kept.get("files")}  # the media folder's files are links
            stages = {f: stack.enter_context(staged_writes(folder, previous=f, known=known.get(f)))
                      for f, folder in staging.items()}  # fmt: skip
            _write_entries(stages[out], stages[media_out or out], built, media_base)
            _write_maps(site, media, maps or [], media_base)
            write_pages(site, manifest, robustness=robustness, keys=keys)  # manifests too
            write_text(site / ".nojekyll", "")
        for problem in pages_limits(stages[out].sizes, media_out is not None):
            summary.problems.append(problem)
            reporter.problem(problem)
        check_strict(strict, summary, out)
        if media_out:
            swap_in_dir(staging[media_out], media_out)
        if index:
            index.unlink(missing_ok=True)  # the old site's keys go with it
        swap_in_dir(site, out)
        if index:
            manifest_kept = stages[out].digests.get("manifest.json") or [None]
            write_json(index, {"manifest": manifest_kept[0],
                               "pages": keys.new, "files": stages[out].digests})  # fmt: skip
    finally:
        for folder in staging.values():
            shutil.rmtree(folder, ignore_errors=True)


def _index_of(out: Path, cache: Path | None) -> Path | None:
    """Where what the build knows of the site at `out` is kept: in the build's cache (not
    published), one file per output folder; none without a cache."""
    if cache is None:
        return None
    return cache / "pages" / f"{bytes_digest(str(out).encode())[:16]}.json"


def _kept(out: Path, index: Path | None) -> dict:
    """What the build that made the site at `out` kept of it: `pages`, its entry pages'
    keys (site/previews.py `PageKeys`), and `files`, the digests of the files it wrote
    (stage.Stage `known`), if they are that site's (its manifest.json is the one they were
    kept with); otherwise nothing, and every page is rendered and every file compared."""
    try:
        kept = json.loads(index.read_text(encoding="utf-8")) if index else {}
        if kept.get("manifest") == file_digest(out / "manifest.json"):
            files = {rel: k for rel, k in kept.get("files", {}).items()
                     if isinstance(k, list) and len(k) == 3}  # fmt: skip
            return {"pages": dict(kept["pages"]), "files": files}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return {}


def _write_entries(site: Stage, media: Stage, built: list[tuple[Entry, EntryResult]],
                   media_base: str | None) -> None:  # fmt: skip
    """Each entry's media (hard links into the cache) and its entry.json."""
    for entry, result in built:
        assert result.media is not None and result.media_dir is not None
        folder = media_url(entry, "")
        for name in result.media.files:
            media.link(os.path.join(result.media_dir, name), f"{media.root}{folder}{name}")
        for name, path in result.extra_files.items():
            media.link(path, f"{media.root}{folder}{name}")
        details = dumps_json(entry_manifest(entry, result.media, media_base)).encode()
        site.write(f"{site.root}{folder}entry.json", details)


def _write_maps(site: Path, media: Path, maps: list[GameFiles], media_base: str | None) -> None:
    """Each map of states' data and its thumbnail sheet (which goes with the media)."""
    for m in maps:
        link_or_copy(m.sheet, media / FOLDER / f"{m.game}.png")
        if media_base:
            data = json.loads(m.data.read_text(encoding="utf-8"))
            data["thumbs"]["url"] = media_base.rstrip("/") + f"/{FOLDER}/{m.game}.png"
            write_json(site / FOLDER / f"{m.game}.json", data)
        else:
            link_or_copy(m.data, site / FOLDER / f"{m.game}.json")


def pages_limits(sizes: dict[str, int], media_elsewhere: bool) -> list[Problem]:
    """Warnings where a site of these files (relative path -> bytes, as its `Stage` kept
    them) would break GitHub Pages' limits, with what to do."""
    problems = []
    for rel, size in sorted(sizes.items()):
        if size > PAGES_FILE_LIMIT:
            problems.append(Problem(rel, f"{size / 1e6:.0f} MB: GitHub Pages refuses files "
                                    "over 100 MB; host the media elsewhere with --media-url, or "
                                    "lower [rollout] steps", level="warning"))  # fmt: skip
    total = sum(sizes.values())
    if total > PAGES_SITE_LIMIT:
        hint = ("fewer entries or steps" if media_elsewhere
                else "--media-url to put the videos on a bucket or CDN")  # fmt: skip
        problems.append(Problem("site", f"{total / 1e9:.2f} GB: over GitHub Pages' 1 GB per "
                                f"site; use {hint}", level="warning"))  # fmt: skip
    return problems


def check_out(out: Path, zoo: Path) -> None:
    zoo = Path(zoo).resolve()
    if out == zoo or out in zoo.parents or out == Path.home() or out == Path(out.anchor):
        raise ZooSiteError(
            f"refusing to write the site to {out}: it would replace the zoo or a parent"
        )
    if out.exists() and any(out.iterdir()) and not (out / "manifest.json").exists():
        raise ZooSiteError(
            f"refusing to replace {out}: it is not empty and not a zoo-site build "
            "(no manifest.json); choose another --out or remove it"
        )
