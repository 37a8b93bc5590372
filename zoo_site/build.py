"""`zoo-site build`: one orchestrator that reads as the list of its stages.

config -> zoo (the demo if none) -> catalog -> per-entry work (parallel, cached) ->
manifest -> pages, assembled in a staging folder and swapped in whole.
"""

from __future__ import annotations

import shutil
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

from zoo_site.catalog import Entry, read_catalog
from zoo_site.config import Config, load_config
from zoo_site.demo import MARKER, DemoSpec, make_demo_zoo
from zoo_site.entries import EntryResult, EntryTask, run_entry
from zoo_site.errors import BuildFailed, Problem, ZooSiteError
from zoo_site.executor import make_executor
from zoo_site.fsutil import link_or_copy, recover_aside, swap_in_dir, write_json, write_text
from zoo_site.manifest import build_manifest, entry_manifest, media_url
from zoo_site.report import Reporter
from zoo_site.training import training_curves

CONFIG_NAME = "zoo-site.toml"


@dataclass
class BuildOptions:
    zoo: Path | None = None
    out: Path | None = None
    config: Path | None = None
    cache_dir: Path | None = None
    jobs: int | None = None
    verbose: bool = False


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
    if demo:
        config = _with_demo_config(config, zoo, from_file)
    out = options.out or _resolve(base, config.out)
    jobs = options.jobs if options.jobs is not None else config.jobs
    summary = BuildSummary(out=out)
    catalog = read_catalog(zoo)
    summary.problems.extend(catalog.problems)
    for problem in catalog.problems:
        reporter.problem(problem)
    summary.results = _run_entries(catalog.entries, config, cache, jobs, reporter)
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
    manifest = build_manifest(config, [(e, r.info) for e, r in built], demo, curves)
    _assemble(out, manifest, built, zoo)
    reporter.summary(summary)
    if summary.errors:
        raise BuildFailed(
            f"{summary.errors} problem(s), listed above; the site has everything else"
        )
    return summary


def _load_config(options: BuildOptions) -> tuple[Config, Path, bool]:
    """The config (explicit file, else the zoo's, else ./zoo-site.toml), its folder, and
    whether it came from a file."""
    candidates = [options.config] if options.config else []
    if options.zoo and not options.config:
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
    if options.zoo:
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


def _run_entries(entries: list[Entry], config: Config, cache: Path, jobs, reporter):
    tasks = [
        EntryTask(e, cache, config.render, config.rollout, config.algos.get(e.algo))
        for e in entries
    ]
    results: list[EntryResult] = []
    with reporter.entries(len(tasks)) as track:
        pool = make_executor(jobs, len(tasks))
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


def _assemble(out: Path, manifest: dict, built: list[tuple[Entry, EntryResult]], zoo: Path) -> None:
    """Write the complete site beside `out`, then swap it in; never a half-written site."""
    from zoo_site.site import write_pages

    out = Path(out).resolve()
    _check_out(out, zoo)
    recover_aside(out)
    staging = out.with_name(f".{out.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for entry, result in built:
            for name in result.info["files"]:
                link_or_copy(result.media_dir / name, staging / media_url(entry, name))
            write_json(staging / media_url(entry, "entry.json"), entry_manifest(entry, result.info))
        write_json(staging / "manifest.json", manifest)
        write_pages(staging, manifest)
        write_text(staging / ".nojekyll", "")
        swap_in_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
