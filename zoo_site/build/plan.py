"""`zoo-site plan` and `zoo-site build --dry-run`: what a build would do, before it does any.

The plan reads the config and the catalog as the build does, keeps the entries --only
keeps, and computes each entry's cache keys as `build/entries.py` does (`_model_key`,
`_rollout_source`, `rollout_key`, `media_key`, `robustness_key`) without loading a
network, playing or rendering: an entry whose `<cache>/media/<key>/result.json` is missing
needs rendering, one whose played rollout is missing too needs playing, one whose noise
evaluation is missing needs that. Steps come from each zoo rollout's header (numpy's
format reader on its frames member) or from [rollout] steps and max_steps.

It writes nothing: no site, no cache folder, no digest records (a file whose digest the
cache does not remember is hashed, as the build would, and forgotten); it does not make the
demo zoo (it plans the one the build would make) and does not download a remote zoo (it
plans the mirror in the cache, if there is one). Times and bytes are estimated from the
per-step figures of the last build-report.json in the cache, else from defaults measured
on this project's machine (docs/huge-zoos.md#the-figures).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo_site.build.entries import (
    EntryTask,
    _model_key,
    _noisy_level,
    _played_path,
    _read_key,
    _rollout_source,
    media_key,
    played_steps,
    robustness_key,
    rollout_header,
    rollout_key,
)
from zoo_site.build.pipeline import (
    CONFIG_NAME,
    BuildOptions,
    _load_config,
    _resolve,
    _settings,
    entry_tasks,
    select,
    zoo_config,
)
from zoo_site.config import Config, load_config, loads_config
from zoo_site.errors import EntryError
from zoo_site.fsutil import file_digest
from zoo_site.sources import ZooSpec, read_zoos
from zoo_site.sources.base import Entry, ModelRef, SourceSettings
from zoo_site.sources.remote import META_DIR, is_remote, mirror_folder


@dataclass(frozen=True)
class Figure:
    """One per-step figure of the estimate, and where it came from."""

    value: float
    unit: str
    source: str

    def as_json(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "source": self.source}


_PERF = "default: docs/performance.md"
_HERE = "default: measured on this project's 2-core machine (docs/huge-zoos.md)"

#: What the plan assumes without a build to measure (docs/huge-zoos.md#the-figures).
DEFAULTS: dict[str, Figure] = {
    "render": Figure(8.35e-3, "CPU-s per step, with activations",
                     f"{_PERF} (a 2,500-step entry, the worker and its 2 encoders)"),
    "render_gameplay": Figure(1.3e-3, "CPU-s per step, gameplay only", _HERE),
    "play": Figure(3.1e-3, "CPU-s per played step", _HERE),
    "saliency_perturbation": Figure(0.159, "CPU-s per map", f"{_PERF} (0.0795 s on 2 cores)"),
    "saliency_gradient": Figure(3.1e-3, "CPU-s per map", f"{_PERF} (1.56 ms on 2 cores)"),
    "robustness": Figure(1.4e-3, "CPU-s per evaluated step", _HERE),
    "bytes": Figure(6039.0, "bytes per step, with activations",
                    f"{_PERF} (the demo zoo's site, per entry-step)"),
    "bytes_gameplay": Figure(440.0, "bytes per step, gameplay only",
                             f"{_PERF} (gameplay 410, posters and entry.json)"),
    "demo_training": Figure(105.0, "CPU-s per trained demo network",
                            "default: README.md (4 networks in about 3.5 min on 2 cores)"),
}  # fmt: skip

#: The map of states: seconds for one view's PCA + t-SNE at 800 and at 3,000 points, and
#: for PCA alone (docs/performance.md#the-map-of-states); run after the entries, serially.
TSNE_800, TSNE_3000, PCA_ONLY = 2.21, 12.84, 0.26


@dataclass
class EntryPlan:
    """What the build would do for one entry."""

    id: str
    game: str
    steps: int | None
    """Steps the site shows (after [rollout] max_steps); None when the rollout is unreadable."""
    activations: bool
    render: bool = True
    play: bool = False
    saliency_maps: int = 0
    """Maps to compute (only when rendering)."""
    saliency_method: str | None = None
    saliency_bytes: int = 0
    robustness_steps: int = 0
    """Steps the noise evaluation plays at most (when it is missing from the cache)."""
    media: str | None = None
    """The media key, where it was computed."""
    ram: bool = True
    error: str | None = None
    """Why the build would fail this entry, as far as the plan can tell."""


@dataclass
class Plan:
    """The whole plan: the entries, what each needs, and the figures for the estimate."""

    zoos: list[str]
    cache: Path
    out: Path
    config: Config
    entries: list[EntryPlan] = field(default_factory=list)
    catalog: int = 0
    left_out: int = 0
    problems: tuple[int, int] = (0, 0)
    """The catalog's (errors, warnings)."""
    notes: list[str] = field(default_factory=list)
    figures: dict[str, Figure] = field(default_factory=dict)
    demo: dict[str, Any] | None = None
    """With no zoo: the demo zoo, "cached" or what making it would take."""
    known_bytes: dict[str, int] = field(default_factory=dict)
    """Bytes of entries whose media the last build's report lists with the same key."""
    cores_here: int = 1
    cores: list[int] = field(default_factory=lambda: [16, 64])

    # --- the estimate -------------------------------------------------------------------

    def cpu(self) -> dict[str, float]:
        """CPU-seconds per stage, all entries together."""
        f = self.figures
        out = {"play": 0.0, "render": 0.0, "saliency": 0.0, "robustness": 0.0, "demo": 0.0}
        for e in self.entries:
            for stage, seconds in self._entry_cpu(e).items():
                out[stage] += seconds
        if self.demo and self.demo.get("make"):
            make = self.demo["make"]
            out["demo"] = (make["rollouts"] * make["steps"] * f["play"].value
                           + make["train"] * f["demo_training"].value)  # fmt: skip
        return out

    def _entry_cpu(self, e: EntryPlan) -> dict[str, float]:
        f, steps = self.figures, e.steps or 0
        out = {}
        if e.render and not e.error:
            out["render"] = steps * f["render" if e.activations else "render_gameplay"].value
            if e.play:
                out["play"] = steps * f["play"].value
            if e.saliency_maps and e.saliency_method:
                out["saliency"] = e.saliency_maps * f[f"saliency_{e.saliency_method}"].value
        if e.robustness_steps:
            out["robustness"] = e.robustness_steps * f["robustness"].value
        return out

    def map_seconds(self) -> float:
        """The maps of states to make again (games with an entry to render), serially."""
        s = self.config.states
        if s.method == "off":
            return 0.0
        games: dict[str, list[EntryPlan]] = {}
        for e in self.entries:
            games.setdefault(e.game, []).append(e)
        total = 0.0
        for plans in games.values():
            if not any(e.render for e in plans):
                continue
            points = min(s.points, sum(min(s.per_entry, e.steps or 0) for e in plans))
            views = any(e.activations for e in plans) + any(e.ram for e in plans)
            if s.method == "pca":
                total += views * PCA_ONLY
            else:
                slope = (TSNE_3000 - TSNE_800) / (3000 - 800)
                total += views * max(PCA_ONLY, TSNE_800 + (points - 800) * slope)
        return total

    def seconds(self, cores: int) -> float:
        """The build's time on `cores` cores kept busy: the CPU spread over them, but never
        less than its longest entry; then the maps of states, one after another."""
        longest = max((sum(self._entry_cpu(e).values()) for e in self.entries), default=0.0)
        if self.demo and self.demo.get("make"):
            longest = max(longest, self.figures["demo_training"].value)
        return max(sum(self.cpu().values()) / max(cores, 1), longest) + self.map_seconds()

    def site_bytes(self) -> int:
        """The site's media: what the last build measured for entries it rendered with the
        same key, else steps x bytes per step; plus each entry's saliency maps."""
        total = 0.0
        for e in self.entries:
            if e.media is not None and e.id in self.known_bytes:
                total += self.known_bytes[e.id]
                continue
            per_step = self.figures["bytes" if e.activations else "bytes_gameplay"].value
            total += (e.steps or 0) * per_step + e.saliency_bytes
        return int(total)

    def counts(self) -> dict[str, Any]:
        todo = [e for e in self.entries if e.render]
        return {
            "entries": len(self.entries),
            "steps": sum(e.steps or 0 for e in self.entries),
            "catalog": self.catalog,
            "left_out": self.left_out,
            "render": len(todo),
            "render_steps": sum(e.steps or 0 for e in todo),
            "activations": sum(e.activations for e in todo),
            "play": sum(e.play for e in self.entries),
            "play_steps": sum(e.steps or 0 for e in self.entries if e.play),
            "saliency": sum(bool(e.saliency_maps) for e in todo),
            "saliency_maps": sum(e.saliency_maps for e in todo),
            "robustness": sum(bool(e.robustness_steps) for e in self.entries),
            "robustness_steps": sum(e.robustness_steps for e in self.entries),
            "unreadable": sum(e.error is not None for e in self.entries),
            "games_to_map": len({e.game for e in todo if e.activations or e.ram})
            if self.config.states.method != "off"
            else 0,
        }

    def as_json(self) -> dict[str, Any]:
        cores = sorted({self.cores_here, *self.cores})
        return {
            "zoos": self.zoos,
            "demo": None
            if self.demo is None
            else {k: v for k, v in self.demo.items() if k != "spec"},
            "cache": str(self.cache),
            "out": str(self.out),
            "max_steps": self.config.rollout.max_steps,
            "only": list(self.config.only),
            "counts": self.counts(),
            "problems": {"errors": self.problems[0], "warnings": self.problems[1]},
            "cpu_seconds": {k: round(v, 1) for k, v in self.cpu().items()},
            "map_seconds": round(self.map_seconds(), 1),
            "cores_here": self.cores_here,
            "seconds": {str(n): round(self.seconds(n), 1) for n in cores},
            "site_bytes": self.site_bytes(),
            "figures": {k: v.as_json() for k, v in self.figures.items()},
            "notes": list(self.notes),
        }


