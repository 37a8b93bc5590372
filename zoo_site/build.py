"""`zoo-site build`: one orchestrator that reads as the list of its stages.

config -> zoo (the demo if none) -> catalog -> per-entry work (parallel, cached) ->
manifest -> pages, assembled in a staging folder and swapped in whole.
"""

from __future__ import annotations

import shutil
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

from zoo_site import __version__
from zoo_site.catalog import Entry, read_catalog
from zoo_site.config import Config, load_config
from zoo_site.demo import MARKER, DemoSpec, make_demo_zoo
from zoo_site.entries import EntryResult, EntryTask, run_entry
from zoo_site.errors import BuildFailed, Problem, ZooSiteError
from zoo_site.executor import cpu_limit, make_executor
from zoo_site.fsutil import link_or_copy, recover_aside, swap_in_dir, write_json, write_text
from zoo_site.manifest import build_manifest, entry_manifest, media_url
from zoo_site.remote import is_remote, mirror_zoo
from zoo_site.report import Reporter
from zoo_site.training import training_curves

CONFIG_NAME = "zoo-site.toml"


@dataclass
class BuildOptions:
    zoo: str | Path | None = None  # a folder, or an http(s) URL
    out: Path | None = None
    config: Path | None = None
    cache_dir: Path | None = None
    jobs: int | None = None
    verbose: bool = False
    scheduler: str | None = None  # a Dask scheduler address, or "local"
    strict: bool = False  # any warning fails the build
    media_url: str | None = None  # media hosted there; written beside the site in <out>-media


@dataclass
class BuildSummary:
    out: Path
    results: list[EntryResult] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def errors(self) -> int:
        return self.count("failed") + sum(p.level == "error" for p in self.problems)


def build(options: BuildOptions, reporter: Reporter) -> BuildSummary:
    """Build the whole site; raise BuildFailed (after writing it) if any entry failed."""
    config, base, from_file = _load_config(options)
    cache = options.cache_dir or _resolve(base, config.cache_dir)
    zoo, demo = _resolve_zoo(options, config, base, cache, reporter)
    remote_config = zoo / CONFIG_NAME
    if is_remote(options.zoo) and not options.config and remote_config.is_file():
        config = load_config(remote_config)  # the zoo's own; paths stay relative to here
    if demo:
        config = _with_demo_config(config, zoo, from_file)
    out = options.out or _resolve(base, config.out)
    jobs = options.jobs if options.jobs is not None else config.jobs
    summary = BuildSummary(out=out)
    catalog = read_catalog(zoo)
    summary.problems.extend(catalog.problems)
    for problem in catalog.problems:
        reporter.problem(problem)
    summary.results = _run_entries(catalog.entries, config, cache, jobs, reporter,
                                   options.scheduler)  # fmt: skip
    for r in summary.results:
        if r.activation_error:
            err = r.activation_error
            problem = Problem(err["path"], f"no activations: {err['message']}", r.entry_id)
            summary.problems.append(problem)
            reporter.problem(problem)
    by_id = {e.id: e for e in catalog.entries}
    built = [(by_id[r.entry_id], r) for r in summary.results if r.status != "failed"]
    if not built:
        raise BuildFailed(f"no entry could be built; the site at {out} was left as it was")
    curves, log_problems = training_curves([e for e, _ in built])
    for problem in log_problems:
        summary.problems.append(problem)
        reporter.problem(problem)
    manifest = build_manifest(config, [(e, r.info) for e, r in built], demo, curves,
                              options.media_url)  # fmt: skip
    try:
        _assemble(out, manifest, built, zoo, options, summary, reporter)
    finally:
        write_json(cache / "build-report.json", build_report(summary, zoo))
    reporter.summary(summary)
    reporter.info(f"Report: {cache / 'build-report.json'}")
    if summary.errors:
        raise BuildFailed(
            f"{summary.errors} problem(s), listed above; the site has everything else"
        )
    return summary


def _check_strict(options: BuildOptions, summary: BuildSummary, out: Path) -> None:
    warnings = [p for p in summary.problems if p.level == "warning"]
    if options.strict and warnings:
        raise BuildFailed(
            f"--strict: {len(warnings)} warning(s), listed above; the site at {out} was left "
            "as it was"
        )


def build_report(summary: BuildSummary, zoo: Path) -> dict:
    """build-report.json: every entry rendered, reused or failed (with why), and every
    problem; paths relative to the zoo, so the report can be published with the site."""

    def rel(path: str | None) -> str | None:
        if not path:
            return path
        try:
            return str(Path(path).resolve().relative_to(Path(zoo).resolve()))
        except ValueError:
            return Path(path).name

    entries = [{"id": r.entry_id, "status": r.status, "file": rel(r.path) if r.error else None,
                "reason": r.error or None, "seconds": round(r.seconds, 3)}
               for r in summary.results]  # fmt: skip
    problems = [{"level": p.level, "file": rel(p.path), "entry": p.entry, "message": p.message}
                for p in summary.problems]  # fmt: skip
    counts = {k: summary.count(k) for k in ("rendered", "reused", "failed")}
    warnings = sum(p.level == "warning" for p in summary.problems)
    return {"generator": f"zoo-site {__version__}", "counts": counts, "errors": summary.errors,
            "warnings": warnings, "entries": entries, "problems": problems}  # fmt: skip


