"""A simulated zoo the size of the atari-agents release, for the scale test and
benchmarks/scale_site.py: 25,500 entries (60 games; 51 checkpoints per run; 3 algorithms x 3
seeds on 20 games, 8 runs on the other 40), every entry's media the same small video and
poster. It is a simulation: no agent played; the site says so.

The site is made by the build's real catalog step: `build_manifest` over the entries and
their (shared) media, then `assemble` (media linked, every entry.json, the pages, the
entry pages, atomically swapped in), as `zoo-site build` does once the entries are done."""

from __future__ import annotations

import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image
from rich.console import Console

from zoo_site.build.publish import assemble
from zoo_site.build.report import Reporter
from zoo_site.build.summary import BuildSummary
from zoo_site.config import Config
from zoo_site.records import EntryMedia, EntryResult
from zoo_site.site.manifest import build_manifest
from zoo_site.sources.base import Entry

GAMES = (
    "Alien Amidar Assault Asterix Asteroids Atlantis BankHeist BattleZone BeamRider Berzerk "
    "Bowling Boxing Breakout Centipede ChopperCommand CrazyClimber DemonAttack DoubleDunk "
    "Enduro FishingDerby Freeway Frostbite Gopher Gravitar Hero IceHockey Jamesbond Kangaroo "
    "Krull KungFuMaster MontezumaRevenge MsPacman NameThisGame Phoenix Pitfall Pong "
    "PrivateEye Qbert Riverraid RoadRunner Robotank Seaquest Skiing Solaris SpaceInvaders "
    "StarGunner Tennis TimePilot Tutankham UpNDown Venture VideoPinball WizardOfWor "
    "YarsRevenge Zaxxon Adventure AirRaid Carnival ElevatorAction JourneyEscape"
).split()
ALGOS = ("DQN_modern", "C51_modern", "DQN_classic")
CHECKPOINTS = 51
STEPS = [i * 1_000_000 for i in range(CHECKPOINTS)]
FRAMES, WIDTH, HEIGHT = 16, 160, 210
MODERN = ("atari-agents-modern", "modern: sticky actions 0.25, an episode ends at game over")
CLASSIC = ("atari-agents-classic", "classic: up to 30 no-op starts, no sticky actions")
TITLE = "Simulation: 25,500 checkpoints"
NOTICE = "A simulation for scale tests: every entry shows the same short video; no agent played."


def runs_of(game_index: int) -> list[tuple[str, int]]:
    """(algo, seed) of a game: 3 algorithms x 3 seeds on the first 20 games, 8 runs after."""
    runs = [(algo, seed) for algo in ALGOS for seed in (0, 1, 2)]
    return runs if game_index < 20 else runs[:8]


def shared_media(folder: Path) -> Path:
    """The one media folder every entry links: a short H.264 video and its poster."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = np.zeros((FRAMES, HEIGHT, WIDTH, 3), np.uint8)
    for n in range(FRAMES):
        frames[n, 60:150, 8 * n : 8 * n + 8] = 255
    writer = imageio_ffmpeg.write_frames(str(folder / "gameplay.mp4"), (WIDTH, HEIGHT), fps=15,
                                         codec="libx264", pix_fmt_out="yuv420p",
                                         macro_block_size=1)  # fmt: skip
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    Image.fromarray(frames[FRAMES // 2]).save(folder / "poster.png")
    return folder


def entries(media: Path, count: int | None = None) -> list[tuple[Entry, EntryResult]]:
    """The simulated entries with their (shared) media; the first `count` if given."""
    steps = {"action_names": ["NOOP", "FIRE"], "actions": [n % 2 for n in range(FRAMES)],
             "action_source": "rollout", "greedy": None, "rewards": [0.0] * FRAMES,
             "score": [0.0] * FRAMES, "action_values": None}  # fmt: skip
    out = []
    for g, game in enumerate(GAMES):
        for algo, seed in runs_of(g):
            name, label = CLASSIC if algo.endswith("classic") else MODERN
            for i, step in enumerate(STEPS):
                entry = Entry(algo, game, seed, str(step), source="atari-agents",
                              algo_label=algo.replace("_", " (") + ")",
                              tag_label=f"{step // 1_000_000}M steps" if step else "0 steps",
                              tag_rank=step, training_step=step)  # fmt: skip
                returns = [float(i + seed + g % 7)] if i % 5 else []
                info = EntryMedia(
                    files=["gameplay.mp4", "poster.png"], frames=FRAMES, fps=15.0, width=WIDTH,
                    height=HEIGHT, scale=1, episode_returns=returns, score=float(i), steps=steps,
                    rollout={"source": "played", "protocol": name, "protocol_label": label,
                             "cache_file": None},
                )  # fmt: skip
                out.append((entry, EntryResult(entry.id, "reused", media_dir=media, media=info)))
                if count is not None and len(out) == count:
                    return out
    return out


def build_site(out: Path, work: Path, count: int | None = None) -> float:
    """Make the simulated site in `out` by the build's catalog step; return its seconds
    (the shared media are made first, outside the clock)."""
    built = entries(shared_media(work / "media"), count)
    zoo = work / "zoo"
    zoo.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.title, config.notice = TITLE, NOTICE
    reporter = Reporter(Console(quiet=True))
    start = time.perf_counter()
    manifest = build_manifest(config, [(e, r.media) for e, r in built], False)  # type: ignore[misc]
    summary = BuildSummary(out=out, cache=work / "cache", results=[r for _, r in built])
    assemble(out, manifest, built, [zoo], None, False, summary, reporter)
    return time.perf_counter() - start