# --- making the plan ----------------------------------------------------------------------


def make_plan(options: BuildOptions, cores: list[int] | None = None) -> Plan:
    """The plan of `zoo-site build` with these options; writes nothing."""
    config, base, from_file = _load_config(options)
    cache = options.cache_dir or _resolve(base, config.cache_dir)
    zoos, descriptions, notes, demo = _plan_zoos(options, config, base, cache)
    demo_config = None
    if demo is not None:
        demo_config = _demo_config(Path(demo["path"]), demo)
    config = zoo_config(options, config, zoos, demo is not None, from_file, demo_config)
    out = options.out or _resolve(base, config.out)
    jobs = options.jobs if options.jobs is not None else config.jobs
    plan = Plan(zoos=descriptions, cache=cache, out=out, config=config, notes=notes,
                cores_here=_cores_here(jobs), cores=list(cores or [16, 64]))  # fmt: skip
    plan.demo = demo
    catalog: list[Entry] = []
    if demo is not None and demo.get("make"):
        catalog = _demo_entries(cache / "demo-zoo", demo["spec"])
    elif zoos:
        read = read_zoos(zoos)
        catalog = read.entries
        plan.problems = (sum(p.level == "error" for p in read.problems),
                         sum(p.level == "warning" for p in read.problems))  # fmt: skip
    entries = select(catalog, config.only, "--only" if options.only else "only")
    plan.catalog, plan.left_out = len(catalog), len(catalog) - len(entries)
    tasks = entry_tasks(catalog, entries, config, cache)
    virtual = demo is not None and bool(demo.get("make"))
    state = _CacheState(cache, virtual)
    plan.entries = [_plan_entry(t, state) for t in tasks]
    plan.figures, plan.known_bytes = _figures(cache, plan.entries)
    if options.scheduler:
        plan.notes.append("--scheduler: on a Dask cluster, read the time for its cores.")
    if plan.counts()["unreadable"]:
        plan.notes.append(f"{plan.counts()['unreadable']} rollout(s) cannot be read: those "
                          "entries would fail (the build names each file).")  # fmt: skip
    return plan


