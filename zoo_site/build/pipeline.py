"""`zoo-site build`: one orchestrator that reads as the list of its stages.

config -> zoo (the demo if none) -> catalog -> per-entry work (parallel, cached) ->
manifest -> pages, assembled in a staging folder and swapped in whole.
"""

from __future__ import annotations

from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from zoo_site.build.entries import EntryTask, run_entry
from zoo_site.build.executor import cpu_limit, make_executor
from zoo_site.build.publish import assemble
from zoo_site.build.report import Reporter
from zoo_site.build.summary import BuildSummary, build_report
from zoo_site.config import (
    Config,
    RobustnessConfig,
    SaliencyConfig,
    SourceConfig,
    StatesConfig,
    load_config,
)
from zoo_site.demo import MARKER, DemoSpec, make_demo_zoo
from zoo_site.errors import BuildFailed, Problem
from zoo_site.fsutil import write_json
from zoo_site.records import EntryResult
from zoo_site.site import robustness as robustness_pages
from zoo_site.site import statemap
from zoo_site.site.manifest import Labels, build_manifest
from zoo_site.site.training import training_curves
from zoo_site.sources import ZooSpec, read_zoos
from zoo_site.sources.base import Entry, SourceSettings
from zoo_site.sources.remote import is_remote, mirror_zoo

if TYPE_CHECKING:  # pragma: no cover
    from zoo_site.analysis.robustness import RobustnessSettings
    from zoo_site.analysis.saliency import SaliencySettings

CONFIG_NAME = "zoo-site.toml"


@dataclass
class BuildOptions:
    zoos: list[str] = field(default_factory=list)  # folders or http(s) URLs; none: config
    out: Path | None = None
    config: Path | None = None
    cache_dir: Path | None = None
    jobs: int | None = None
    verbose: bool = False
    scheduler: str | None = None  # a Dask scheduler address, or "local"
    strict: bool = False  # any warning fails the build
    media_url: str | None = None  # media hosted there; written beside the site in <out>-media
    base_url: str | None = None  # the site's public address, for link previews
    only: list[str] = field(default_factory=list)  # --only patterns; empty: the config's
    max_steps: int | None = None  # --max-steps; None: [rollout] max_steps


def build(options: BuildOptions, reporter: Reporter) -> BuildSummary:
    """Build the whole site; raise BuildFailed (after writing it) if any entry failed."""
    config, base, from_file = _load_config(options)
    cache = options.cache_dir or _resolve(base, config.cache_dir)
    zoos, demo = _resolve_zoos(options, config, base, cache, reporter)
    config = zoo_config(options, config, zoos, demo, from_file)
    out = options.out or _resolve(base, config.out)
    jobs = options.jobs if options.jobs is not None else config.jobs
    summary = BuildSummary(out=out, cache=cache, zoos=[z.path for z in zoos])
    catalog = read_zoos(zoos)
    entries = select(catalog.entries, config.only, "--only" if options.only else "only")
    if len(entries) < len(catalog.entries):
        reporter.info(f"Only {', '.join(config.only)}: building {len(entries)} of "
                      f"{len(catalog.entries)} entries ({len(catalog.entries) - len(entries)} "
                      "left out of the site).")  # fmt: skip
    summary.entries = {e.id: e for e in entries}
    summary.problems.extend(catalog.problems)
    for problem in catalog.problems:
        reporter.problem(problem)
    tasks = entry_tasks(catalog.entries, entries, config, cache)
    summary.results = _run_entries(tasks, jobs, reporter, options.scheduler)
    _report_cuts(summary, reporter)
    for r in summary.results:
        media = r.media
        lost = [("no activations", r.activation_error),
                ("no saliency maps", media.saliency_error if media else None),
                ("no noise robustness", media.robustness_error if media else None)]  # fmt: skip
        for what, err in lost:
            if err:
                problem = Problem(err["path"], f"{what}: {err['message']}", r.entry_id)
                summary.problems.append(problem)
                reporter.problem(problem)
    built = [(summary.entries[r.entry_id], r) for r in summary.results if r.status != "failed"]
    if not built:
        raise BuildFailed(f"no entry could be built; the site at {out} was left as it was")
    curves, log_problems = training_curves([e for e, _ in built])
    for problem in log_problems:
        summary.problems.append(problem)
        reporter.problem(problem)
    with_media = [(e, r.media) for e, r in built if r.media]
    manifest = build_manifest(config, with_media, demo, curves, options.media_url)
    noise = robustness_pages.game_data(with_media, options.media_url)
    manifest["robustness"] = robustness_pages.manifest_pages(noise)
    maps = _maps(built, config, cache, reporter)
    for problem in maps.problems:
        summary.problems.append(problem)
        reporter.problem(problem)
    manifest["maps"] = statemap.manifest_maps(maps.files)
    manifest["site"]["base_url"] = _base_url(options, config, reporter)
    try:
        assemble(out, manifest, built, summary.zoos, options.media_url, options.strict, summary,
                 reporter, noise, maps.files)  # fmt: skip
    finally:
        write_json(cache / "build-report.json", build_report(summary))
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
    single = options.zoos[0] if len(options.zoos) == 1 else None
    if single and not options.config and not is_remote(single):
        candidates.append(Path(single) / CONFIG_NAME)
    if not options.config:
        candidates.append(Path(CONFIG_NAME))
    for path in candidates:
        if path and (options.config or path.is_file()):
            return load_config(path), path.resolve().parent, True
    return Config(), Path.cwd(), False


