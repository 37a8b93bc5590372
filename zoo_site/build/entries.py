"""Per-entry work (rollout where missing, activations, media), cached by content hash.

`run_entry` is a pure function from an `EntryTask` to files in the cache: it runs in a
worker process, never raises for bad input, and reports the outcome as an `EntryResult`.
An entry's outputs live in ``<cache>/media/<key>/``; ``result.json`` is written last, so
a folder without it (an interrupted build) is never mistaken for finished work.

Two keys: a played rollout depends on the model, how it is loaded (its [algos.<id>]
layers/input), the play protocol and the rollout settings; the media depend on the
rollout, the model, how it is loaded and the render settings, never on display labels.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo_site import __version__
from zoo_site.config import AlgoConfig, RenderConfig, RolloutConfig
from zoo_site.errors import EntryError
from zoo_site.fsutil import atomic_path, cached_digest, write_bytes, write_json, write_text
from zoo_site.records import EntryMedia, EntryResult, FileError, RolloutInfo, StepData
from zoo_site.rollouts.protocols import PROTOCOLS, PlayProtocol
from zoo_site.sources.base import Entry

if TYPE_CHECKING:  # pragma: no cover
    from zoo_site.analysis.activations import Activations
    from zoo_site.analysis.robustness import RobustnessSettings
    from zoo_site.analysis.saliency import SaliencySettings
    from zoo_site.networks.base import Network
    from zoo_site.rollouts.npz import Rollout


Outcome = tuple[dict | None, FileError | None]
"""(what an analysis made, None), or (None, why it could not)."""


@dataclass(frozen=True)
class EntryTask:
    entry: Entry
    cache_dir: Path
    render: RenderConfig
    rollout: RolloutConfig
    algo: AlgoConfig | None = None
    saliency: SaliencySettings | None = None
    """How this entry's saliency maps are made; None: it gets none."""
    robustness: RobustnessSettings | None = None
    """How this entry's noise robustness is evaluated; None: it is not."""
    noisy_video: float = 0.0
    """With robustness: film the episode at the nonzero level nearest this σ (0: none)."""
    states: int = 0
    """Steps sampled for the map of states (analysis/states.py); 0: none."""
    activations: bool = True
    """Whether its activations are rendered ([render] activations_only); with a model."""

    @property
    def protocol(self) -> PlayProtocol:
        """The entry's play protocol, with the config's choices on top."""
        base = self.entry.protocol or PROTOCOLS["atari-model-zoo-tf"]
        if self.algo and self.algo.protocol:
            base = PROTOCOLS[self.algo.protocol]
        r = self.rollout
        return base.with_overrides(sticky_actions=r.sticky_actions, noop_max=r.noop_max,
                                   epsilon=r.epsilon)  # fmt: skip

    def network_settings(self) -> dict[str, Any]:
        """The [algos.<id>] settings that change how the model is loaded (not its label);
        input and input_scale act only with layers (see networks/frozen_graph.py)."""
        if self.algo is None or not self.algo.layers:
            return {}
        return {"layers": self.algo.layers, "input": self.algo.input,
                "input_scale": self.algo.input_scale}  # fmt: skip


def run_entry(task: EntryTask) -> EntryResult:
    """Do everything one entry needs; failures become a result naming the file."""
    start = time.perf_counter()
    result = _run_safely(task)
    result.seconds = time.perf_counter() - start
    return result


def _run_safely(task: EntryTask) -> EntryResult:
    entry = task.entry
    try:
        return _run(task)
    except EntryError as exc:
        return EntryResult(entry.id, "failed", exc.message, exc.path or str(entry.file))
    except Exception as exc:  # an unexpected failure of one entry must not sink the build
        detail = traceback.format_exc()
        return EntryResult(entry.id, "failed", f"internal error: {exc!r}", str(entry.file), detail)


def media_key(task: EntryTask, rollout_key: str, model_key: str | None,
              length: int | None = None) -> str:  # fmt: skip
    """What the media depend on: the rollout, the model and how it is loaded, the render
    and saliency settings and zoo-site's version; never display labels. A zoo rollout cut
    by [rollout] max_steps adds the cut (`length`: the rollout's steps, else read from its
    header); a played rollout's cut is in its rollout key already."""
    saliency = None if task.saliency is None else task.saliency.as_json()
    parts: list[object] = [
        __version__,
        MEDIA_FORMAT,
        rollout_key,
        model_key,
        task.network_settings(),
        _render_key(task),
        saliency,
        task.states,
    ]
    if not task.activations and task.entry.model is not None:
        parts.append({"activations": False})  # only then, as for the cut below
    cut = rollout_cut(task, length)
    if cut is not None:  # only then: an uncut rollout keeps the key it always had
        parts.append({"max_steps": cut})
    return _digest(*parts)