def _cores_here(jobs: int | None) -> int:
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = allowed or os.cpu_count() or 1
    return min(jobs, cores) if jobs else cores


def _plan_zoos(
    options: BuildOptions, config: Config, base: Path, cache: Path
) -> tuple[list[ZooSpec], list[str], list[str], dict[str, Any] | None]:
    """The zoos `_resolve_zoos` would give, without making or mirroring any: (the zoos to
    read, a line for each, notes, the demo or None)."""
    from zoo_site.demo import MARKER, DemoSpec, _as_json

    notes: list[str] = []
    ep = config.episodes
    default = SourceSettings(ep.algo, ep.game, ep.label, ep.tag)
    wanted: list[tuple[str, Path, str, dict[str, str], SourceSettings]] = []
    if options.zoos:
        wanted = [(z, Path.cwd(), "", {}, default) for z in options.zoos]
    elif config.sources:
        wanted = [(s.path, base, s.kind, dict(s.rename), _settings(s, default))
                  for s in config.sources]  # fmt: skip
    elif config.zoo:
        wanted = [(config.zoo, base, "", {}, default)]
    if not wanted:
        spec = DemoSpec(steps=config.demo.steps)
        path = cache / "demo-zoo"
        marker = path / MARKER
        cached = marker.is_file() and json.loads(marker.read_text()) == _as_json(spec)
        about = {"path": str(path), "entries": spec.size, "steps": spec.steps}
        if cached:
            return (
                [ZooSpec(path)],
                [f"the demo zoo, cached in {path}"],
                notes,
                {"cached": True, **about},
            )
        trained = _trained_networks(spec)
        reused = min(trained, len(list((path / ".demo-training").glob("*.npz"))))
        make = {"rollouts": spec.size, "steps": spec.steps, "train": trained - reused,
                "trained_networks": trained, "training_reused": reused}  # fmt: skip
        notes.append(f"No zoo given: the build would first make the demo zoo in {path} "
                     f"({spec.size} entries of {spec.steps} steps: {spec.size} rollouts "
                     f"played, {trained - reused} of {trained} networks trained); planned "
                     "from its spec.")  # fmt: skip
        made = {"cached": False, **about, "make": make, "spec": spec}
        return [], [f"the demo zoo, to be made in {path}"], notes, made
    zoos, descriptions = [], []
    for where, relative_to, kind, rename, settings in wanted:
        if not is_remote(where):
            path = _resolve(relative_to, where)
            zoos.append(ZooSpec(path, kind, rename, settings))
            descriptions.append(str(path))
            continue
        mirror = mirror_folder(where, cache)
        if (mirror / META_DIR / "mirror.json").is_file():
            zoos.append(ZooSpec(mirror, kind, rename, settings))
            descriptions.append(f"{where} (its mirror in {mirror})")
            notes.append(f"{where}: planned from its mirror as last downloaded; the build "
                         "refreshes the mirror first (downloads what changed), which the "
                         "plan cannot see.")  # fmt: skip
        else:
            descriptions.append(f"{where} (not mirrored yet)")
            notes.append(f"{where}: not mirrored yet; the build would download it into "
                         f"{mirror} first. The plan downloads nothing, so its entries are not "
                         "counted.")  # fmt: skip
    demo_zoo = len(zoos) == 1 and len(wanted) == 1 and (zoos[0].path / MARKER).is_file()
    demo = {"cached": True, "path": str(zoos[0].path)} if demo_zoo else None
    return zoos, descriptions, notes, demo


