"""How fast zoo-site renders one entry, against the original zoo's way and against the floor.

One demo entry (Seaquest, the Ape-X convention: an NCHW graph, played for real; at least
2,500 steps, made once and cached in --work) is rendered three ways in one process, with
TensorFlow, moviepy and every zoo_site module imported before any clock starts:

- (a) ours: `run_entry` on a fresh cache: the rollout read and checked, activations in
  batches, gameplay + one video per layer + the atlas streamed to ffmpeg in one pass of
  vectorised numpy, strips, posters, per-step data.
- (b) reference: the same outputs made the way the original Atari Model Zoo made its
  activation movies: the graph run one observation per call; per-frame Python tiling (a
  loop per channel, unit and action) on canvases of one pixel per activation, scaled per
  channel over the rollout; one moviepy ImageSequenceClip per layer, `.resized` to our
  size, each written with `write_videofile`; the gameplay clip; the atlas composed with
  CompositeVideoClip at our layout's regions; posters with `save_frame`; strips and the
  outputs file with per-row loops and PIL.
- (c) floor: every frame of every video exactly as ours makes it, computed before the
  clock; only the piping to the same encoders (`zoo_site.media.render.sinks`, same specs) is
  timed. Nothing can render these videos faster without changing the encoder settings.

All three encode with libx264, the same preset, crf (`crf` for gameplay, `activation_crf`
for layers and atlas), GOP, yuv420p and fps. Each run checks that all three wrote the
same videos, of the same sizes, with one frame per step, and that the videos drawn alike
match ours frame by frame; any difference exits non-zero.

Run: python benchmarks/render.py [--steps 2500] [--work DIR]. The last line is JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from moviepy import CompositeVideoClip, ImageSequenceClip
from PIL import Image, ImageDraw

from zoo_site.analysis import activations
from zoo_site.build.entries import EntryTask, run_entry
from zoo_site.config import RenderConfig, RolloutConfig
from zoo_site.demo import DemoSpec, make_demo_zoo
from zoo_site.media.atlas import Canvas, layout
from zoo_site.media.render import CHUNK, chunks, poster_step, sinks, upscale, x264_params
from zoo_site.media.tiling import (
    BACKGROUND,
    LUT,
    BarsView,
    conv_scale,
    grid_shape,
    make_views,
    to_index,
)
from zoo_site.networks import load_network
from zoo_site.rollouts import npz as rollout

CFG = RenderConfig()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2500, help="rollout steps (default 2500)")
    parser.add_argument("--work", type=Path, default=Path(".zoo-site-cache/bench"))
    return parser.parse_args()


def demo_entry(work: Path, steps: int):
    from zoo_site.sources import read_catalog

    spec = DemoSpec(games=("Seaquest",), algos=("apex",), runs=(1,), tags=("final",), steps=steps)
    (entry,) = read_catalog(make_demo_zoo(work / "zoo", spec, jobs=1)).entries
    return entry


def timed(fn, *args) -> tuple[float, object]:
    start, stolen = time.perf_counter(), steal()
    result = fn(*args)
    STOLEN[fn.__name__] = steal() - stolen
    return time.perf_counter() - start, result


STOLEN: dict[str, float] = {}


def steal() -> float:
    """Seconds of CPU the hypervisor gave to others so far (Linux; 0 elsewhere): on a
    shared virtual machine this makes timings noisy, so the report states it."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


# ---- (a) ours ---------------------------------------------------------------------------


def ours(entry, cache: Path) -> Path:
    """zoo-site's whole render of the entry; returns its media folder."""
    result = run_entry(EntryTask(entry, cache, RenderConfig(), RolloutConfig()))
    assert result.status == "rendered", f"{result.status}: {result.error}\n{result.detail}"
    return result.media_dir


# ---- (b) the original zoo's way ---------------------------------------------------------


@dataclass
class Laps:
    """Named consecutive intervals of one timed run."""

    times: dict[str, float] = field(default_factory=dict)
    _last: float = field(default_factory=time.perf_counter)

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.times[name] = now - self._last
        self._last = now


@dataclass
class Panel:
    """One layer as the reference draws it: name, kind and final size (what `layout`
    reads), the grid, the rollout-wide scaling and one native-size picture per step."""

    name: str
    kind: str
    values: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    rows: int = 0
    cols: int = 0
    width: int = 0
    height: int = 0
    pictures: list[np.ndarray] = field(default_factory=list)