def _render_key(task: EntryTask) -> dict[str, Any]:
    """The render settings the media depend on: [render] activations_only chooses per
    entry (`EntryTask.activations`), so it is not among them."""
    render = asdict(task.render)
    del render["activations_only"]
    return render


def rollout_cut(task: EntryTask, length: int | None = None) -> int | None:
    """The steps a zoo rollout is cut to ([rollout] max_steps), or None when it is not cut
    (no cap, a played rollout, or a rollout no longer than the cap)."""
    cap, path = task.rollout.max_steps, task.entry.rollout
    if cap is None or path is None:
        return None
    if length is None:
        length = rollout_length(path, task.entry.rollout_format)
    return cap if length > cap else None


def rollout_length(path: Path, rollout_format: str = "zoo") -> int:
    """A rollout file's steps, from the header of its frames (an episode file's `obs`)
    alone: nothing is decompressed but the first bytes of that one member."""
    return rollout_header(path, rollout_format)[0]


def rollout_header(path: Path, rollout_format: str = "zoo") -> tuple[int, frozenset[str]]:
    """(`rollout_length`, the names of the file's arrays), from the zip's directory and
    one member's header."""
    key = "obs" if rollout_format == "episode" else "frames"
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as member:
            names = frozenset(n.removesuffix(".npy") for n in archive.namelist())
            version = np.lib.format.read_magic(member)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)  # fmt: skip
            shape, _, _ = read(member)
    except FileNotFoundError:
        raise EntryError(path, "the rollout file does not exist") from None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise EntryError(path, f"cannot read the {key} header (not an npz file, truncated "
                         f"or corrupt?): {exc}") from None  # fmt: skip
    if not shape:
        raise EntryError(path, f"key {key!r} is a scalar, expected one value per step")
    return int(shape[0]), names


MEDIA_FORMAT = 3
"""Bumped when an entry's cached media gain a file (3: the map of states' samples)."""


def _run(task: EntryTask) -> EntryResult:
    entry = task.entry
    model_key = _model_key(task)
    rollout_path, source, rollout_key = _rollout_source(task, model_key)
    media_dir = task.cache_dir / "media" / media_key(task, rollout_key, model_key)
    done = media_dir / "result.json"
    played = _played_path(task) if source == "played" else None
    network = None
    if done.exists():
        media = EntryMedia.from_json(json.loads(done.read_text(encoding="utf-8")))
        if all((media_dir / f).exists() for f in [*media.files, *filter(None, [media.states])]):
            extra = _with_robustness(media, task, model_key, network)
            return EntryResult(entry.id, "reused", media_dir=media_dir, media=media,
                               played=played, extra_files=extra)  # fmt: skip
    work: dict[str, Any] = {"cpu": {"play": None, "render": 0.0, "saliency": None}}
    start = cpu_seconds()
    if rollout_path is None:
        network = _load_network(task)
        rollout_path = _play(task, network, rollout_key)
        work["cpu"]["play"] = round(cpu_seconds() - start, 3)
    rendering = cpu_seconds()
    media = _render(task, rollout_path, media_dir, network, source, work)
    cpu = work["cpu"]
    cpu["render"] = round(cpu_seconds() - rendering - (cpu["saliency"] or 0.0), 3)
    write_json(work_path(task.cache_dir, media_dir.name), _work_record(media, media_dir, work))
    write_json(done, media.to_json())
    extra = _with_robustness(media, task, model_key, network)
    return EntryResult(entry.id, "rendered", media_dir=media_dir, media=media, played=played,
                       extra_files=extra)  # fmt: skip