def _load_config(options: BuildOptions) -> tuple[Config, Path, bool]:
    """The config (explicit file, else the zoo's, else ./zoo-site.toml), its folder, and
    whether it came from a file."""
    candidates = [options.config] if options.config else []
    if options.zoo and not options.config and not is_remote(options.zoo):
        candidates.append(Path(options.zoo) / CONFIG_NAME)
    if not options.config:
        candidates.append(Path(CONFIG_NAME))
    for path in candidates:
        if path and (options.config or path.is_file()):
            return load_config(path), path.resolve().parent, True
    return Config(), Path.cwd(), False


def _with_demo_config(config: Config, zoo: Path, from_file: bool) -> Config:
    """The demo zoo's own config; a user's file wins, but the demo's notice always shows."""
    demo = load_config(zoo / CONFIG_NAME)
    if not from_file:
        return demo
    config.notice = config.notice or demo.notice
    config.algos = {**demo.algos, **config.algos}
    return config


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _resolve_zoo(options, config, base, cache, reporter) -> tuple[Path, bool]:
    if is_remote(options.zoo):
        zoo = mirror_zoo(str(options.zoo), cache, reporter)
    elif options.zoo:
        zoo = Path(options.zoo)
    elif config.zoo:
        zoo = _resolve(base, config.zoo)
    else:
        spec = DemoSpec(steps=config.demo.steps)
        reporter.info(f"No zoo given: making the demo zoo in {cache / 'demo-zoo'} (once).")
        zoo = make_demo(cache / "demo-zoo", spec, options.jobs, reporter)
    return zoo, (zoo / MARKER).is_file()


def make_demo(path: Path, spec: DemoSpec, jobs: int | None, reporter: Reporter) -> Path:
    """The demo zoo at `path` (made once), with a progress bar while its agents play."""
    with reporter.task("demo zoo: playing agents", total=spec.size) as advance:
        return make_demo_zoo(path, spec, jobs, lambda _: advance())


def _run_entries(entries: list[Entry], config: Config, cache: Path, jobs, reporter,
                 scheduler: str | None = None):  # fmt: skip
    tasks = [
        EntryTask(e, cache, config.render, config.rollout, config.algos.get(e.algo))
        for e in entries
    ]
    results: list[EntryResult] = []
    limit = cpu_limit(None if scheduler else jobs)  # a Dask cluster's workers are its own
    with limit, reporter.entries(len(tasks)) as track:
        pool = make_executor(jobs, len(tasks), scheduler)
        try:
            futures = [pool.submit(run_entry, t) for t in tasks]
            for future in as_completed(futures):
                result = future.result()
                results.append(result)
                track(result)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    return sorted(results, key=lambda r: r.entry_id)


#: GitHub Pages' limits: a published site of at most 1 GB, files of at most 100 MB.
PAGES_SITE_LIMIT, PAGES_FILE_LIMIT = 1_000_000_000, 100_000_000


def _assemble(
    out: Path,
    manifest: dict,
    built: list[tuple[Entry, EntryResult]],
    zoo: Path,
    options: BuildOptions,
    summary: BuildSummary,
    reporter: Reporter,
) -> None:
    """Write the complete site beside `out`, then swap it in; never a half-written site.
    With --media-url the media go to `<out>-media` (swapped in first), for another host."""
    from zoo_site.site import write_pages

    out = Path(out).resolve()
    _check_out(out, zoo)
    media_out = out.with_name(out.name + "-media") if options.media_url else None
    folders = [out] + ([media_out] if media_out else [])
    for folder in folders:
        recover_aside(folder)
    staging = {f: f.with_name(f".{f.name}.staging") for f in folders}
    for folder in staging.values():
        shutil.rmtree(folder, ignore_errors=True)
    site, media = staging[out], staging[media_out] if media_out else staging[out]
    try:
        for entry, result in built:
            for name in result.info["files"]:
                link_or_copy(result.media_dir / name, media / media_url(entry, name))
            details = entry_manifest(entry, result.info, options.media_url)
            write_json(site / media_url(entry, "entry.json"), details)
        write_json(site / "manifest.json", manifest)
        write_pages(site, manifest)
        write_text(site / ".nojekyll", "")
        for problem in _pages_limits(site, media_out is not None):
            summary.problems.append(problem)
            reporter.problem(problem)
        _check_strict(options, summary, out)
        if media_out:
            swap_in_dir(staging[media_out], media_out)
        swap_in_dir(site, out)
    finally:
        for folder in staging.values():
            shutil.rmtree(folder, ignore_errors=True)


def _pages_limits(site: Path, media_elsewhere: bool) -> list[Problem]:
    """Warnings where the site would break GitHub Pages' limits, with what to do."""
    sizes = {p: p.stat().st_size for p in site.rglob("*") if p.is_file()}
    problems = []
    for path, size in sorted(sizes.items()):
        if size > PAGES_FILE_LIMIT:
            rel = path.relative_to(site)
            problems.append(Problem(str(rel), f"{size / 1e6:.0f} MB: GitHub Pages refuses files "
                                    "over 100 MB; host the media elsewhere with --media-url, or "
                                    "lower [rollout] steps", level="warning"))  # fmt: skip
    total = sum(sizes.values())
    if total > PAGES_SITE_LIMIT:
        hint = ("fewer entries or steps" if media_elsewhere
                else "--media-url to put the videos on a bucket or CDN")  # fmt: skip
        problems.append(Problem("site", f"{total / 1e9:.2f} GB: over GitHub Pages' 1 GB per "
                                f"site; use {hint}", level="warning"))  # fmt: skip
    return problems


def _check_out(out: Path, zoo: Path) -> None:
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