def reference(entry, out: Path) -> Laps:
    laps = Laps()
    ro = rollout.load(entry.rollout)
    obs = activations.load_observations(entry.rollout, ro.steps, ro.observations)
    network = load_network(entry.model)
    laps("read rollout, load graph")
    panels = per_step_activations(network, obs)
    laps("activations, one observation per call")
    names = ro.action_names or []
    for panel in panels:
        draw_panel(panel, ro.actions, names)
    laps("Python tiling, per frame")
    game, clips = write_videos(ro.frames, panels, out)
    laps("gameplay + layer videos (moviepy)")
    atlas = write_atlas(game, panels, clips, out)
    laps("atlas (CompositeVideoClip)")
    write_stills(game, atlas, panels, ro.steps, out)
    laps("posters, strips, outputs")
    for clip in [game, atlas, *clips.values()]:
        clip.close()
    return laps


def per_step_activations(network, obs: np.ndarray) -> list[Panel]:
    """Every layer, one network call per step (the original's batch_size=1), channels
    last; scaled per channel/unit (one range for the output) over the whole rollout."""
    per_step = [network.run(obs[i : i + 1]) for i in range(len(obs))]
    panels = []
    for spec in network.layers:
        name, kind = spec.name, spec.kind
        values = np.concatenate([step[name] for step in per_step])
        axes = {"conv": (0, 1, 2), "dense": 0, "output": None}[kind]
        panels.append(Panel(name, kind, values, values.min(axes), values.max(axes)))
    return panels


def draw_panel(panel: Panel, actions: np.ndarray, names: list[str]) -> None:
    """A picture per step, built by a Python loop over channels, units or actions."""
    units = panel.values.shape[-1]
    panel.rows, panel.cols = grid_shape(units)
    if panel.kind == "conv":
        scale = conv_scale(panel.values.shape[1])
        panel.pictures = [conv_picture(frame, panel) for frame in panel.values]
    elif panel.kind == "dense":
        scale = 1
        panel.pictures = [dense_picture(frame, panel) for frame in panel.values]
    else:
        scale = 1
        labels = [names[a] if a < len(names) else f"action {a}" for a in range(units)]
        panel.pictures = [bars_picture(frame, chosen, labels, panel)
                          for frame, chosen in zip(panel.values, actions, strict=True)]  # fmt: skip
    height, width = panel.pictures[0].shape[:2]
    panel.width, panel.height = width * scale, height * scale


def canvas(height: int, width: int) -> np.ndarray:
    out = np.empty((height, width, 3), np.uint8)
    out[:] = BACKGROUND
    return out


def conv_picture(frame: np.ndarray, panel: Panel) -> np.ndarray:
    """(h, w, c) -> a grid of c tiles, one pixel per activation, 1-pixel gaps."""
    h, w, channels = frame.shape
    out = canvas(panel.rows * (h + 1) - 1, panel.cols * (w + 1) - 1)
    for c in range(channels):
        row, col = divmod(c, panel.cols)
        y, x = row * (h + 1), col * (w + 1)
        out[y : y + h, x : x + w] = LUT[to_index(frame[:, :, c], panel.lo[c], panel.hi[c])]
    return out


def dense_picture(frame: np.ndarray, panel: Panel, cell: int = 8) -> np.ndarray:
    """(units,) -> a grid of cell x cell squares, drawn one unit at a time."""
    out = canvas(panel.rows * cell, panel.cols * cell)
    colours = LUT[to_index(frame, panel.lo, panel.hi)]
    for unit, colour in enumerate(colours):
        row, col = divmod(unit, panel.cols)
        out[row * cell : (row + 1) * cell, col * cell : (col + 1) * cell] = colour
    return out


def bars_picture(frame: np.ndarray, chosen: int, labels: list[str], panel: Panel) -> np.ndarray:
    """(actions,) -> a labelled bar per action, drawn with PIL, the chosen one in orange."""
    rows, bar, label = BarsView.ROW, BarsView.BAR, BarsView.LABEL
    image = Image.fromarray(canvas(len(frame) * rows, label + bar))
    draw = ImageDraw.Draw(image)
    for a, value in enumerate(frame):
        y = a * rows
        draw.text((4, y + 2), labels[a][:16], fill=(220, 220, 220))
        length = int(to_index(value, panel.lo, panel.hi)) * bar // 255
        colour = BarsView.CHOSEN if a == chosen else BarsView.OTHER
        if length:
            draw.rectangle((label, y + 2, label + length - 1, y + rows - 3),
                           fill=tuple(int(c) for c in colour))  # fmt: skip
    return np.asarray(image)


def clip_of(pictures: list[np.ndarray], size: tuple[int, int]):
    """An ImageSequenceClip, resized (as the original did) when drawn at native size.

    Two moviepy 2.2 timing bugs are corrected, at no cost: its image start times come out
    as float32 under NumPy 2, so at the float64 times t = i / fps it writes about half of
    the frames show the previous image (and steps go missing); and its duration, a sum
    of 1/fps, falls just short of steps / fps, which drops the last frame.
    """
    clip = ImageSequenceClip(pictures, fps=CFG.fps)
    clip.images_starts = [i / CFG.fps - 1e-9 for i in range(len(pictures))]
    clip = clip.with_duration(len(pictures) / CFG.fps)
    height, width = pictures[0].shape[:2]
    return clip if (width, height) == size else clip.resized(new_size=size)