def robustness_key(task: EntryTask, model_key: str) -> str:
    """What a noise evaluation depends on: the model, how it is loaded and played, the
    game and the settings."""
    assert task.robustness is not None
    video = None
    if _noisy_level(task) is not None:  # the film's settings matter only when there is one
        r = task.render
        video = (task.noisy_video, r.fps, r.scale, r.crf, r.preset)
    return _digest(__version__, ROBUSTNESS_FORMAT, model_key, task.entry.game,
                   task.network_settings(), task.protocol.as_json(), task.robustness.as_json(),
                   video)  # fmt: skip


ROBUSTNESS_FORMAT = 2
"""Bumped when the evaluation's results change for the same settings (2: noisy inputs of
uint8 networks clipped to 0-255 instead of wrapping around)."""


NOISY_VIDEO = "noisy.mp4"


def _noisy_level(task: EntryTask) -> int | None:
    from zoo_site.analysis.noisy_video import nearest_level

    if task.robustness is None:
        return None
    return nearest_level(task.robustness.levels, task.noisy_video)


def _with_robustness(media: EntryMedia, task: EntryTask, model_key: str | None,
                     network: Network | None) -> dict[str, Path]:  # fmt: skip
    """Add the noise evaluation to `media`; return its film as {name in the site: file}."""
    media.robustness, media.robustness_error = _robustness(task, model_key, network)
    if media.robustness and media.robustness.get("video"):
        key = media.robustness["video"]["key"]
        return {NOISY_VIDEO: task.cache_dir / "robustness" / key / NOISY_VIDEO}
    return {}


def _robustness(task: EntryTask, model_key: str | None, network: Network | None) -> Outcome:
    """The entry's returns at each noise level (analysis/robustness.py) and the film of
    one noisy episode (analysis/noisy_video.py), kept in `<cache>/robustness/<key>.json`
    and `<key>/` apart from the media (changing the settings replays only this);
    (result, None), or (None, why) when the evaluation cannot run."""
    from zoo_site.analysis import noisy_video
    from zoo_site.analysis.robustness import evaluate

    if task.robustness is None or model_key is None:
        return None, None
    key = robustness_key(task, model_key)
    path = task.cache_dir / "robustness" / f"{key}.json"
    if path.exists():
        return dict(json.loads(path.read_text(encoding="utf-8"))), None
    try:
        network = network or _load_network(task)
        game, protocol = task.entry.game, task.protocol
        result = evaluate(network, game, protocol, task.robustness).as_json()
        level = _noisy_level(task)
        if level is not None:
            film = task.cache_dir / "robustness" / key / NOISY_VIDEO
            made = noisy_video.render(network, game, protocol, task.robustness, level, film,
                                      task.render)  # fmt: skip
            result["video"] = {"key": key, "file": NOISY_VIDEO, "fps": task.render.fps,
                               **made.as_json()}  # fmt: skip
    except Exception as exc:  # an emulator that cannot run the game: the entry still builds
        model = task.entry.model
        where = str(model.path) if model else str(task.entry.file)
        message = exc.message if isinstance(exc, EntryError) else f"{type(exc).__name__}: {exc}"
        return None, {"path": where, "file": Path(where).name, "message": message}
    result["protocol"] = protocol.name
    write_json(path, result)
    return result, None


