"""Per-entry work (rollout where missing, then media), cached by a hash of its inputs.

`run_entry` is a pure function from an `EntryTask` to files in the cache: it runs in a
worker process, never raises for bad input, and reports the outcome as an `EntryResult`.
An entry's outputs live in ``<cache>/media/<key>/``; ``result.json`` is written last, so
a folder without it (an interrupted build) is never mistaken for finished work.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from zoo_site import __version__
from zoo_site.catalog import Entry
from zoo_site.config import RenderConfig, RolloutConfig
from zoo_site.errors import EntryError
from zoo_site.fsutil import file_digest, write_json, write_text

MEDIA_FILES = ("gameplay.mp4", "poster.png")


@dataclass(frozen=True)
class EntryTask:
    entry: Entry
    cache_dir: Path
    render: RenderConfig
    rollout: RolloutConfig


@dataclass
class EntryResult:
    entry_id: str
    status: str  # "rendered", "reused" or "failed"
    error: str = ""
    path: str = ""
    detail: str = ""
    media_dir: Path | None = None
    info: dict = field(default_factory=dict)


def run_entry(task: EntryTask) -> EntryResult:
    """Do everything one entry needs; failures become a result naming the file."""
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
    rollout_path, source, rollout_key = _rollout_source(task)
    key = _digest(__version__, rollout_key, asdict(task.render))
    media_dir = task.cache_dir / "media" / key
    done = media_dir / "result.json"
    if done.exists() and all((media_dir / f).exists() for f in MEDIA_FILES):
        info = json.loads(done.read_text(encoding="utf-8"))
        return EntryResult(entry.id, "reused", media_dir=media_dir, info=info)
    if rollout_path is None:
        rollout_path = _play(task, rollout_key)
    info = _render(rollout_path, media_dir, task.render)
    info["rollout"] = {"source": source}
    write_json(done, info)
    return EntryResult(entry.id, "rendered", media_dir=media_dir, info=info)


def _digest(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _rollout_source(task: EntryTask) -> tuple[Path | None, str, str]:
    """(rollout file or None if it must be played, "zoo"/"played", its content key)."""
    entry = task.entry
    if entry.rollout is not None:
        return entry.rollout, "zoo", file_digest(entry.rollout)
    if entry.model is None:  # the catalog never makes such an entry
        raise EntryError(None, f"{entry.id} has neither a model nor a rollout")
    key = _digest(file_digest(entry.model), entry.algo, entry.game, asdict(task.rollout))
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
    data = rollout.play(entry.model, entry.algo, entry.game, task.rollout)
    path = _played_path(task)
    rollout.save(path, data)
    write_text(path.with_suffix(".key"), key + "\n")
    return path


def _render(rollout_path: Path, media_dir: Path, cfg: RenderConfig) -> dict:
    from zoo_site import render, rollout

    ro = rollout.load(rollout_path)
    video = render.render_gameplay(ro.frames, media_dir / "gameplay.mp4", cfg)
    if video.frames != ro.steps:
        raise EntryError(rollout_path, f"encoded {video.frames} frames for {ro.steps} steps")
    render.render_poster(
        ro.frames[render.poster_step(ro.steps)], media_dir / "poster.png", cfg.scale
    )
    return {
        "frames": video.frames,
        "fps": video.fps,
        "width": video.width,
        "height": video.height,
        "scale": cfg.scale,
        "episode_returns": [float(x) for x in ro.ep_rewards],
        "score": float(ro.score[-1]),
    }