def write_videos(frames: np.ndarray, panels: list[Panel], out: Path):
    h, w = frames.shape[1:3]
    game = clip_of(list(frames), (w * CFG.scale, h * CFG.scale))
    write(game, out / "gameplay.mp4", CFG.crf)
    clips = {}
    for panel in panels:
        clips[panel.name] = clip_of(panel.pictures, (panel.width, panel.height))
        write(clips[panel.name], out / f"layer-{panel.name}.mp4", CFG.activation_crf)
    return game, clips


def write_atlas(game, panels: list[Panel], clips: dict, out: Path):
    regions, size = layout(tuple(game.size), panels)
    placed = [(game if r.name == "gameplay" else clips[r.name]).with_position((r.x, r.y))
              for r in regions]  # fmt: skip
    atlas = CompositeVideoClip(placed, size=size, bg_color=tuple(int(c) for c in BACKGROUND))
    write(atlas, out / "atlas.mp4", CFG.activation_crf)
    return atlas


def moviepy_params(crf: int) -> list[str]:
    """Our x264 settings as moviepy's ffmpeg_params (it adds -preset and the format)."""
    ours = x264_params(CFG, crf)
    drop = {ours.index("-preset"), ours.index("-f")}
    params = [v for i, v in enumerate(ours) if i not in drop and i - 1 not in drop]
    return [*params, "-pix_fmt", "yuv420p"]


def write(clip, path: Path, crf: int) -> None:
    clip.write_videofile(str(path), fps=CFG.fps, codec="libx264", preset=CFG.preset,
                         ffmpeg_params=moviepy_params(crf), audio=False, logger=None)  # fmt: skip


def write_stills(game, atlas, panels: list[Panel], steps: int, out: Path) -> None:
    t = poster_step(steps) / CFG.fps
    game.save_frame(str(out / "poster.png"), t=t)
    atlas.save_frame(str(out / "atlas-poster.png"), t=t)
    for panel in panels:
        Image.fromarray(strip_picture(panel)).save(out / f"strip-{panel.name}.png")
    output = panels[-1].values.astype("<f4")
    (out / "outputs.f32").write_bytes(output.tobytes())