def _trained_networks(spec: Any) -> int:
    from zoo_site.demo import TRAINED_TAG

    return sum(spec.trained(g, a, TRAINED_TAG) for g in spec.games for a in spec.algos)


def _demo_config(path: Path, demo: dict[str, Any]) -> Config:
    """The demo zoo's config: its own file, or (to be made) what `demo_config` would write
    once its trained agents are trained (their saliency maps and noise evaluation)."""
    if not demo.get("make"):
        return load_config(path / CONFIG_NAME)
    from zoo_site.config import RobustnessConfig
    from zoo_site.demo import TRAINED_TAG, demo_config

    spec = demo["spec"]
    config = loads_config(demo_config(spec))  # as written before any training report
    games = sorted({g for g in spec.games for a in spec.algos if spec.trained(g, a, TRAINED_TAG)})
    only = [f"*/{game}/*/{TRAINED_TAG}" for game in games]
    if only:  # what demo_config writes once they are trained
        config.saliency.method, config.saliency.only = "perturbation", only
        config.robustness.levels, config.robustness.only = RobustnessConfig().levels, only
    return config


def _demo_entries(path: Path, spec: Any) -> list[Entry]:
    """The entries the demo zoo will have (its files do not exist yet)."""
    from zoo_site.sources.zoo_layout import PROTOCOLS, TAG_ORDER

    entries = []
    for algo in spec.algos:
        for game in spec.games:
            for run in spec.runs:
                for tag in spec.tags:
                    stem = path / algo / f"{game}NoFrameskip-v4" / f"model{run}_{tag}"
                    entries.append(Entry(
                        algo=algo, game=game, run=run, tag=tag, source="atari-model-zoo",
                        model=ModelRef(stem.with_suffix(".pb"), "frozen_graph", algo),
                        rollout=Path(f"{stem}_rollout.npz"), protocol=PROTOCOLS.get(algo),
                        tag_rank=float(TAG_ORDER.index(tag)) if tag in TAG_ORDER else None,
                        zoo=path,
                    ))  # fmt: skip
    return sorted(entries, key=lambda e: (e.algo, e.game, e.run, e.tag))