def _digest(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (the encoders)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def work_path(cache_dir: Path, key: str) -> Path:
    """What rendering the media of `key` took: ``<cache>/work/<media key>.json`` (beside
    the media, not in their folder: never published); read by build-report.json and
    `zoo-site plan`."""
    return Path(cache_dir) / "work" / f"{key}.json"


def _work_record(media: EntryMedia, media_dir: Path, work: dict[str, Any]) -> dict[str, Any]:
    """The steps, the CPU-seconds of each stage, the published media's bytes (the saliency
    maps' apart) and the rollout's cut, for estimates of other builds."""
    sizes = {f: (media_dir / f).stat().st_size for f in media.files}
    maps = sizes.pop("saliency.f32", 0)
    saliency = media.saliency or {}
    return {"steps": media.frames, "activations": media.activations is not None,
            "cpu": work["cpu"], "bytes": sum(sizes.values()), "saliency_bytes": maps,
            "saliency_method": saliency.get("method"),
            "saliency_steps": int(saliency.get("steps", 0)),
            "cut": work.get("cut")}  # fmt: skip


Digest = Callable[[Path, Path], str]
"""A file's content digest, given the file and the cache (`fsutil.cached_digest`)."""


def _model_key(task: EntryTask, digest: Digest = cached_digest) -> str | None:
    model = task.entry.model
    if model is None:
        return None
    digests = [digest(f, task.cache_dir) for f in model.all_files]
    return digests[0] if len(digests) == 1 else _digest(model.format, digests)


def _rollout_source(task: EntryTask, model_key: str | None,
                    digest: Digest = cached_digest) -> tuple[Path | None, str, str]:  # fmt: skip
    """(rollout file or None if it must be played, "zoo"/"played", its content key)."""
    entry = task.entry
    if entry.rollout is not None:
        return entry.rollout, "zoo", digest(entry.rollout, task.cache_dir)
    if model_key is None:  # the catalog never makes such an entry
        raise EntryError(None, f"{entry.id} has neither a model nor a rollout")
    key = rollout_key(task, model_key)
    played = _played_path(task)
    if played.exists() and _read_key(played) == key:
        return played, "played", key
    return None, "played", key


def rollout_key(task: EntryTask, model_key: str) -> str:
    """What a played rollout depends on: the model, how it is loaded ([algos.<id>] layers,
    input, input_scale), the whole play protocol, the number of steps, the seed, the game."""
    r = task.rollout
    return _digest(model_key, task.entry.game, task.network_settings(), task.protocol.as_json(),
                   {"steps": played_steps(task), "seed": r.seed})  # fmt: skip


def played_steps(task: EntryTask) -> int:
    """The steps a missing rollout is played for: [rollout] steps, at most max_steps (a cap
    that does not bind leaves the rollout, and its key, as they were)."""
    r = task.rollout
    return r.steps if r.max_steps is None else min(r.steps, r.max_steps)


def _played_path(task: EntryTask) -> Path:
    e = task.entry
    return task.cache_dir / "rollouts" / e.algo / e.env / f"model{e.run}_{e.tag}_rollout.npz"


def _read_key(path: Path) -> str:
    try:
        return path.with_suffix(".key").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _load_network(task: EntryTask) -> Network:
    from zoo_site.networks import load_network

    model = task.entry.model
    assert model is not None
    return load_network(model, actions=_action_count(task.entry.game), override=task.algo)


def _play(task: EntryTask, network: Network, key: str) -> Path:
    from zoo_site.rollouts.play import play_to

    path = _played_path(task)
    play_to(path, network, task.entry.game, task.protocol, played_steps(task),
            task.rollout.seed, task.cache_dir / "tmp")  # fmt: skip
    write_text(path.with_suffix(".key"), key + "\n")
    return path


def _render(task: EntryTask, rollout_path: Path, media_dir: Path, network: Network | None,
            source: str, work: dict[str, Any] | None = None) -> EntryMedia:  # fmt: skip
    """Everything an entry shows, in passes of a few hundred steps at most (the rollout's
    frames and observations read a slice at a time, the layers spilled to a temporary
    file): a worker's memory does not grow with the rollout's length. `work` gets the
    saliency maps' CPU-seconds and the rollout's cut."""
    from zoo_site.media import render

    work = {"cpu": {}} if work is None else work
    ro, work["cut"] = cut_rollout(_read_rollout(task, rollout_path), task.rollout.max_steps)
    cfg = replace(task.render, scale=_scale(task, ro.frames))
    acts, error = _activations(task, rollout_path, ro, network)
    saliency: dict | None = None
    saliency_error: FileError | None = None
    try:
        names = ro.action_names or _action_names(task.entry.game)
        greedy = acts.greedy_actions() if acts else None
        taken = ro.actions if ro.actions is not None else greedy
        activations = None
        if acts is not None:
            video, activations, files = _render_activations(task, ro, acts, names, taken,
                                                            media_dir)  # fmt: skip
            start = cpu_seconds()
            saliency, saliency_error = _saliency(task, rollout_path, ro, acts.network,
                                                 media_dir, files)  # fmt: skip
            if task.saliency is not None:
                work["cpu"]["saliency"] = round(cpu_seconds() - start, 3)
        else:
            video = render.render_gameplay(ro.frames, media_dir / "gameplay.mp4", cfg,
                                           poster=media_dir / "poster.png")  # fmt: skip
            files = ["gameplay.mp4", "poster.png"]
        states = _sample_states(task, rollout_path, ro, acts, taken, media_dir)
    finally:
        if acts is not None:
            acts.close()
    if video.frames != ro.steps:
        raise EntryError(rollout_path, f"encoded {video.frames} frames for {ro.steps} steps")
    return EntryMedia(
        files=files, frames=video.frames, fps=video.fps, width=video.width, height=video.height,
        scale=cfg.scale, episode_returns=[float(x) for x in ro.ep_rewards],
        score=None if ro.score is None else float(ro.score[-1]),
        steps=_step_data(ro, names, taken, greedy),
        rollout=_rollout_info(task, source), activations=activations, activation_error=error,
        activations_off=task.entry.model is not None and not task.activations,
        saliency=saliency, saliency_error=saliency_error, states=states,
    )  # fmt: skip


def _sample_states(task: EntryTask, rollout_path: Path, ro: Rollout, acts: Activations | None,
                   taken: np.ndarray | None, media_dir: Path) -> str | None:  # fmt: skip
    """The entry's samples for the map of states (kept in the cache, not published): the
    last dense layer's values and the rollout's RAM where there are; None without either."""
    from zoo_site.analysis import states

    if not task.states:
        return None
    dense = None
    if acts is not None:
        layers = [layer for layer in acts.layers if layer.kind == "dense"]
        dense = layers[-1].values if layers else None
    ram = None
    if task.entry.rollout_format != "episode" and rollout_path.suffix == ".npz":
        with np.load(rollout_path, allow_pickle=False) as z:  # read (and checked) at load
            ram = z["ram"][: ro.steps] if "ram" in z.files else None  # a cut rollout's steps
    if dense is None and ram is None:
        return None
    states.sample(media_dir / states.STATES_FILE, ro.steps, ro.frames, dense=dense, ram=ram,
                  actions=taken, score=ro.score, limit=task.states)  # fmt: skip
    return states.STATES_FILE


def _read_rollout(task: EntryTask, path: Path) -> Rollout:
    """The entry's rollout: the zoo's npz format, or an episode file (obs, action)."""
    if task.entry.rollout_format == "episode":
        from zoo_site.rollouts import episodes

        return episodes.load(path)
    from zoo_site.rollouts import npz

    return npz.load(path, observations=task.entry.model is not None, lazy=True)


def cut_rollout(ro: Rollout, cap: int | None) -> tuple[Rollout, dict[str, Any] | None]:
    """The rollout's first `cap` steps, for every stage alike (frames, observations,
    actions, rewards, scores: frame n stays step n), and what the cut did; the rollout
    as it is, and None, when it is no longer than `cap`. Of the episodes that ended, only
    those that surely ended within the cut keep their returns (`_ended_within`)."""
    if cap is None or ro.steps <= cap:
        return ro, None
    lo, hi = _ended_within(ro, cap)
    ended = len(ro.ep_rewards)
    cut = replace(
        ro, steps=cap, frames=_head(ro.frames, cap), observations=_head(ro.observations, cap),
        score=None if ro.score is None else ro.score[:cap],
        ep_rewards=ro.ep_rewards[:lo], actions=_head(ro.actions, cap),
        rewards=_head(ro.rewards, cap),
        action_values=None if ro.action_values is None else ro.action_values[:cap],
    )  # fmt: skip
    note = None
    if lo < hi:
        what = "score and rewards" if ro.rewards is not None else "score"
        what = what if ro.score is not None else "no score"
        note = (f"cut to its first {cap} of {ro.steps} steps: {lo} of its {ended} ended "
                f"episode(s) surely ended within them, and the rollout ({what}) cannot tell "
                f"whether up to {hi - lo} more did; their returns are left out")  # fmt: skip
    return cut, {"steps": cap, "of": ro.steps, "episodes": lo, "of_episodes": ended,
                 "known": lo == hi, "note": note}  # fmt: skip


def _ended_within(ro: Rollout, n: int) -> tuple[int, int]:
    """Bounds (lo, hi) on how many of the rollout's ended episodes (ep_rewards, in order)
    ended within its first `n` steps. The running score (before each step) starts every
    episode at 0 (as the zoo's rollout code and zoo-site's record it), so an episode can
    end after step i only if step i+1's score is 0, or at the last step; it surely ended
    there if the score after step i (score + reward) is not 0. Equal bounds are exact."""
    ended, length = len(ro.ep_rewards), ro.steps
    if ended == 0:
        return 0, 0
    if ro.score is None:  # any step may have ended one
        can, sure = np.ones(length, bool), np.zeros(length, bool)
    else:
        score = np.asarray(ro.score, np.float64)
        can = np.append(score[1:] == 0, True)
        sure = np.zeros(length, bool)
        if ro.rewards is not None:
            after = score[:-1] + np.asarray(ro.rewards, np.float64)[:-1]
            sure[:-1] = can[:-1] & ~np.isclose(after, 0.0)
    lo = max(int(sure[:n].sum()), ended - int(can[n:].sum()), 0)
    hi = min(ended - int(sure[n:].sum()), int(can[:n].sum()), ended)
    if lo > hi:  # the score does not follow that rule: nothing can be told
        return 0, ended
    return lo, hi


def _head(rows: Any, n: int) -> Any:
    """The first `n` rows: a view of an array, a `_Head` of an npz Member."""
    if rows is None or isinstance(rows, np.ndarray):
        return None if rows is None else rows[:n]
    return _Head(rows, n)


class _Head:
    """The first `n` rows of a slice reader (an npz `Member`): its shape, len and rows,
    with the rows past `n` out of reach."""

    def __init__(self, rows: Any, n: int):
        self._rows, self._n = rows, n
        self.shape = (n, *rows.shape[1:])
        self.dtype, self.ndim = rows.dtype, rows.ndim

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: Any) -> Any:
        n = self._n
        if isinstance(index, slice):
            start, stop, step = index.indices(n)
            if step != 1:
                raise IndexError("slices of a rollout's rows must have step 1")
            return self._rows[start : max(start, stop)]
        if isinstance(index, (int, np.integer)):
            i = int(index) + (n if index < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"row {index} of {n}")
            return self._rows[i]
        indices = np.asarray(index)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise IndexError(f"rows past the first {n}")
        return self._rows[indices]


