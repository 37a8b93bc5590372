"""Bad activation input: a clear message naming the entry, a flat picture for a flat layer,
and the build goes on (the entry keeps its gameplay video)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mediacheck import decode
from typer.testing import CliRunner

from zoo_site.cli import app
from zoo_site.media.tiling import LUT
from zoo_site.networks.netbuild import build_dqn_graph
from zoo_site.site.manifest import read_manifest

STEPS = 24


def set_const(graph_def, name: str, fn) -> None:
    import tensorflow as tf

    node = next(n for n in graph_def.node if n.name == name)
    old = tf.make_ndarray(node.attr["value"].tensor)
    value = fn(old.copy()).astype(old.dtype)
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))


def unknown_graph():
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 84, 84, 4], name="frames_in")
        tf.reduce_mean(x, axis=[1, 2], name="mystery_out")
    return graph.as_graph_def()


@pytest.fixture(scope="module")
def bad_zoo(tmp_path_factory, demo_zoo) -> Path:
    zoo = tmp_path_factory.mktemp("badzoo")
    game = zoo / "dqn" / "SeaquestNoFrameskip-v4"
    game.mkdir(parents=True)
    src = demo_zoo / "dqn" / "SeaquestNoFrameskip-v4" / "model1_final_rollout.npz"
    data = {k: v[:STEPS] if k not in ("ep_rewards", "action_names") else v
            for k, v in np.load(src).items()}  # fmt: skip

    def put(run: int, graph_def, arrays=data):
        (game / f"model{run}_final.pb").write_bytes(graph_def.SerializeToString())
        np.savez(game / f"model{run}_final_rollout.npz", **arrays)

    put(1, build_dqn_graph(18, 1))  # good
    put(2, unknown_graph())
    put(3, build_dqn_graph(18, 3), {**data, "observations": data["observations"][..., :3]})
    nan = build_dqn_graph(18, 4)
    # (A NaN before a Relu can vanish: TF's CPU kernels fuse conv+bias+relu as max(x, 0).)
    set_const(nan, "Online/fully_connected_1/biases", lambda b: np.where(b == b[3], np.nan, b))
    put(4, nan)
    flat = build_dqn_graph(18, 5)
    set_const(flat, "Online/Conv/weights", np.zeros_like)  # conv1 = relu(bias): constant
    put(5, flat)
    return zoo


@pytest.fixture(scope="module")
def built(bad_zoo, tmp_path_factory, test_cache):
    out = tmp_path_factory.mktemp("badsite") / "site"
    args = ["build", "--zoo", str(bad_zoo), "--out", str(out), "--cache-dir", str(test_cache)]
    return CliRunner().invoke(app, [*args, "-j", "2"]), out


def entry(out: Path, run: int) -> dict:
    return json.loads((out / f"a/dqn/Seaquest/{run}/final/entry.json").read_text())


def test_build_goes_on_and_names_each_bad_entry(built):
    result, out = built
    text = " ".join(result.output.split())
    assert result.exit_code == 1, text
    assert "Built 5 entries" in text
    for run, message in [
        (2, "match no known convention"),
        (3, "observations must be (N, 84, 84, 4), got shape (24, 84, 84, 3)"),
        (4, "layer output (Online/fully_connected_1/BiasAdd) has NaN values at step 0"),
    ]:
        assert f"[dqn/Seaquest/{run}/final]" in text and message in text, message
        data = entry(out, run)
        assert data["activations"] is None and message in data["activation_error"]
        assert (out / data["video"]).stat().st_size > 0  # the gameplay is still there
    manifest = read_manifest(out)
    flags = {e["run"]: e["activations"] for e in manifest["entries"]}
    assert flags == {1: True, 2: False, 3: False, 4: False, 5: True}


def test_zero_range_layer_renders_flat_and_valid(built):
    _, out = built
    data = entry(out, 5)
    assert data["activation_error"] is None
    atlas = data["activations"]["atlas"]
    conv1 = data["activations"]["layers"][0]
    assert conv1["scaling"]["min"] == conv1["scaling"]["max"]
    _, atlas_frames = decode(out / atlas["video"])
    assert len(atlas_frames) == STEPS
    r = atlas["regions"]["conv1"]  # the layer, cropped from the atlas as the pages do
    frames = atlas_frames[:, r["y"] : r["y"] + r["height"], r["x"] : r["x"] + r["width"]]
    assert not np.isnan(frames).any()
    tiles = frames[:, :40, :40].reshape(-1, 3).astype(int)  # inside the first tile
    assert np.abs(tiles - LUT[0].astype(int)).max() <= 3
