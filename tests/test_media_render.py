"""What the renderer sends its encoders and writes beside them, checked without a network:
only the site's two videos by default (a layer video is exactly its atlas crop), posters of
a representative step (never a blank screen when the rollout has another), palette PNGs."""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zoo_site.config import RenderConfig
from zoo_site.media import atlas as atlas_module
from zoo_site.media.atlas import render_all
from zoo_site.media.poster import BLANK, POSTER_CANDIDATES, content, poster_step
from zoo_site.media.render import Planes, planes_of, upscale, yuv_of
from zoo_site.media.tiling import BACKGROUND, LUT, BarsView, ConvView, DenseView, strip
from zoo_site.site.manifest import read_manifest

STEPS = 150  # more than two chunks of CHUNK steps, the last one short


def game_frames(steps: int = STEPS, seed: int = 0) -> np.ndarray:
    """Atari-like screens: a few flat colours and a sprite that moves every step."""
    rng = np.random.default_rng(seed)
    frames = np.zeros((steps, 210, 160, 3), np.uint8)
    frames[:, :40] = (24, 26, 168)
    frames[:, 180:] = rng.integers(0, 255, 3, dtype=np.uint8)
    for n in range(steps):
        frames[n, 100:110, (n * 3) % 150 : (n * 3) % 150 + 10] = (252, 252, 84)
    return frames


def views(steps: int = STEPS) -> list:
    rng = np.random.default_rng(1)
    return [
        ConvView("conv1", "a", rng.normal(size=(steps, 20, 20, 32)).astype(np.float32), 2),
        ConvView("conv2", "b", rng.normal(size=(steps, 9, 9, 64)).astype(np.float32), 2),
        DenseView("fc", "c", rng.normal(size=(steps, 512)).astype(np.float32)),
        BarsView("output", "d", rng.normal(size=(steps, 6)).astype(np.float32),
                 ["NOOP", "FIRE", "UP", "RIGHT", "LEFT", "DOWN"], rng.integers(0, 6, steps)),
    ]  # fmt: skip


class Recorder:
    """Stands in for an encoder: keeps a copy of every chunk (yuv420p Planes) it is sent."""

    def __init__(self, path: Path, size: tuple[int, int]):
        self.path, self.size, self.chunks = Path(path), size, []

    @property
    def count(self) -> int:
        return sum(len(c) for c in self.chunks)

    def send(self, chunk: Planes) -> None:
        assert chunk.size == self.size, (self.path.name, chunk.size, self.size)
        self.chunks.append(np.array(chunk.data))

    def frames(self) -> Planes:
        return Planes(np.concatenate(self.chunks), self.size)

    def info(self, fps):
        return None


@pytest.fixture
def recorded(monkeypatch):
    """render_all with its encoders replaced by Recorders: {video name: Recorder}."""
    opened: dict[str, Recorder] = {}

    @contextlib.contextmanager
    def fake_sinks(specs, cfg):
        opened.update({name: Recorder(spec[0], spec[1]) for name, spec in specs.items()})
        yield opened

    monkeypatch.setattr(atlas_module, "sinks", fake_sinks)
    return opened


def crop(frames: np.ndarray, r: dict) -> np.ndarray:
    return frames[:, r["y"] : r["y"] + r["height"], r["x"] : r["x"] + r["width"]]


def crop_planes(planes: Planes, r: dict) -> Planes:
    return planes.crop(r["x"], r["y"], r["width"], r["height"])


def test_only_gameplay_and_atlas_are_encoded_by_default(recorded, tmp_path):
    """Each is exactly the yuv420p conversion of the RGB picture (write_yuv): gameplay the
    upscaled frames, each atlas region its view's picture."""
    frames, vs = game_frames(), views()
    media = render_all(frames, vs, tmp_path, RenderConfig())
    assert sorted(recorded) == ["atlas", "gameplay"]
    assert [layer["video"] for layer in media["layers"]] == [None] * len(vs)
    assert media["layer_frames"] == {}
    gameplay, atlas = recorded["gameplay"].frames(), recorded["atlas"].frames()
    assert len(gameplay) == len(atlas) == media["atlas_frames"] == STEPS
    np.testing.assert_array_equal(gameplay.data, Planes.of(upscale(frames, 2)).data)
    regions = media["atlas"]["regions"]
    np.testing.assert_array_equal(crop_planes(atlas, regions["gameplay"]).data, gameplay.data)
    for view in vs:  # each region drawn in place is the view's own picture, exactly
        want = Planes.of(view.frames(0, STEPS)).data
        np.testing.assert_array_equal(crop_planes(atlas, regions[view.name]).data, want)
    assert (atlas.y[:, 0, -1] == yuv_of(BACKGROUND)[0]).all()  # the background, top right


