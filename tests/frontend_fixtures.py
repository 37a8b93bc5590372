"""A small fake but real site for the front-end tests: real H.264 videos, PNG posters.

`build_fake_site(site_dir)` writes media, manifest.json and the pages and returns the
manifest. Seven entries: not every algo/game/run/tag combination exists, and the
manifest lists them out of display order on purpose.
"""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

from zoo_site import fsutil
from zoo_site.site.pages import write_pages

WIDTH, HEIGHT, FPS, FRAMES = 160, 210, 15, 60
NOTICE = "These demo agents are untrained: they play at random."
ENTRY_KEYS = [  # (algo, game, run, tag)
    ("dqn", "Pong", 2, "final"),
    ("dqn", "Pong", 2, "initial"),
    ("apex", "Seaquest", 2, "final"),
    ("dqn", "Seaquest", 1, "final"),
    ("apex", "Pong", 1, "final"),
    ("apex", "Seaquest", 1, "final"),
    ("apex", "Seaquest", 1, "initial"),
]


def fake_entry(algo: str, game: str, run: int, tag: str) -> dict:
    media = f"a/{algo}/{game}/{run}/{tag}"
    return {
        "id": f"{algo}/{game}/{run}/{tag}",
        **{"algo": algo, "game": game, "run": run, "tag": tag},
        **{"source": "atari-model-zoo", "protocol": None, "training_step": None},
        "video": f"{media}/gameplay.mp4",
        "poster": f"{media}/poster.png",
        **{"frames": FRAMES, "fps": FPS, "width": WIDTH, "height": HEIGHT, "scale": 1},
        "episode_returns": [float(run * 10)] if tag == "final" else [],
        "score": run * 10.5,
        "rollout": {"source": "played"},
        "activations": False,
        "details": f"{media}/entry.json",
    }


def fake_manifest(*, title: str = "Fake zoo", notice: str | None = NOTICE) -> dict:
    return {
        "schema_version": 2,
        "generator": "zoo-site 0.1.0",
        "site": {"title": title, "description": "A zoo for tests.", "notice": notice, "demo": True},
        "algos": [{"id": "apex", "label": "Ape-X"}, {"id": "dqn", "label": "DQN (Dopamine)"}],
        "games": [
            {"id": "Seaquest", "env": "SeaquestNoFrameskip-v4"},
            {"id": "Pong", "env": "PongNoFrameskip-v4"},
        ],
        "runs": [1, 2],
        "tags": [{"id": "initial", "label": "Initial"}, {"id": "final", "label": "Final"}],
        "entries": [fake_entry(*key) for key in ENTRY_KEYS],
    }


def fake_frames(seed: int, count: int = FRAMES, speed: int = 5) -> np.ndarray:
    """`count` frames with an entry-specific colour and a bar that moves every frame."""
    frames = np.zeros((count, HEIGHT, WIDTH, 3), np.uint8)
    frames[:] = ((seed * 67) % 200 + 30, (seed * 131) % 200 + 30, 90)
    for n in range(count):
        x = (n * speed) % (WIDTH - 8)
        frames[n, 40:170, x : x + 8] = 255
    return frames


def write_video(path: Path, frames: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (WIDTH, HEIGHT),
        fps=FPS,
        codec="libx264",
        pix_fmt_out="yuv420p",
        macro_block_size=1,
        output_params=["-movflags", "+faststart", "-g", "15"],
    )
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()


ACTION_NAMES = ["NOOP", "FIRE", "UP", "DOWN"]


def fake_details(entry: dict) -> dict:
    """entry.json of a fake entry: action n % 4 at step n, reward 1 every tenth step."""
    rewards = [1.0 if n % 10 == 9 else 0.0 for n in range(FRAMES)]
    score = [float(sum(rewards[:n])) for n in range(FRAMES)]
    keys = ("id", "algo", "game", "run", "tag", "source", "protocol", "training_step", "frames",
            "fps", "video", "poster")  # fmt: skip
    return {
        "schema_version": 2,
        **{k: entry[k] for k in keys},
        "files": {"model": None, "rollout": "fake_rollout.npz", "played": False},
        "episode_returns": entry["episode_returns"],
        "steps": {
            "action_names": ACTION_NAMES,
            "actions": [n % len(ACTION_NAMES) for n in range(FRAMES)],
            "action_source": "rollout",
            "greedy": None,
            "rewards": rewards,
            "score": score,
            "action_values": None,
        },
        "activations": None,
        "activation_error": None,
    }


