"""Per-entry work (rollout where missing, activations, media), cached by content hash.

`run_entry` is a pure function from an `EntryTask` to files in the cache: it runs in a
worker process, never raises for bad input, and reports the outcome as an `EntryResult`.
An entry's outputs live in ``<cache>/media/<key>/``; ``result.json`` is written last, so
a folder without it (an interrupted build) is never mistaken for finished work.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from zoo_site import __version__
from zoo_site.catalog import Entry
from zoo_site.config import AlgoConfig, RenderConfig, RolloutConfig
from zoo_site.errors import EntryError
from zoo_site.fsutil import cached_digest, write_bytes, write_json, write_text

OUTPUT_LABELS = {"apex": "Q-values", "dqn": "Q-values", "rainbow": "Q-values", "a2c": "logits"}


@dataclass(frozen=True)
class EntryTask:
    entry: Entry
    cache_dir: Path
    render: RenderConfig
    rollout: RolloutConfig
    algo: AlgoConfig | None = None


@dataclass
class EntryResult:
    entry_id: str
    status: str  # "rendered", "reused" or "failed"
    error: str = ""
    path: str = ""
    detail: str = ""
    media_dir: Path | None = None
    info: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def activation_error(self) -> dict | None:
        """A problem that left the entry without activations (its gameplay still built)."""
        return self.info.get("activation_error")


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
        return EntryResult(entry.id, "failed", exc.message, exc.path or str(entry.source))
    except Exception as exc:  # an unexpected failure of one entry must not sink the build
        detail = traceback.format_exc()
        return EntryResult(
            entry.id, "failed", f"internal error: {exc!r}", str(entry.source), detail
        )


def _run(task: EntryTask) -> EntryResult:
    entry = task.entry
    model_key = cached_digest(entry.model, task.cache_dir) if entry.model else None
    rollout_path, source, rollout_key = _rollout_source(task, model_key)
    algo_cfg = asdict(task.algo) if task.algo else None
    key = _digest(__version__, rollout_key, model_key, algo_cfg, asdict(task.render))
    media_dir = task.cache_dir / "media" / key
    done = media_dir / "result.json"
    if done.exists():
        info = json.loads(done.read_text(encoding="utf-8"))
        if all((media_dir / f).exists() for f in info["files"]):
            return EntryResult(entry.id, "reused", media_dir=media_dir, info=info)
    if rollout_path is None:
        rollout_path = _play(task, rollout_key)
    info = _render(task, rollout_path, media_dir)
    info["rollout"] = {"source": source}
    write_json(done, info)
    return EntryResult(entry.id, "rendered", media_dir=media_dir, info=info)


def _digest(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _rollout_source(task: EntryTask, model_key: str | None) -> tuple[Path | None, str, str]:
    """(rollout file or None if it must be played, "zoo"/"played", its content key)."""
    entry = task.entry
    if entry.rollout is not None:
        return entry.rollout, "zoo", cached_digest(entry.rollout, task.cache_dir)
    if model_key is None:  # the catalog never makes such an entry
        raise EntryError(None, f"{entry.id} has neither a model nor a rollout")
    key = _digest(model_key, entry.algo, entry.game, asdict(task.rollout))
    played = _played_path(task)
    if played.exists() and _read_key(played) == key:
        return played, "played", key
    return None, "played", key


def _played_path(task: EntryTask) -> Path:
    e = task.entry
    return task.cache_dir / "rollouts" / e.algo / e.env / f"model{e.run}_{e.tag}_rollout.npz"


def _read_key(path: Path) -> str:
    try:
        return path.with_suffix(".key").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _play(task: EntryTask, key: str) -> Path:
    from zoo_site import rollout

    entry = task.entry
    data = rollout.play(entry.model, entry.algo, entry.game, task.rollout, task.algo)
    path = _played_path(task)
    rollout.save(path, data)
    write_text(path.with_suffix(".key"), key + "\n")
    return path


def _render(task: EntryTask, rollout_path: Path, media_dir: Path) -> dict:
    from zoo_site import render, rollout

    ro = rollout.load(rollout_path, observations=task.entry.model is not None)
    acts, error = _activations(task, rollout_path, ro)
    names = ro.action_names or _action_names(task.entry.game)
    greedy = acts.greedy_actions() if acts else None
    taken = ro.actions if ro.actions is not None else greedy
    if acts is not None:
        info = _render_activations(task, ro, acts, names, taken, media_dir)
    else:
        video = render.render_gameplay(ro.frames, media_dir / "gameplay.mp4", task.render)
        render.render_poster(ro.frames[render.poster_step(ro.steps)], media_dir / "poster.png",
                             task.render.scale)  # fmt: skip
        info = {"video_info": video, "activations": None, "files": ["gameplay.mp4", "poster.png"]}
    video = info.pop("video_info")
    if video.frames != ro.steps:
        raise EntryError(rollout_path, f"encoded {video.frames} frames for {ro.steps} steps")
    info |= {
        "frames": video.frames, "fps": video.fps, "width": video.width, "height": video.height,
        "scale": task.render.scale, "episode_returns": [float(x) for x in ro.ep_rewards],
        "score": float(ro.score[-1]), "activation_error": error,
        "steps": _step_data(ro, names, taken, greedy),
    }  # fmt: skip
    return info


def _activations(task: EntryTask, rollout_path: Path, ro):
    """(Activations, None), or (None, why) when the model is absent or unusable."""
    from zoo_site import activations
    from zoo_site.graphs import load_runner

    model = task.entry.model
    if model is None:
        return None, None
    try:
        runner = load_runner(model, task.entry.algo, every_layer=True, override=task.algo)
        obs = activations.load_observations(rollout_path, ro.steps, ro.observations)
        ro.observations = None  # the float32 copy is all that is needed now
        return activations.compute(runner, obs, model), None
    except EntryError as exc:
        path = exc.path or str(model)
        return None, {"path": path, "file": Path(path).name, "message": exc.message}


def _render_activations(task, ro, acts, names, taken, media_dir: Path) -> dict:
    from zoo_site.atlas import render_all
    from zoo_site.tiling import make_views

    views = make_views(acts.layers, names, taken)  # taken falls back to greedy
    media = render_all(ro.frames, views, media_dir, task.render)
    if media["atlas_frames"] != ro.steps:
        raise EntryError(ro.path, f"atlas has {media['atlas_frames']} frames for {ro.steps} steps")
    out = acts.output.values.astype("<f4")
    write_bytes(media_dir / "outputs.f32", out.tobytes())
    layer_files = [name for layer in media["layers"] for name in (layer["video"],
                   layer["strip"]["image"])]  # fmt: skip
    return {
        "video_info": media["gameplay"],
        "activations": {
            "convention": acts.convention.family,
            "input": acts.convention.input,
            "atlas": media["atlas"],
            "layers": media["layers"],
            "outputs": {
                "file": "outputs.f32",
                "dtype": "float32",
                "shape": list(out.shape),
                "label": OUTPUT_LABELS.get(task.entry.algo, "outputs"),
            },
        },
        "files": [
            "gameplay.mp4",
            "poster.png",
            "atlas.mp4",
            "atlas-poster.png",
            "outputs.f32",
            *layer_files,
        ],
    }


def _action_names(game: str) -> list[str]:
    try:
        from zoo_site.atari import AtariEnv

        return AtariEnv(game, 0).action_names
    except Exception:  # an unknown game: the output layer's units are numbered instead
        return []


def _step_data(ro, names: list[str], taken, greedy) -> dict:
    rewards = ro.rewards
    return {
        "action_names": list(names),
        "actions": None if taken is None else np.asarray(taken).astype(int).tolist(),
        "action_source": "rollout"
        if ro.actions is not None
        else ("greedy" if greedy is not None else None),
        "greedy": None if greedy is None else greedy.astype(int).tolist(),
        "rewards": None if rewards is None else [float(r) for r in rewards],
        "score": [float(s) for s in ro.score],
    }
