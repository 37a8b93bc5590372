"""`zoo-site build`: one orchestrator that reads as the list of its stages.

config -> zoo (the demo if none) -> catalog -> per-entry work (parallel, cached) ->
manifest -> pages, assembled in a staging folder and swapped in whole.
"""

from __future__ import annotations

from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from zoo_site.build.entries import EntryTask, run_entry
from zoo_site.build.executor import cpu_limit, make_executor
from zoo_site.build.publish import assemble
from zoo_site.build.report import Reporter
from zoo_site.build.summary import BuildSummary, build_report
from zoo_site.config import Config, load_config
from zoo_site.demo import MARKER, DemoSpec, make_demo_zoo
from zoo_site.errors import BuildFailed, Problem
from zoo_site.fsutil import write_json
from zoo_site.records import EntryResult
from zoo_site.site.manifest import build_manifest
from zoo_site.site.training import training_curves
from zoo_site.sources import read_catalog
from zoo_site.sources.base import Entry
from zoo_site.sources.remote import is_remote, mirror_zoo

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
    summary = BuildSummary(out=out, cache=cache)
    catalog = read_catalog(zoo)
    summary.entries = {e.id: e for e in catalog.entries}
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
    built = [(summary.entries[r.entry_id], r) for r in summary.results if r.status != "failed"]
    if not built:
        raise BuildFailed(f"no entry could be built; the site at {out} was left as it was")
    curves, log_problems = training_curves([e for e, _ in built])
    for problem in log_problems:
        summary.problems.append(problem)
        reporter.problem(problem)
    manifest = build_manifest(config, [(e, r.media) for e, r in built if r.media], demo, curves,
                              options.media_url)  # fmt: skip
    try:
        assemble(out, manifest, built, zoo, options.media_url, options.strict, summary, reporter)
    finally:
        write_json(cache / "build-report.json", build_report(summary, zoo))
    reporter.summary(summary)
    reporter.info(f"Report: {cache / 'build-report.json'}")
    if summary.errors:
        raise BuildFailed(
            f"{summary.errors} problem(s), listed above; the site has everything else"
        )
    return summary


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


def _run_entries(
    entries: list[Entry],
    config: Config,
    cache: Path,
    jobs: int | None,
    reporter: Reporter,
    scheduler: str | None = None,
) -> list[EntryResult]:
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