def strip_picture(panel: Panel) -> np.ndarray:
    """Units x time, one row at a time: a conv channel's spatial mean, or a unit's value."""
    units = panel.values.shape[-1]
    row_height = max(1, 128 // units)
    rows = []
    for u in range(units):
        if panel.kind == "conv":
            row = panel.values[..., u].mean(axis=(1, 2))
            lo, hi = row.min(), row.max()
        else:
            row = panel.values[:, u]
            lo, hi = (panel.lo, panel.hi) if panel.kind == "output" else (panel.lo[u], panel.hi[u])
        rows.extend([LUT[to_index(row, lo, hi)]] * row_height)
    return np.stack(rows)


# ---- (c) the floor ------------------------------------------------------------------------


def floor_inputs(entry, out: Path) -> tuple[dict, list[dict]]:
    """The sinks' specs (as `render_all` opens them) and every chunk of every video,
    exactly as `render_all` makes them, in memory and contiguous."""
    ro = rollout.load(entry.rollout)
    obs = activations.load_observations(entry.rollout, ro.steps, ro.observations)
    acts = activations.compute(load_network(entry.model), obs, entry.model.path)
    views = make_views(acts.layers, ro.action_names or [], ro.actions)
    h, w = ro.frames.shape[1:3]
    game_size = (w * CFG.scale, h * CFG.scale)
    regions, atlas_size = layout(game_size, views)
    specs = {"gameplay": (out / "gameplay.mp4", game_size)}
    specs |= {v.name: (out / f"layer-{v.name}.mp4", (v.width, v.height), CFG.activation_crf)
              for v in views}  # fmt: skip
    specs["atlas"] = (out / "atlas.mp4", atlas_size, CFG.activation_crf)
    board = Canvas(regions, atlas_size, CHUNK)
    batches = []
    for start, stop in chunks(ro.steps):
        images = {"gameplay": upscale(ro.frames[start:stop], CFG.scale)}
        images |= {v.name: np.ascontiguousarray(v.frames(start, stop)) for v in views}
        images["atlas"] = board.compose(images).copy()
        batches.append(images)
    return specs, batches


def floor(specs: dict, batches: list[dict]) -> None:
    with sinks(specs, CFG) as out:
        for images in batches:
            for name, chunk in images.items():
                out[name].send(chunk)


# ---- checks and report ----------------------------------------------------------------------


def videos(folder: Path) -> dict[str, tuple[int, tuple[int, int]]]:
    """{file name: (decoded frame count, (width, height))} of every mp4 in `folder`."""
    found = {}
    for path in sorted(folder.glob("*.mp4")):
        reader = imageio_ffmpeg.read_frames(str(path))
        size = tuple(next(reader)["size"])
        reader.close()
        found[path.name] = (imageio_ffmpeg.count_frames_and_secs(str(path))[0], size)
    return found


def problems(media: Path, ref: Path, flo: Path, steps: int) -> list[str]:
    """What differs between the three renders (nothing, when all is well)."""
    found = {"ours": videos(media), "reference": videos(ref), "floor": videos(flo)}
    wrong = [f"{who} has no videos" for who, v in found.items() if not v]
    for who, vids in found.items():
        if vids.keys() != found["ours"].keys():
            wrong.append(f"{who} wrote {sorted(vids)}, ours wrote {sorted(found['ours'])}")
        for name, (count, size) in vids.items():
            if count != steps:
                wrong.append(f"{who}/{name}: {count} frames for {steps} steps")
            if name in found["ours"] and size != found["ours"][name][1]:
                wrong.append(f"{who}/{name}: size {size}, ours {found['ours'][name][1]}")
    stills = {p.name for p in media.iterdir() if p.suffix in (".png", ".f32")}
    missing = stills - {p.name for p in ref.iterdir()}
    if missing:
        wrong.append(f"reference lacks {sorted(missing)}")
    return wrong or same_pictures(media, {"reference": ref, "floor": flo})


#: Videos all three draw at the same size with no resize: their pictures must match ours
#: step by step (a misplaced or repeated frame differs by far more than this).
UNRESIZED, TOLERANCE = ("layer-fc.mp4", "layer-output.mp4"), 1.0


def same_pictures(media: Path, others: dict[str, Path]) -> list[str]:
    wrong = []
    for who, folder in others.items():
        for name in UNRESIZED:
            worst = max(frame_differences(media / name, folder / name))
            if worst > TOLERANCE:
                wrong.append(f"{who}/{name}: a frame differs from ours by {worst:.1f} on average")
    return wrong


def frame_differences(a: Path, b: Path):
    """Mean absolute difference of each pair of frames of two videos of one size."""
    readers = [imageio_ffmpeg.read_frames(str(a)), imageio_ffmpeg.read_frames(str(b))]
    for reader in readers:
        next(reader)  # the metadata
    for x, y in zip(*readers, strict=True):
        x, y = (np.frombuffer(f, np.uint8).astype(np.int16) for f in (x, y))
        yield np.abs(x - y).mean()


def report(seconds: dict[str, float], laps: Laps, steps: int, n_videos: int) -> dict:
    a, b, c = seconds["ours"], seconds["reference"], seconds["floor"]
    print(f"Rendering one entry: {steps} steps, {n_videos} videos; {os.cpu_count()} cores")
    print(f"  (a) ours       {a:8.1f} s")
    print(f"  (b) reference  {b:8.1f} s    reference / ours = {b / a:6.2f}   (hoped: >= 10)")
    for name, lap in laps.times.items():
        print(f"        {lap:8.1f} s  {name}")
    print(f"  (c) floor      {c:8.1f} s    ours / floor     = {a / c:6.2f}   (hoped: <= 1.5)")
    stolen = ", ".join(f"{k} {v:.1f} s" for k, v in STOLEN.items())
    print(f"  CPU time stolen by the hypervisor (noise): {stolen}")
    return {
        "ours_s": round(a, 3),
        "reference_s": round(b, 3),
        "floor_s": round(c, 3),
        "reference_over_ours": round(b / a, 3),
        "ours_over_floor": round(a / c, 3),
        "steps": steps,
    }


def main() -> int:
    args = parse_args()
    from zoo_site.networks.tfload import tensorflow

    tensorflow()  # imported warm: no measurement includes TensorFlow's import
    entry = demo_entry(args.work, args.steps)
    steps = len(rollout.load(entry.rollout, observations=False).frames)
    ours_dir, ref_dir, floor_dir = (fresh(args.work / k) for k in ("ours", "reference", "floor"))
    seconds = {}
    seconds["ours"], media = timed(ours, entry, ours_dir)
    seconds["reference"], laps = timed(reference, entry, ref_dir)
    gc.collect()  # (b)'s pictures and clips are gone before (c)'s frames are made
    specs, batches = floor_inputs(entry, floor_dir)
    seconds["floor"], _ = timed(floor, specs, batches)
    del batches
    gc.collect()
    wrong = problems(media, ref_dir, floor_dir, steps)
    figures = report(seconds, laps, steps, len(specs))
    if wrong:
        print("the three renders differ:", *wrong, sep="\n  ", file=sys.stderr)
        return 1
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