def zoo_config(options: BuildOptions, config: Config, zoos: list[ZooSpec], demo: bool,
               from_file: bool, demo_config: Config | None = None) -> Config:  # fmt: skip
    """The config the build runs with: a single remote zoo's own file (when no --config),
    the demo's (`demo_config`, else read from the demo zoo), then --only and --max-steps."""
    one_remote = len(options.zoos) == 1 and is_remote(options.zoos[0])
    if one_remote and not options.config and (zoos[0].path / CONFIG_NAME).is_file():
        config = load_config(zoos[0].path / CONFIG_NAME)  # the zoo's own; paths stay here
    if demo:
        own = demo_config or load_config(zoos[0].path / CONFIG_NAME)
        config = _with_demo_config(config, own, from_file)
    if options.only:
        config.only = list(options.only)
    if options.max_steps is not None:
        config.rollout.max_steps = options.max_steps
    return config


def select(entries: list[Entry], patterns: list[str], option: str = "--only") -> list[Entry]:
    """The entries whose id algo/game/run/tag matches one of the shell-style `patterns`
    (all of them without patterns); a pattern that matches no entry is a ConfigError
    naming it, with a few ids it could have meant."""
    import difflib
    from fnmatch import fnmatchcase

    from zoo_site.errors import ConfigError

    if not patterns:
        return list(entries)
    ids = [e.id for e in entries]
    problems = []
    for pattern in patterns:
        if not any(fnmatchcase(i, pattern) for i in ids):
            near = difflib.get_close_matches(pattern, ids, n=3, cutoff=0.5) or ids[:3]
            like = f"; ids look like {', '.join(near)}" if near else "; the zoo has no entries"
            problems.append(
                f"{option} {pattern!r} matches none of the {len(ids)} entries "
                f"(ids: algo/game/run/tag, games without NoFrameskip-v4){like}"
            )
    if problems:
        raise ConfigError(problems)
    return [e for e in entries if any(fnmatchcase(e.id, p) for p in patterns)]


def _with_demo_config(config: Config, demo: Config, from_file: bool) -> Config:
    """The demo zoo's own config; a user's file wins, but the demo's notice always shows
    (and its analyses' settings, unless the file changes them)."""
    if not from_file:
        return demo
    config.notice = config.notice or demo.notice
    config.algos = {**demo.algos, **config.algos}
    if config.saliency == SaliencyConfig():  # the user's file does not change them
        config.saliency = demo.saliency
    if config.robustness == RobustnessConfig():
        config.robustness = demo.robustness
    if config.states == StatesConfig():
        config.states = demo.states
    return config


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _resolve_zoos(
    options: BuildOptions, config: Config, base: Path, cache: Path, reporter: Reporter
) -> tuple[list[ZooSpec], bool]:
    """The zoos of the site (--zoo, else [[sources]], else zoo =, else the demo zoo, made
    once), remote ones mirrored into the cache; and whether it is the demo."""

    def local(where: str, relative_to: Path) -> Path:
        if is_remote(where):
            return mirror_zoo(where, cache, reporter)
        return _resolve(relative_to, where)

    ep = config.episodes
    default = SourceSettings(ep.algo, ep.game, ep.label, ep.tag)
    if options.zoos:
        zoos = [ZooSpec(local(z, Path.cwd()), settings=default) for z in options.zoos]
    elif config.sources:
        zoos = [ZooSpec(local(s.path, base), s.kind, dict(s.rename), _settings(s, default))
                for s in config.sources]  # fmt: skip
    elif config.zoo:
        zoos = [ZooSpec(local(config.zoo, base), settings=default)]
    else:
        spec = DemoSpec(steps=config.demo.steps)
        reporter.info(f"No zoo given: making the demo zoo in {cache / 'demo-zoo'} (once).")
        zoos = [ZooSpec(make_demo(cache / "demo-zoo", spec, options.jobs, reporter))]
    return zoos, len(zoos) == 1 and (zoos[0].path / MARKER).is_file()


def _settings(src: SourceConfig, default: SourceSettings) -> SourceSettings:
    """A [[sources]] table's episode settings, each falling back to [episodes]."""
    return SourceSettings(src.algo or default.algo, src.game or default.game,
                          src.label or default.label, src.tag or default.tag)  # fmt: skip


def _base_url(options: BuildOptions, config: Config, reporter: Reporter) -> str | None:
    """The site's public address: --base-url, else the config's, else GitHub Pages' in
    Actions; None (and a note that link previews are off) without one."""
    from zoo_site.site import previews

    base = previews.normalise(options.base_url or config.base_url or previews.github_pages_url())
    if base is None:
        reporter.info("Link previews are off: no --base-url (or base_url in zoo-site.toml); "
                      "entry pages still forward to the viewer.")  # fmt: skip
    return base


