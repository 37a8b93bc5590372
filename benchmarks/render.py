"""How fast zoo-site renders one entry, against the original zoo's way and against the floor.

One demo entry of at least 2,500 steps (the Ape-X convention, NCHW, played for real) is
rendered three ways in the same run, TensorFlow already imported:

- (a) ours: `run_entry` on a fresh cache: activations in batches, every video in one pass
  of vectorised numpy streamed to ffmpeg, strips, posters;
- (b) reference: the way the original Atari Model Zoo made its movies: activations one
  observation per call, per-frame Python tiling (a loop per channel, unit and action),
  a moviepy ImageSequenceClip per layer, the atlas composed with CompositeVideoClip;
- (c) floor: our final frames already in memory, only piped to the same encoders with the
  same settings.

Run: python benchmarks/render.py [--steps 2500] [--work DIR]. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from zoo_site.catalog import read_catalog
from zoo_site.config import RenderConfig, RolloutConfig
from zoo_site.demo import DemoSpec, make_demo_zoo


def demo_entry(work: Path, steps: int):
    spec = DemoSpec(games=("Seaquest",), algos=("apex",), runs=(1,), tags=("final",), steps=steps)
    zoo = make_demo_zoo(work / f"zoo-{steps}", spec, jobs=1)
    (entry,) = read_catalog(zoo).entries
    return entry


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


# ---- (a) ours ---------------------------------------------------------------------------


def ours(entry, out: Path) -> dict:
    from zoo_site.entries import EntryTask, run_entry

    shutil.rmtree(out, ignore_errors=True)
    result = run_entry(EntryTask(entry, out, RenderConfig(), RolloutConfig()))
    assert result.status == "rendered", result.error
    return result.info


# ---- shared inputs --------------------------------------------------------------------


def inputs(entry):
    from zoo_site import activations, rollout
    from zoo_site.graphs import load_runner

    ro = rollout.load(entry.rollout)
    runner = load_runner(entry.model, entry.algo, every_layer=True)
    obs = activations.load_observations(entry.rollout, ro.steps)
    return ro, runner, obs


def our_views(ro, runner, obs):
    from zoo_site import activations
    from zoo_site.tiling import make_views

    acts = activations.compute(runner, obs, Path("model.pb"))
    return make_views(acts.layers, ro.action_names, ro.actions)


# ---- (b) the original zoo's way ---------------------------------------------------------


def reference(entry, out: Path) -> None:
    from moviepy import ColorClip, CompositeVideoClip, ImageSequenceClip

    from zoo_site.atlas import layout
    from zoo_site.render import x264_params

    cfg = RenderConfig()
    ro, runner, obs = inputs(entry)
    per_step = [runner(obs[i : i + 1]) for i in range(len(obs))]  # one call per step
    layers = [np.concatenate([s[j] for s in per_step]) for j in range(len(per_step[0]))]
    layers = [np.transpose(v, (0, 2, 3, 1)) if v.ndim == 4 else v for v in layers]  # NCHW
    views = our_views(ro, runner, obs)  # only for sizes, names and the atlas layout
    clips = {}
    for view, values in zip(views, layers, strict=True):
        frames = [_python_picture(view, values, ro.actions, ro.action_names, n)
                  for n in range(len(values))]  # fmt: skip
        clip = ImageSequenceClip(frames, fps=cfg.fps)
        if clip.size != [view.width, view.height]:  # as the original: resize the clip
            clip = clip.resized(new_size=(view.width, view.height))
        clips[view.name] = clip
    game = ImageSequenceClip(list(ro.frames), fps=cfg.fps).resized(cfg.scale)
    clips["gameplay"] = game
    out.mkdir(parents=True, exist_ok=True)
    for name, clip in clips.items():
        crf = cfg.crf if name == "gameplay" else cfg.activation_crf
        _write(clip, out / f"{name}.mp4", cfg, crf, x264_params)
    regions, size = layout(game.size, views)
    placed = [clips[r.name].with_position((r.x, r.y)) for r in regions]
    atlas = CompositeVideoClip([ColorClip(size, color=(18, 18, 24), duration=game.duration),
                                *placed], size=size)  # fmt: skip
    _write(atlas, out / "atlas.mp4", cfg, cfg.activation_crf, x264_params)


def _write(clip, path: Path, cfg: RenderConfig, crf: int, x264_params) -> None:
    params = x264_params(cfg, crf)
    keep = params[params.index("-crf") : params.index("-movflags") + 2]
    clip.write_videofile(str(path), fps=cfg.fps, codec="libx264", preset=cfg.preset, audio=False,
                         ffmpeg_params=[*keep, "-pix_fmt", "yuv420p"], logger=None)  # fmt: skip


def _python_picture(view, values, actions, names, n: int) -> np.ndarray:
    """One frame of one layer as the original utils drew it: a native-size canvas (one
    pixel per activation, 1-pixel padding) filled by a loop over tiles; moviepy resizes."""
    from zoo_site.tiling import BACKGROUND, LUT, to_index

    if view.kind == "output":
        canvas = np.empty((view.height, view.width, 3), np.uint8)
        canvas[:] = BACKGROUND
        return _python_bars(view, values[n], actions[n], names, canvas)
    rows, cols = view.rows, view.cols
    th, tw = (values.shape[1], values.shape[2]) if view.kind == "conv" else (1, 1)
    canvas = np.empty((rows * (th + 1) - 1, cols * (tw + 1) - 1, 3), np.uint8)
    canvas[:] = BACKGROUND
    for c in range(values.shape[-1]):
        row, col = divmod(c, cols)
        if view.kind == "conv":
            tile = to_index(values[n, :, :, c], view.lo[c], view.hi[c])
        else:
            tile = to_index(values[n, c : c + 1], view.lo[c], view.hi[c]).reshape(1, 1)
        y, x = row * (th + 1), col * (tw + 1)
        canvas[y : y + th, x : x + tw] = LUT[tile]
    return canvas


def _python_bars(view, values, chosen, names, canvas) -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    span = max(float(view.hi - view.lo), 1e-12)
    for a, value in enumerate(values):
        y = a * view.ROW
        draw.text((4, y + 2), names[a][:16], fill=(220, 220, 220))
        length = int((value - view.lo) / span * view.BAR)
        colour = (255, 166, 0) if a == chosen else (72, 140, 230)
        draw.rectangle((view.LABEL, y + 2, view.LABEL + length, y + view.ROW - 3), fill=colour)
    return np.asarray(image)


# ---- (c) the floor ------------------------------------------------------------------------


def floor_frames(entry):
    """Every chunk of every video exactly as `render_all` makes them, in memory."""
    from zoo_site.atlas import Canvas, layout
    from zoo_site.render import CHUNK, chunks, upscale

    cfg = RenderConfig()
    ro, runner, obs = inputs(entry)
    views = our_views(ro, runner, obs)
    game_size = (ro.frames.shape[2] * cfg.scale, ro.frames.shape[1] * cfg.scale)
    regions, atlas_size = layout(game_size, views)
    canvas = Canvas(regions, atlas_size, CHUNK)
    sizes = {"gameplay": (game_size, cfg.crf), "atlas": (atlas_size, cfg.activation_crf)}
    sizes |= {v.name: ((v.width, v.height), cfg.activation_crf) for v in views}
    batches = []
    for start, stop in chunks(ro.steps):
        images = {"gameplay": upscale(ro.frames[start:stop], cfg.scale).copy()}
        images |= {v.name: v.frames(start, stop) for v in views}
        images["atlas"] = canvas.compose(images).copy()
        batches.append(images)
    return sizes, batches


def floor(sizes, batches, out: Path) -> None:
    from zoo_site.render import sinks

    out.mkdir(parents=True, exist_ok=True)
    specs = {name: (out / f"{name}.mp4", size, crf) for name, (size, crf) in sizes.items()}
    with sinks(specs, RenderConfig()) as sink:
        for images in batches:
            for name, chunk in images.items():
                sink[name].send(chunk)


# ---- checks and report ----------------------------------------------------------------------


def frame_counts(folder: Path) -> dict[str, int]:
    import imageio_ffmpeg

    return {p.stem.removeprefix("layer-"): imageio_ffmpeg.count_frames_and_secs(str(p))[0]
            for p in sorted(folder.glob("*.mp4"))}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--work", type=Path, default=Path(".zoo-site-cache/bench"))
    args = parser.parse_args()
    from zoo_site.tfload import tensorflow

    tensorflow()  # warm: no measurement includes TensorFlow's import
    entry = demo_entry(args.work, args.steps)
    ours_s, info = timed(ours, entry, args.work / "ours")
    (ours_dir,) = (args.work / "ours" / "media").iterdir()
    reference_s, _ = timed(reference, entry, args.work / "reference")
    sizes, batches = floor_frames(entry)
    floor_s, _ = timed(floor, sizes, batches, args.work / "floor")
    del batches
    counts = [frame_counts(d) for d in (ours_dir, args.work / "reference", args.work / "floor")]
    n = info["frames"]
    # moviepy's frame timing (t = i / fps up to the duration) can lose the last frame.
    if (
        set(counts[0].values()) != {n}
        or set(counts[2].values()) != {n}
        or (not set(counts[1].values()) <= {n, n - 1} or counts[1].keys() != counts[0].keys())
    ):
        print("frame counts differ:", counts, file=sys.stderr)
        return 1
    if set(counts[1].values()) != {n}:
        print(f"note: the moviepy reference wrote {min(counts[1].values())} frames for {n} steps")
    figures = {
        "ours_s": round(ours_s, 3),
        "reference_s": round(reference_s, 3),
        "floor_s": round(floor_s, 3),
        "reference_over_ours": round(reference_s / ours_s, 3),
        "ours_over_floor": round(ours_s / floor_s, 3),
        "steps": info["frames"],
    }
    print(f"steps {info['frames']}, videos per entry {len(counts[0])}, cores {os.cpu_count()}")
    print(f"(a) ours       {ours_s:9.1f} s")
    print(f"(b) reference  {reference_s:9.1f} s   reference/ours = {reference_s / ours_s:.1f}")
    print(f"(c) floor      {floor_s:9.1f} s   ours/floor     = {ours_s / floor_s:.2f}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
