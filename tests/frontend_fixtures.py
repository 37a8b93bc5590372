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
    media = f"media/{algo}/{game}/{run}/{tag}"
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
    fsutil.write_json(site_dir / "manifest.json", manifest)
    write_pages(site_dir, manifest, template_override=template_override)
    return manifest