def test_layer_videos_are_exactly_the_atlas_crops(recorded, tmp_path):
    vs = views()
    media = render_all(game_frames(), vs, tmp_path, RenderConfig(layer_videos=True))
    assert sorted(recorded) == sorted(["atlas", "gameplay", *(v.name for v in vs)])
    assert [layer["video"] for layer in media["layers"]] == [f"layer-{v.name}.mp4" for v in vs]
    assert media["layer_frames"] == {v.name: STEPS for v in vs}
    atlas = recorded["atlas"].frames()
    for view in vs:
        assert recorded[view.name].path.name == f"layer-{view.name}.mp4"
        own = recorded[view.name].frames().data
        np.testing.assert_array_equal(
            own, crop_planes(atlas, media["atlas"]["regions"][view.name]).data
        )
        np.testing.assert_array_equal(own, Planes.of(view.frames(0, STEPS)).data)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_gameplay_planes_are_the_conversion_of_the_upscaled_frames(scale):
    frames = np.random.default_rng(4).integers(0, 255, (5, 6, 8, 3), dtype=np.uint8)
    got = planes_of(frames, scale)
    assert got.size == (8 * scale, 6 * scale)
    np.testing.assert_array_equal(got.data, Planes.of(upscale(frames, scale)).data)


def test_yuv_is_bt601_limited_range_the_float_formula_rounded():
    rgb = np.random.default_rng(5).integers(0, 256, (4096, 3), dtype=np.uint8)
    r, g, b = (rgb[:, i].astype(float) for i in range(3))
    want = [16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255,
            128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255,
            128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255]  # fmt: skip
    for got, exact in zip(yuv_of(rgb), want, strict=True):
        assert np.abs(got - exact).max() <= 0.5 + 5e-3  # 16-bit fixed point: at a tie, ±
    black, white = yuv_of(np.array([[0, 0, 0], [255, 255, 255]], np.uint8))[0]
    assert (black, white) == (16, 235)


def test_every_view_draws_its_yuv_as_the_conversion_of_its_picture():
    for view in views(40):
        want = Planes.of(view.frames(0, 40))
        got = Planes.empty(40, (view.width, view.height))
        got.fill(BACKGROUND)
        view.draw_yuv(0, 40, got.y, got.u, got.v)
        np.testing.assert_array_equal(got.data, want.data, err_msg=view.name)