#: Small observation images (episode files: 64x64) are scaled up to about this many
#: pixels on their longer side, by an integer factor, so each pixel stays a sharp block.
MIN_VIDEO_SIDE = 256


def _scale(task: EntryTask, frames: Any) -> int:
    """The render's integer scale, larger for small frames (never resampled otherwise)."""
    side = max(frames.shape[1:3])
    return max(task.render.scale, MIN_VIDEO_SIDE // side)


def _rollout_info(task: EntryTask, source: str) -> RolloutInfo:
    if source != "played":
        return {"source": source, "protocol": None, "protocol_label": None, "cache_file": None}
    rel = _played_path(task).relative_to(task.cache_dir).as_posix()
    protocol = task.protocol
    return {"source": source, "protocol": protocol.name, "protocol_label": protocol.label,
            "cache_file": rel}  # fmt: skip


def _activations(
    task: EntryTask, rollout_path: Path, ro: Rollout, network: Network | None
) -> tuple[Activations | None, FileError | None]:
    """(Activations, None), or (None, why) when the model is absent or unusable."""
    from zoo_site.analysis import activations

    model = task.entry.model
    if model is None or not task.activations:
        return None, None
    try:
        network = network or _load_network(task)
        batches = activations.observation_batches(rollout_path, ro.steps, ro.observations)
        spill = task.cache_dir / "tmp"
        return activations.compute(network, batches, model.path, steps=ro.steps,
                                   spill_dir=spill), None  # fmt: skip
    except EntryError as exc:
        path = exc.path or str(model.path)
        return None, {"path": path, "file": Path(path).name, "message": exc.message}


def _render_activations(task, ro, acts, names, taken, media_dir: Path):
    from zoo_site.media.atlas import render_all
    from zoo_site.media.tiling import make_views

    views = make_views(acts.layers, names, taken)  # taken falls back to greedy
    media = render_all(ro.frames, views, media_dir, task.render)
    counts = {"atlas": media["atlas_frames"], **media["layer_frames"]}
    for name, count in counts.items():
        if count != ro.steps:
            raise EntryError(ro.path, f"{name} has {count} frames for {ro.steps} steps")
    out = acts.output.values.astype("<f4")
    write_bytes(media_dir / "outputs.f32", out.tobytes())
    layer_files = [name for layer in media["layers"] for name in (layer["video"],
                   layer["strip"]["image"]) if name is not None]  # fmt: skip
    network = acts.network
    files = ["gameplay.mp4", "poster.png", "atlas.mp4", "atlas-poster.png", "outputs.f32",
             *layer_files]  # fmt: skip
    info = {
        "convention": network.family,
        "input": network.obs.input,
        "atlas": media["atlas"],
        "layers": media["layers"],
        "outputs": {"file": "outputs.f32", "dtype": "float32", "shape": list(out.shape),
                    "label": network.output.label, "kind": network.output.kind},
        "distribution": _write_distribution(acts, media_dir, files),
        "value": _write_value(acts, media_dir, files),
    }  # fmt: skip
    return media["gameplay"], info, files


def _write_value(acts: Activations, media_dir: Path, files: list[str]) -> dict | None:
    """The value head's output per step (N,), where the network has one."""
    head = acts.network.output.value_head
    value = acts.extras.get(head) if head else None
    if value is None:
        return None
    write_rows(media_dir / "value.f32", np.asarray(value).reshape(len(value)))
    files.append("value.f32")
    return {"file": "value.f32", "dtype": "float32", "shape": [len(value)],
            "label": f"the value head ({head})"}  # fmt: skip


def _saliency(task: EntryTask, rollout_path: Path, ro: Rollout, network: Network,
              media_dir: Path, files: list[str]) -> Outcome:  # fmt: skip
    """The saliency maps of every `every`-th step, computed with the loaded network, the
    observations read again a slice at a time; (description, None) or (None, why)."""
    from zoo_site.analysis import activations, saliency

    settings = task.saliency
    if settings is None:
        return None, None
    target = media_dir / "saliency.f32"
    try:
        batches = activations.observation_batches(rollout_path, ro.steps, ro.observations)
        with atomic_path(target) as tmp:
            made = saliency.stream(network, batches, ro.steps, tmp, settings)
    except (EntryError, NotImplementedError) as exc:
        path = getattr(exc, "path", None) or str(task.entry.model.path if task.entry.model
                                                 else rollout_path)  # fmt: skip
        message = getattr(exc, "message", None) or str(exc)
        return None, {"path": path, "file": Path(path).name, "message": message}
    files.append(target.name)
    rows, cols = settings.grid()
    stride = 1 if settings.method == "gradient" else settings.stride
    return {
        **made.as_json(), "file": target.name, "method": settings.method,
        "positions": {"rows": list(range(0, rows * stride, stride)),
                      "cols": list(range(0, cols * stride, stride))},
        "observation": [84, 84], "screen": [0, 0, 1, 1],
        "actor_label": network.output.label,
    }, None  # fmt: skip


def _write_distribution(acts: Activations, media_dir: Path, files: list[str]) -> dict | None:
    """C51's per-action distributions over returns, kept for the site (N, actions, atoms)."""
    dist = acts.extras.get("distribution")
    support = acts.network.output.support
    if dist is None or support is None:
        return None
    write_rows(media_dir / "distribution.f32", dist)
    files.append("distribution.f32")
    return {"file": "distribution.f32", "dtype": "float32", "shape": list(dist.shape),
            "support": [float(s) for s in support]}  # fmt: skip


def write_rows(path: Path, values, chunk: int = 256) -> None:
    """(N, ...) float32 rows (an array, or spilled) as little-endian bytes, atomically,
    `chunk` rows at a time."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        for start in range(0, len(values), chunk):
            f.write(np.ascontiguousarray(values[start : start + chunk], "<f4").tobytes())


def _action_count(game: str) -> int | None:
    names = _action_names(game)
    return len(names) or None


def _action_names(game: str) -> list[str]:
    try:
        from zoo_site.rollouts.ale import minimal_action_names

        return minimal_action_names(game)
    except Exception:  # an unknown game: the output layer's units are numbered instead
        return []


def _step_data(ro: Rollout, names: list[str], taken: np.ndarray | None,
               greedy: np.ndarray | None) -> StepData:  # fmt: skip
    rewards = ro.rewards
    source = "rollout" if ro.actions is not None else ("greedy" if greedy is not None else None)
    return {
        "action_names": list(names),
        "actions": None if taken is None else np.asarray(taken).astype(int).tolist(),
        "action_source": source,
        "greedy": None if greedy is None else greedy.astype(int).tolist(),
        "rewards": None if rewards is None else [float(r) for r in rewards],
        "score": None if ro.score is None else [float(s) for s in ro.score],
        "action_values": ro.action_values,
    }