def write_fake_media(site_dir: Path, manifest: dict) -> None:
    for seed, entry in enumerate(manifest["entries"]):
        frames = fake_frames(seed)
        write_video(site_dir / entry["video"], frames)
        Image.fromarray(frames[0]).save(site_dir / entry["poster"])
        fsutil.write_json(site_dir / entry["details"], fake_details(entry))


def build_fake_site(
    site_dir: Path,
    *,
    title: str = "Fake zoo",
    notice: str | None = NOTICE,
    template_override: Path | None = None,
) -> dict:
    """Write a complete small site into `site_dir` and return its manifest."""
    site_dir = Path(site_dir)
    manifest = fake_manifest(title=title, notice=notice)
    write_fake_media(site_dir, manifest)
    write_pages(site_dir, manifest, template_override=template_override)
    return manifest


# ---- a zoo with many checkpoints per run (atari-agents style) ---------------------------------

MODERN = {"name": "atari-agents-modern",
          "label": "modern: sticky actions 0.25, an episode ends at game over"}  # fmt: skip
CHECKPOINT_ALGOS = [("DQN_modern", "DQN (modern)"), ("C51_modern", "C51 (modern)")]
LAST_FRAMES = 40  # a run's last checkpoint has a shorter video: the step is clamped to it


def checkpoint_steps(count: int, last: int = 50_000_000) -> list[int]:
    """`count` training steps, evenly from 0 to `last` (6 -> 0, 10M, ..., 50M)."""
    return [i * last // (count - 1) for i in range(count)]


def checkpoint_returns(run: int, i: int) -> list[float]:
    """Two episodes, better with training; none ended at the second checkpoint."""
    return [] if i == 1 else [float(-21 + 4 * i + run), float(-20 + 4 * i + run)]


def step_tag_label(step: int) -> str:
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if step >= size:
            return f"{step / size:g}{unit} steps"
    return f"{step} steps"


def checkpoint_manifest(checkpoints: int = 6, algos: int = 2, runs: int = 2) -> dict:
    """`algos` atari-agents algos × `runs` runs × `checkpoints` checkpoints of Pong, each
    with its training step and protocol, plus one atari-model-zoo entry (apex/Pong/1/final)
    without a training step."""
    manifest = fake_manifest()
    steps = checkpoint_steps(checkpoints)
    entries = []
    for algo, _ in CHECKPOINT_ALGOS[:algos]:
        for run in range(1, runs + 1):
            for i, step in enumerate(steps):
                e = fake_entry(algo, "Pong", run, str(step))
                returns = checkpoint_returns(run, i)
                score = returns[-1] if returns else -5.0
                e.update(source="atari-agents", protocol=dict(MODERN), training_step=step,
                         episode_returns=returns, score=score)  # fmt: skip
                if i == len(steps) - 1:
                    e["frames"] = LAST_FRAMES
                entries.append(e)
    entries.append(fake_entry("apex", "Pong", 1, "final"))
    manifest["algos"] = [{"id": a, "label": label} for a, label in CHECKPOINT_ALGOS[:algos]]
    manifest["algos"].append({"id": "apex", "label": "Ape-X"})
    manifest["games"] = [{"id": "Pong", "env": "PongNoFrameskip-v4"}]
    manifest["runs"] = list(range(1, runs + 1))
    manifest["tags"] = [{"id": str(s), "label": step_tag_label(s)} for s in steps]
    manifest["tags"].append({"id": "final", "label": "Final"})
    manifest["entries"] = entries
    return manifest


def checkpoint_details(entry: dict) -> dict:
    """entry.json of a checkpoint entry: as fake_details, cut to the entry's frames, with the
    files an atari-agents entry comes from (a model, played by zoo-site)."""
    d = fake_details(entry)
    n = entry["frames"]
    d["steps"] = {k: v[:n] if isinstance(v, list) and k != "action_names" else v
                  for k, v in d["steps"].items()}  # fmt: skip
    if entry["training_step"] is not None:
        model = f"{entry['algo']}/{entry['game']}/{entry['run']}/model_{entry['tag']}.gz"
        d["files"] = {"model": model, "rollout": None, "played": True}
    return d


def fake_activations(site_dir: Path, entry: dict) -> dict:
    """entry.json's `activations` for the activation viewer, the least that plays: the
    gameplay video as the atlas, the poster as each layer's strip, outputs n + a/10 at
    step n (written beside the entry's video)."""
    frames, media = entry["frames"], entry["video"].rsplit("/", 1)[0]
    outputs = np.array([[n + a / 10 for a in range(len(ACTION_NAMES))] for n in range(frames)])
    outputs.astype("<f4").tofile(site_dir / media / "outputs.f32")
    scaling = {"method": "fixed", "min": [0.0], "max": [1.0], "colormap": "gray"}
    strip = {"image": entry["poster"], "width": WIDTH, "height": HEIGHT, "rows": 4,
             "row_height": 1, "columns": frames, "first_step": 0, "steps_per_column": 1,
             "scaling": scaling}  # fmt: skip
    layers = [{"name": name, "kind": kind, "op": name, "shape": [4], "video": entry["video"],
               "width": WIDTH, "height": HEIGHT, "scaling": scaling, "grid": None, "strip": strip}
              for name, kind in (("conv1", "conv"), ("fc", "dense"), ("q", "output"))]  # fmt: skip
    gameplay = {"x": 0, "y": 0, "width": WIDTH, "height": HEIGHT}
    return {
        "convention": "fake", "input": "fake",
        "atlas": {"video": entry["video"], "poster": entry["poster"], "width": WIDTH,
                  "height": HEIGHT, "regions": {"gameplay": gameplay}},
        "layers": layers,
        "outputs": {"url": f"{media}/outputs.f32", "dtype": "float32",
                    "shape": [frames, len(ACTION_NAMES)], "label": "Q-values", "kind": "q_values"},
        "distribution": None,
    }  # fmt: skip


def build_checkpoint_site(
    site_dir: Path, *, activations: tuple[str, ...] = ("DQN_modern/Pong/1/20000000",), **shape
) -> dict:
    """A complete site of checkpoint_manifest(**shape) (its own videos, each entry's own
    length; the entries named in `activations` with fake activations) in `site_dir`;
    returns its manifest."""
    site_dir = Path(site_dir)
    manifest = checkpoint_manifest(**shape)
    for seed, entry in enumerate(manifest["entries"]):
        frames = fake_frames(seed, entry["frames"])
        write_video(site_dir / entry["video"], frames)
        Image.fromarray(frames[0]).save(site_dir / entry["poster"])
        details = checkpoint_details(entry)
        if entry["id"] in activations:
            entry["activations"] = True
            details["activations"] = fake_activations(site_dir, entry)
        fsutil.write_json(site_dir / entry["details"], details)
    write_pages(site_dir, manifest)
    return manifest


def build_activation_site(
    site_dir: Path, layers: tuple[tuple[str, str], ...] = (("conv1", "conv"), ("fc", "dense"))
) -> dict:
    """A complete small site (as build_fake_site) whose every entry has fake activations
    (as fake_activations) with the given (name, kind) layers, in network order, each in its
    own region of the atlas, and no per-layer video (null, as zoo-site writes by default).
    The regions: gameplay the top-left 80x100 pixels, layer i the 80x50 right of it at
    y = 50 i. Returns the manifest."""
    site_dir = Path(site_dir)
    manifest = fake_manifest()
    write_fake_media(site_dir, manifest)
    for entry in manifest["entries"]:
        entry["activations"] = True
        details = fake_details(entry)
        acts = fake_activations(site_dir, entry)
        template = acts["layers"][0]
        acts["layers"] = [dict(template, name=name, kind=kind, video=None) for name, kind in layers]
        regions = {"gameplay": {"x": 0, "y": 0, "width": 80, "height": 100}}
        regions |= {name: {"x": 80, "y": 50 * i, "width": 80, "height": 50}
                    for i, (name, _) in enumerate(layers)}  # fmt: skip
        acts["atlas"]["regions"] = regions
        details["activations"] = acts
        fsutil.write_json(site_dir / entry["details"], details)
    write_pages(site_dir, manifest)
    return manifest
