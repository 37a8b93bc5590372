"""Activations: the pictures on the site are the graph's real layer outputs, frame n = step n."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from mediacheck import decode
from PIL import Image

from zoo_site.analysis import activations
from zoo_site.media.render import upscale
from zoo_site.media.tiling import LUT, make_views, to_index
from zoo_site.networks import load_network
from zoo_site.sources.base import ModelRef

ROOT = Path(__file__).resolve().parents[1]
PICKED = ["apex/Seaquest/2/final", "dqn/Breakout/1/initial"]  # NCHW and NHWC conventions


def entry_json(site: Path, entry_id: str) -> dict:
    algo, game, run, tag = entry_id.split("/")
    return json.loads((site / "a" / algo / game / run / tag / "entry.json").read_text())


def model_and_rollout(zoo: Path, entry_id: str) -> tuple[Path, Path]:
    algo, game, run, tag = entry_id.split("/")
    folder = zoo / algo / f"{game}NoFrameskip-v4"
    return folder / f"model{run}_{tag}.pb", folder / f"model{run}_{tag}_rollout.npz"


def network(model: Path, entry_id: str):
    return load_network(ModelRef(model, "frozen_graph", entry_id.split("/")[0]))


def independent_layers(zoo: Path, entry_id: str, steps: list[int]) -> list[list[np.ndarray]]:
    """Re-run the frozen graph on single observations, one call per step."""
    model, ro = model_and_rollout(zoo, entry_id)
    net = network(model, entry_id)
    with np.load(ro) as npz:
        obs = npz["observations"]
    return [[v for v in net.run(obs[s : s + 1]).values()] for s in steps]


@pytest.fixture(scope="module")
def pipeline_acts(demo_zoo):
    """What the build computes: every layer for every step, batched."""
    result = {}
    for entry_id in PICKED:
        model, ro = model_and_rollout(demo_zoo, entry_id)
        steps = len(np.load(ro)["frames"])
        result[entry_id] = activations.compute(
            network(model, entry_id), activations.load_observations(ro, steps), model
        )
    return result


@pytest.mark.parametrize("entry_id", PICKED)
def test_batched_activations_equal_independent_runs(demo_zoo, pipeline_acts, entry_id):
    acts = pipeline_acts[entry_id]
    assert [layer.name for layer in acts.layers] == ["conv1", "conv2", "conv3", "fc", "output"]
    assert acts.layers[0].values.shape[1:] == (20, 20, 32)  # canonical NHWC
    steps = [0, 57, 199]
    for step, layers in zip(steps, independent_layers(demo_zoo, entry_id, steps), strict=True):
        for layer, single in zip(acts.layers, layers, strict=True):
            np.testing.assert_allclose(layer.values[step], single[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("entry_id", PICKED)
def test_entry_manifest_and_per_step_data(demo_site, demo_zoo, pipeline_acts, entry_id):
    schema = json.loads((ROOT / "docs" / "entry.schema.json").read_text())
    data = entry_json(demo_site, entry_id)
    jsonschema.Draft202012Validator(schema).validate(data)
    acts = pipeline_acts[entry_id]
    steps = data["steps"]
    n = data["frames"]
    assert len(steps["actions"]) == len(steps["score"]) == len(steps["rewards"]) == n
    assert steps["action_source"] == "rollout"
    _, ro = model_and_rollout(demo_zoo, entry_id)
    with np.load(ro) as npz:
        assert steps["actions"] == npz["actions"].tolist()
        assert steps["action_names"] == npz["action_names"].tolist()
        np.testing.assert_allclose(steps["score"], npz["score"])
    outputs = data["activations"]["outputs"]
    raw = np.fromfile(demo_site / outputs["url"], "<f4").reshape(outputs["shape"])
    np.testing.assert_allclose(raw, acts.output.values, rtol=1e-6)
    assert steps["greedy"] == np.argmax(raw, axis=1).tolist()
    assert outputs["label"] == "Q-values"


def expected_frames(acts, data: dict) -> dict[str, np.ndarray]:
    chosen = np.asarray(data["steps"]["actions"])
    views = make_views(acts.layers, data["steps"]["action_names"], chosen)
    return {v.name: v.frames(0, data["frames"]) for v in views}


def crops(frames: np.ndarray, atlas: dict) -> dict[str, np.ndarray]:
    """Each region of decoded atlas frames, by name (the way a page crops a layer)."""
    return {name: frames[:, r["y"] : r["y"] + r["height"], r["x"] : r["x"] + r["width"]]
            for name, r in atlas["regions"].items()}  # fmt: skip


def assert_frame_n_is_step_n(frames: np.ndarray, want: np.ndarray, name: str,
                             limit: float = 8.0, differ: float = 2.0) -> None:  # fmt: skip
    """Within codec tolerance (`limit`) of the exact picture of each step, and closer to
    step n than to step n+1 or n-1 wherever those differ by more than `differ` (identity,
    not similarity)."""
    want = want.astype(np.int16)
    assert frames.shape == want.shape, name
    got = frames.astype(np.int16)
    error = np.abs(got - want).mean(axis=(1, 2, 3))
    # x264 at crf 20 on the speckle of random-weight conv maps: a few levels per pixel.
    assert error.max() < limit, (name, error.max())
    change = np.abs(want[1:] - want[:-1]).mean(axis=(1, 2, 3))  # step n -> n+1
    later = np.abs(got[:-1] - want[1:]).mean(axis=(1, 2, 3))  # frame n against step n+1
    earlier = np.abs(got[1:] - want[:-1]).mean(axis=(1, 2, 3))  # frame n+1 against step n
    differs = change > differ
    assert (error[:-1][differs] < later[differs]).all(), name
    assert not differs.any() or error[1:][differs].mean() < earlier[differs].mean(), name
    # A P-frame predicted from frame n may keep a little of step n where step n+1 barely
    # differs: frame by frame, the earlier step is told apart where steps differ more.
    clear = change > 2 * differ
    assert (error[1:][clear] < earlier[clear]).all(), name


@pytest.fixture(scope="module")
def expected(demo_zoo, pipeline_acts, demo_site) -> dict[str, dict[str, np.ndarray]]:
    """The exact picture of every region at every step, per picked entry."""
    out = {}
    for entry_id in PICKED:
        data = entry_json(demo_site, entry_id)
        pictures = expected_frames(pipeline_acts[entry_id], data)
        _, ro = model_and_rollout(demo_zoo, entry_id)
        pictures["gameplay"] = upscale(np.load(ro)["frames"], 2)
        out[entry_id] = pictures
    return out


@pytest.mark.parametrize("entry_id", PICKED)
def test_atlas_regions_show_step_n_at_frame_n(demo_site, expected, entry_id):
    """The site's layers are crops of the atlas: each region of frame n is step n's picture."""
    data = entry_json(demo_site, entry_id)
    atlas = data["activations"]["atlas"]
    _, frames = decode(demo_site / atlas["video"])
    assert frames.shape[1:3] == (atlas["height"], atlas["width"])
    assert len(frames) == data["frames"]
    regions = crops(frames, atlas)
    names = [layer["name"] for layer in data["activations"]["layers"]]
    assert set(regions) == {"gameplay", *names} == set(expected[entry_id])
    for name, crop in regions.items():
        if name == "gameplay":  # its own video is checked the same way in test_build_e2e
            assert_frame_n_is_step_n(crop, expected[entry_id][name], name, 2.0, differ=1.0)
        else:
            assert_frame_n_is_step_n(crop, expected[entry_id][name], name)


def test_only_the_videos_the_site_plays_are_made(demo_site):
    """By default no per-layer video: entry.json says null, and no file was published."""
    for entry_id in PICKED:
        data = entry_json(demo_site, entry_id)
        assert [layer["video"] for layer in data["activations"]["layers"]] == [None] * 5
        folder = demo_site / "a" / entry_id
        assert sorted(p.name for p in folder.glob("*.mp4")) == ["atlas.mp4", "gameplay.mp4"]
    assert not list((demo_site / "a").rglob("layer-*"))


def test_layer_videos_on_request_equal_the_atlas_crops(demo_zoo, pipeline_acts, tmp_path):
    """[render] layer_videos = true: one video per layer, exactly the atlas's pixels (the
    same crop, encoded alone), and frame n is step n."""
    from zoo_site.build.entries import EntryTask, run_entry
    from zoo_site.config import RenderConfig, RolloutConfig
    from zoo_site.sources import read_catalog

    entry = next(e for e in read_catalog(demo_zoo).entries if e.id == PICKED[0])
    task = EntryTask(entry, tmp_path, RenderConfig(layer_videos=True), RolloutConfig())
    result = run_entry(task)
    assert result.status == "rendered", result.error
    acts = result.media.activations
    layers = acts["layers"]
    assert [layer["video"] for layer in layers] == [f"layer-{x['name']}.mp4" for x in layers]
    assert {layer["video"] for layer in layers} <= set(result.media.files)
    folder = result.media_dir
    _, atlas = decode(folder / "atlas.mp4")
    regions = crops(atlas, acts["atlas"])
    steps = {"actions": result.media.steps["actions"], "action_names":
             result.media.steps["action_names"]}  # fmt: skip
    want = expected_frames(pipeline_acts[PICKED[0]], {"steps": steps, "frames": len(atlas)})
    for layer in layers:
        _, own = decode(folder / layer["video"])
        crop = regions[layer["name"]]
        assert own.shape == crop.shape == (len(atlas), layer["height"], layer["width"], 3)
        # The same pixels (test_media_render checks what each encoder is sent), encoded
        # alone: both within codec tolerance of the exact picture, frame n = step n.
        assert_frame_n_is_step_n(own, want[layer["name"]], layer["name"])
        assert_frame_n_is_step_n(crop, want[layer["name"]], layer["name"])


def test_strips_are_units_by_time_and_exact(demo_site, pipeline_acts):
    data = entry_json(demo_site, PICKED[1])
    acts = pipeline_acts[PICKED[1]]
    for layer, values in zip(data["activations"]["layers"], acts.layers, strict=True):
        strip = layer["strip"]
        image = np.asarray(Image.open(demo_site / strip["image"]).convert("RGB"))
        assert image.shape[:2] == (strip["height"], strip["width"])
        assert strip["columns"] == data["frames"] and strip["steps_per_column"] == 1
        rows = values.values.mean(axis=(1, 2)) if layer["kind"] == "conv" else values.values
        assert strip["rows"] == rows.shape[1]
        lo = np.asarray(strip["scaling"]["min"], np.float32)
        hi = np.asarray(strip["scaling"]["max"], np.float32)
        for step in (0, 100, data["frames"] - 1):
            want = LUT[to_index(rows[step], lo, hi)]
            got = image[:: strip["row_height"], step]
            # Exact up to the float rounding of a mean: at most one colour-map step apart.
            assert np.abs(got.astype(int) - want.astype(int)).max() <= 3, (layer["name"], step)


def test_scaling_is_stated_and_constant_per_layer(demo_site, pipeline_acts):
    data = entry_json(demo_site, PICKED[0])
    acts = pipeline_acts[PICKED[0]]
    conv1 = data["activations"]["layers"][0]
    assert conv1["scaling"]["method"] == "per-channel min/max over the rollout"
    np.testing.assert_allclose(conv1["scaling"]["max"], acts.layers[0].values.max(axis=(0, 1, 2)),
                               rtol=1e-5)  # fmt: skip
    assert len(conv1["scaling"]["min"]) == 32