# --- one entry ------------------------------------------------------------------------------


class _CacheState:
    """What the cache holds, looked at once: with no media (or no noise evaluations) at all
    nothing needs hashing to know it must be made."""

    def __init__(self, cache: Path, virtual: bool):
        self.cache, self.virtual = cache, virtual
        self.media = not virtual and _has_any(cache / "media")
        self.robustness = not virtual and _has_any(cache / "robustness")
        self._digests: dict[Path, str] = {}

    def digest(self, path: Path, cache_dir: Path) -> str:
        """`fsutil.cached_digest` without writing: the digest the cache remembers for the
        file's size, mtime and inode, else the file hashed now (and not recorded)."""
        path = Path(path).resolve()
        if path in self._digests:
            return self._digests[path]
        st = path.stat()
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        name = hashlib.blake2b(str(path).encode(), digest_size=16).hexdigest()
        digest = None
        try:
            known = json.loads((Path(cache_dir) / "digests" / f"{name}.json").read_text())
            if known["stamp"] == stamp and known["path"] == str(path):
                digest = str(known["digest"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        self._digests[path] = digest = digest or file_digest(path)
        return digest


def _has_any(folder: Path) -> bool:
    try:
        with os.scandir(folder) as it:
            return any(True for _ in it)
    except OSError:
        return False


def _plan_entry(task: EntryTask, state: _CacheState) -> EntryPlan:
    entry = task.entry
    cap = task.rollout.max_steps
    acts = entry.model is not None and task.activations
    plan = EntryPlan(entry.id, entry.game, None, activations=acts,
                     ram=entry.rollout_format != "episode")  # fmt: skip
    length = None
    try:
        if state.virtual:
            plan.steps = played_steps(task)  # the demo's rollouts: [demo] steps, cut
        elif entry.rollout is not None:
            length, names = rollout_header(entry.rollout, entry.rollout_format)
            plan.steps = length if cap is None else min(length, cap)
            plan.ram = "ram" in names and entry.rollout_format != "episode"
        else:
            plan.steps = played_steps(task)
        if not state.virtual:
            _cached(task, state, plan, length)
        _robustness(task, state, plan)
    except EntryError as exc:
        plan.error = exc.message
        return plan
    except OSError as exc:
        plan.error = f"cannot read {exc.filename}: {exc.strerror}"
        return plan
    if plan.render and task.saliency is not None and entry.model is not None:
        s = task.saliency
        plan.saliency_maps = math.ceil((plan.steps or 0) / s.every)
        plan.saliency_method = s.method
        rows, cols = s.grid()
        plan.saliency_bytes = plan.saliency_maps * 2 * rows * cols * 4  # float32, 2 modes
    return plan


def _cached(task: EntryTask, state: _CacheState, plan: EntryPlan, length: int | None) -> None:
    """Which of the entry's media, played rollout and noise evaluation the cache has, by
    the build's own keys (hashing only where something cached could match)."""
    entry = task.entry
    if state.media:
        mk = _model_key(task, state.digest)
        rollout, _, rkey = _rollout_source(task, mk, state.digest)
        plan.media = media_key(task, rkey, mk, length)
        plan.render = not (state.cache / "media" / plan.media / "result.json").is_file()
        plan.play = plan.render and rollout is None
    elif entry.rollout is None:
        played = _played_path(task)
        have = played.is_file() and _read_key(played) == rollout_key(task, _model_key(
            task, state.digest) or "")  # fmt: skip
        plan.play = not have


def _robustness(task: EntryTask, state: _CacheState, plan: EntryPlan) -> None:
    """The steps of the entry's noise evaluation (its levels x episodes, and the film's
    episode, at most max_steps each), unless the cache has its result."""
    r = task.robustness
    if r is None or task.entry.model is None:
        return
    if state.robustness:
        key = robustness_key(task, _model_key(task, state.digest) or "")
        if (state.cache / "robustness" / f"{key}.json").is_file():
            return
    episodes = len(r.levels) * r.episodes + (_noisy_level(task) is not None)
    plan.robustness_steps = episodes * r.max_steps


# --- the figures ------------------------------------------------------------------------------


def _figures(cache: Path, plans: list[EntryPlan]) -> tuple[dict[str, Figure], dict[str, int]]:
    """The per-step figures: each measured over the last build-report.json's entries that
    have it (what rendering their media took), else its default; and the bytes the report
    measured for entries whose media key is the one planned."""
    figures = dict(DEFAULTS)
    try:
        report = json.loads((cache / "build-report.json").read_text(encoding="utf-8"))
        rows = [r for r in report.get("entries", []) if isinstance(r.get("cpu"), dict)]
    except (OSError, ValueError, AttributeError):
        return figures, {}

    def measure(name: str, picked: list[dict], amount: Callable[[dict], Any],
                per: Callable[[dict], Any], unit: str) -> None:  # fmt: skip
        pairs = [(amount(r), per(r)) for r in picked]
        pairs = [(a, p) for a, p in pairs if isinstance(a, (int, float)) and p]
        if pairs:
            value = sum(a for a, _ in pairs) / sum(p for _, p in pairs)
            figures[name] = Figure(value, unit, f"the last build: {len(pairs)} entries")

    with_acts = [r for r in rows if r.get("activations")]
    gameplay = [r for r in rows if r.get("activations") is False]
    measure("render", with_acts, lambda r: r["cpu"].get("render"), lambda r: r.get("steps"),
            DEFAULTS["render"].unit)  # fmt: skip
    measure("render_gameplay", gameplay, lambda r: r["cpu"].get("render"),
            lambda r: r.get("steps"), DEFAULTS["render_gameplay"].unit)  # fmt: skip
    measure("play", rows, lambda r: r["cpu"].get("play"), lambda r: r.get("steps"),
            DEFAULTS["play"].unit)  # fmt: skip
    for method in ("perturbation", "gradient"):
        name = f"saliency_{method}"
        picked = [r for r in rows if r.get("saliency_method") == method]
        measure(name, picked, lambda r: r["cpu"].get("saliency"),
                lambda r: r.get("saliency_steps"), DEFAULTS[name].unit)  # fmt: skip
    measure("bytes", with_acts, lambda r: r.get("bytes"), lambda r: r.get("steps"),
            DEFAULTS["bytes"].unit)  # fmt: skip
    measure("bytes_gameplay", gameplay, lambda r: r.get("bytes"), lambda r: r.get("steps"),
            DEFAULTS["bytes_gameplay"].unit)  # fmt: skip
    wanted = {p.id: p.media for p in plans if p.media}
    known = {r["id"]: int(r.get("bytes") or 0) + int(r.get("saliency_bytes") or 0)
             for r in rows if r.get("id") in wanted and r.get("media") == wanted[r["id"]]
             and isinstance(r.get("bytes"), int)}  # fmt: skip
    return figures, known


# --- showing it ---------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """0.4 s, 32 s, 4.2 min, 3.1 h, 2.5 days."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def show(plan: Plan, console: Any = None) -> None:
    """The plan as a short table, for people."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    c, cpu = plan.counts(), plan.cpu()
    console.print(f"[bold]Plan[/] of {escape('; '.join(plan.zoos) or 'no zoo')}", soft_wrap=True)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for name, justify in (("", "left"), ("entries", "right"), ("steps", "right"),
                          ("CPU", "right")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    left = " (--only)" if plan.config.only else ""
    table.add_row("in the site", f"{c['entries']:,}", f"{c['steps']:,}", "")
    if c["left_out"]:
        table.add_row(f"left out{left}", f"{c['left_out']:,}", "", "")
    table.add_row("to render", f"{c['render']:,}", f"{c['render_steps']:,}",
                  duration(cpu["render"]))  # fmt: skip
    if c["activations"] != c["render"]:
        table.add_row("  with activations", f"{c['activations']:,}", "", "")
    table.add_row("to play first", f"{c['play']:,}", f"{c['play_steps']:,}",
                  duration(cpu["play"]))  # fmt: skip
    table.add_row("saliency maps", f"{c['saliency']:,}", f"{c['saliency_maps']:,} maps",
                  duration(cpu["saliency"]))  # fmt: skip
    table.add_row("noise evaluations", f"{c['robustness']:,}",
                  f"≤ {c['robustness_steps']:,}", duration(cpu["robustness"]))  # fmt: skip
    if plan.demo and plan.demo.get("make"):
        m = plan.demo["make"]
        table.add_row("making the demo zoo", f"{m['rollouts']}", f"{m['rollouts'] * m['steps']:,}",
                      duration(cpu["demo"]))  # fmt: skip
    maps = plan.map_seconds()
    if maps:
        games = f"{c['games_to_map']} game{'s' * (c['games_to_map'] != 1)}"
        table.add_row("maps of states", games, "", f"{duration(maps)} (serial)")
    table.add_row("[bold]total[/]", "", "", f"[bold]{duration(sum(cpu.values()) + maps)}[/]")
    console.print(table)
    times = [f"{duration(plan.seconds(plan.cores_here))} here ({plan.cores_here} cores)"]
    times += [f"{duration(plan.seconds(n))} on {n}" for n in plan.cores if n != plan.cores_here]
    console.print(f"Time: {', '.join(times)} cores, kept busy.")
    console.print(f"Site: about {size(plan.site_bytes())} of media ({c['entries']:,} entries).")
    if plan.config.rollout.max_steps is not None:
        console.print(f"Rollouts cut to at most {plan.config.rollout.max_steps:,} steps "
                      + escape("([rollout] max_steps)."))  # fmt: skip
    errors, warnings = plan.problems
    if errors or warnings:
        console.print(f"The catalog has {errors} error(s) and {warnings} warning(s); the build "
                      "lists them.")  # fmt: skip
    used = _used_figures(plan)
    console.print("Figures: " + "; ".join(
        f"{name} {_figure(fig)} ({escape(fig.source)})" for name, fig in used.items()),
        soft_wrap=True)  # fmt: skip
    for note in plan.notes:
        console.print(f"Note: {escape(note)}", soft_wrap=True)


def _used_figures(plan: Plan) -> dict[str, Figure]:
    """The figures this plan's estimate leans on."""
    c, f = plan.counts(), plan.figures
    acts = any(e.activations for e in plan.entries)
    plain = any(not e.activations for e in plan.entries)
    names = [n for n, used in (
        ("render", acts and c["render"]), ("render_gameplay", plain and c["render"]),
        ("play", c["play"] or (plan.demo or {}).get("make")),
        ("saliency_perturbation", any(e.saliency_method == "perturbation" and e.saliency_maps
                                      for e in plan.entries)),
        ("saliency_gradient", any(e.saliency_method == "gradient" and e.saliency_maps
                                  for e in plan.entries)),
        ("robustness", c["robustness"]), ("bytes", acts), ("bytes_gameplay", plain),
        ("demo_training", ((plan.demo or {}).get("make") or {}).get("train")),
    ) if used]  # fmt: skip
    return {n: f[n] for n in names}


def _figure(fig: Figure) -> str:
    if fig.unit.startswith("bytes"):
        return f"{fig.value:,.0f} {fig.unit}"
    if fig.value < 1:
        return f"{fig.value * 1000:.3g} CPU-ms {fig.unit.removeprefix('CPU-s ')}"
    return f"{fig.value:.3g} {fig.unit}"


def to_json(plan: Plan) -> str:
    return json.dumps(plan.as_json(), indent=2)


__all__ = ["DEFAULTS", "EntryPlan", "Figure", "Plan", "make_plan", "show", "to_json"]