def black_middle(steps: int = STEPS) -> np.ndarray:
    """A rollout whose middle third is a black screen (a game between lives)."""
    frames = game_frames(steps)
    frames[steps // 3 : 2 * steps // 3] = 0
    return frames


def test_poster_of_a_rollout_with_a_black_middle_is_not_black():
    frames = black_middle()
    steps, step = len(frames), poster_step(frames)
    assert content(frames[step][None])[0] > BLANK
    assert content(frames[steps // 2][None])[0] == 0  # what the poster used to show
    assert not (steps // 3 <= step < 2 * steps // 3)
    # Of the candidate steps spread over the rollout, the non-blank one nearest the middle.
    candidates = np.linspace(0, steps - 1, POSTER_CANDIDATES).round().astype(int)
    shown = candidates[content(frames[candidates]) > BLANK]
    assert step in shown
    assert abs(step - steps // 2) == np.abs(shown - steps // 2).min()


def test_poster_is_the_middle_when_the_middle_is_a_good_frame():
    frames = game_frames()
    assert poster_step(frames) == STEPS // 2


def test_poster_is_deterministic_and_depends_on_the_pixels_only():
    frames = black_middle()
    steps = {poster_step(frames), poster_step(frames.copy()), poster_step(black_middle())}
    assert len(steps) == 1


def test_poster_finds_the_only_non_blank_frame():
    """Every frame black but one that no candidate hits: every step is searched."""
    steps = 1000
    frames = np.zeros((steps, 21, 16, 3), np.uint8)
    candidates = set(np.linspace(0, steps - 1, POSTER_CANDIDATES).round().astype(int))
    lone = next(n for n in range(700, steps) if n not in candidates)
    frames[lone, 5:9, 4:8] = 200
    assert poster_step(frames) == lone
    assert poster_step(np.zeros((steps, 21, 16, 3), np.uint8)) == steps // 2  # all blank
    assert poster_step(np.full((steps, 21, 16, 3), 90, np.uint8)) == steps // 2  # one colour


def test_a_flashing_frame_does_not_win_over_ordinary_ones():
    """At least half the best candidate's content is enough: the middle stays."""
    frames = game_frames()
    frames[0] = np.random.default_rng(2).integers(0, 255, frames[0].shape, dtype=np.uint8)
    assert poster_step(frames) == STEPS // 2


def test_posters_show_the_same_step_and_are_byte_identical_on_rebuild(tmp_path):
    frames, vs = black_middle(), views()
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    media = render_all(frames, vs, first, RenderConfig())
    render_all(frames, vs, second, RenderConfig())
    for name in ("poster.png", "atlas-poster.png", "gameplay.mp4", "atlas.mp4"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    step = poster_step(frames)
    poster = np.asarray(Image.open(first / "poster.png").convert("RGB"))
    np.testing.assert_array_equal(poster, upscale(frames[step][None], 2)[0])
    atlas = np.asarray(Image.open(first / "atlas-poster.png").convert("RGB"))[None]
    regions = media["atlas"]["regions"]
    np.testing.assert_array_equal(crop(atlas, regions["gameplay"])[0], poster)
    for view in vs:
        np.testing.assert_array_equal(
            crop(atlas, regions[view.name])[0], view.frames(step, step + 1)[0]
        )


def test_strips_are_palette_pngs_of_the_exact_colours(recorded, tmp_path):
    vs = views()
    media = render_all(game_frames(), vs, tmp_path, RenderConfig())
    for view, layer in zip(vs, media["layers"], strict=True):
        image = Image.open(tmp_path / layer["strip"]["image"])
        assert image.mode == "P"
        indices, _ = strip(view)
        np.testing.assert_array_equal(np.asarray(image.convert("RGB")), LUT[indices])
    assert Image.open(tmp_path / "poster.png").mode == "P"  # an Atari screen: few colours


def test_demo_posters_show_content_and_agree(demo_site):
    """In the built demo site every poster shows a screen with something on it, and the
    atlas poster's gameplay region is the entry's poster, pixel for pixel (one step)."""
    import json

    manifest = read_manifest(demo_site)
    for entry in manifest["entries"]:
        poster = np.asarray(Image.open(demo_site / entry["poster"]).convert("RGB"))
        assert content(poster[None])[0] > BLANK, entry["id"]
        details = json.loads((demo_site / entry["details"]).read_text())
        atlas = details["activations"]["atlas"]
        image = np.asarray(Image.open(demo_site / atlas["poster"]).convert("RGB"))[None]
        np.testing.assert_array_equal(crop(image, atlas["regions"]["gameplay"])[0], poster)


def test_upscale_is_nearest_neighbour():
    frames = np.random.default_rng(3).integers(0, 255, (3, 5, 7, 3), dtype=np.uint8)
    for scale in (1, 2, 3):
        want = np.kron(frames, np.ones((1, scale, scale, 1), np.uint8))
        np.testing.assert_array_equal(upscale(frames, scale), want)


def test_canvas_buffers_are_reused_and_repainted_for_another_layout():
    from zoo_site.media.atlas import Canvas, Region, _give_buffers

    key, first = (2, (32, 16)), [Region("gameplay", 0, 0, 8, 8)]
    old = [Planes(np.full((2, 32 * 16 * 3 // 2), 7, np.uint8), (32, 16)) for _ in range(4)]
    _give_buffers(key, old, first)
    same = Canvas(first, (32, 16), 2)  # the same layout: kept as they are
    assert all(a is b for a, b in zip(same.buffers, old, strict=True))
    assert (same.buffers[0].data == 7).all()
    same.release()
    other = Canvas([Region("gameplay", 8, 0, 8, 8)], (32, 16), 2)
    assert all(a is b for a, b in zip(other.buffers, old, strict=True))
    background = Planes.empty(2, (32, 16))
    background.fill(BACKGROUND)
    assert all((b.data == background.data).all() for b in other.buffers)
    other.release()
    assert Canvas(first, (34, 16), 2).buffers[0] is not old[0]  # another size: new buffers


def test_consecutive_renders_reusing_the_canvas_draw_only_their_own_pictures(recorded, tmp_path):
    frames = game_frames()
    render_all(frames, views(), tmp_path, RenderConfig())
    second = views()
    for view in second:
        view.values = -view.values  # other pictures, the same layout
    recorded.clear()
    media = render_all(frames, second, tmp_path, RenderConfig())
    atlas = recorded["atlas"].frames()
    for view in second:
        got = crop_planes(atlas, media["atlas"]["regions"][view.name]).data
        np.testing.assert_array_equal(got, Planes.of(view.frames(0, STEPS)).data)