def _maps(built: list[tuple[Entry, EntryResult]], config: Config, cache: Path,
          reporter: Reporter) -> statemap.Maps:  # fmt: skip
    """Each game's map of states ([states]), with a progress bar."""
    from zoo_site.analysis.states import MapSettings

    s = config.states
    if s.method == "off":
        return statemap.Maps([], [])
    settings = MapSettings(s.method, s.points, s.per_entry, s.perplexity, s.seed)
    games = {e.game for e, r in built if r.media and r.media.states}
    with reporter.task("maps of states", total=len(games)) as advance:
        return statemap.build_maps(built, settings, cache, advance)


def make_demo(path: Path, spec: DemoSpec, jobs: int | None, reporter: Reporter) -> Path:
    """The demo zoo at `path` (made once), with a progress bar while its agents play."""
    with reporter.task("demo zoo: playing agents", total=spec.size) as advance:
        return make_demo_zoo(path, spec, jobs, lambda _: advance())


def chosen(entries: list[Entry], config: Config, tags: list[str], only: list[str]) -> list[Entry]:
    """The entries with a model an analysis runs on: those whose tag is in `tags` ("*":
    any), else (no tags given) every entry if `only` is given, else the last tag of each
    run in display order; then, with `only`, those whose id algo/game/run/tag matches one
    of its shell-style patterns."""
    from fnmatch import fnmatchcase

    with_model = [e for e in entries if e.model is not None]
    if "*" in tags or (not tags and only):
        picked = with_model
    elif tags:
        picked = [e for e in with_model if e.tag in tags]
    else:
        key = Labels(config, entries).tag_key
        last: dict[tuple[str, str, str, int], Entry] = {}
        for e in with_model:
            run = (e.source, e.algo, e.game, e.run)
            if run not in last or key(e.tag) > key(last[run].tag):
                last[run] = e
        picked = list(last.values())
    return [e for e in picked if not only or any(fnmatchcase(e.id, p) for p in only)]


def saliency_plan(entries: list[Entry], config: Config) -> dict[str, SaliencySettings]:
    """The saliency settings of each entry that gets maps ([saliency]): entries with a
    model whose id matches a pattern of `only`, or by default the last tag of each run."""
    from zoo_site.analysis.saliency import SaliencySettings

    s = config.saliency
    if s.method == "off":
        return {}
    settings = SaliencySettings(s.method, s.stride, s.radius, s.blur, s.every)  # type: ignore[arg-type]
    return {e.id: settings for e in chosen(entries, config, [], s.only)}


def robustness_plan(entries: list[Entry], config: Config) -> dict[str, RobustnessSettings]:
    """The noise-robustness settings of each entry evaluated ([robustness])."""
    from zoo_site.analysis.robustness import RobustnessSettings

    r = config.robustness
    if not r.levels:
        return {}
    settings = RobustnessSettings(tuple(r.levels), r.episodes, r.max_steps, r.seed)
    return {e.id: settings for e in chosen(entries, config, r.tags, r.only)}


def entry_tasks(catalog: list[Entry], entries: list[Entry], config: Config,
                cache: Path) -> list[EntryTask]:  # fmt: skip
    """One EntryTask per entry of `entries`; which get saliency maps and a noise evaluation
    is chosen over the whole `catalog` (a run's last checkpoint stays its last when --only
    leaves it out), so an entry's work, and its cache keys, do not depend on --only."""
    saliency = saliency_plan(catalog, config)
    noise = robustness_plan(catalog, config)
    return [
        EntryTask(
            e,
            cache,
            config.render,
            config.rollout,
            config.algos.get(e.algo),
            saliency.get(e.id),
            noise.get(e.id),
            config.robustness.video,
            config.states.per_entry if config.states.method != "off" else 0,
            e.id in saliency or _with_activations(e, config.render.activations_only),
        )  # fmt: skip
        for e in entries
    ]


def _with_activations(entry: Entry, only: list[str]) -> bool:
    """Whether [render] activations_only (empty: all) chooses the entry's activations."""
    from fnmatch import fnmatchcase

    return not only or any(fnmatchcase(entry.id, p) for p in only)


def _run_entries(tasks: list[EntryTask], jobs: int | None, reporter: Reporter,
                 scheduler: str | None = None) -> list[EntryResult]:  # fmt: skip
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


def _report_cuts(summary: BuildSummary, reporter: Reporter) -> None:
    """One line for the rollouts cut by [rollout] max_steps, and one per cut whose episodes
    cannot all be told (build-report.json has every cut)."""
    cuts = summary.cuts()
    if not cuts:
        return
    steps = sorted({c["steps"] for c in cuts.values()})
    reporter.info(f"{len(cuts)} rollout(s) cut to their first {'/'.join(map(str, steps))} steps "
                  "([rollout] max_steps); episode returns only of episodes that ended "
                  "within them.")  # fmt: skip
    for entry_id, cut in sorted(cuts.items()):
        if cut.get("note"):
            reporter.info(f"  {entry_id}: {cut['note']}")
