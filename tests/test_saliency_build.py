"""Saliency in the build: which entries get maps, the files and their descriptions, the
maps equal to the saliency module's own computation on the rollout, the cache key, the
value head's file; and the demo's trained agents carry maps.

The maps are recomputed here from the rollout's observations and the model file, not from
anything the build kept: what entry.json describes must be what the network does.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from building import build_zoo
from conftest import TEST_STEPS

from zoo_site.analysis.activations import load_observations
from zoo_site.analysis.saliency import SaliencySettings, perturbation_scores
from zoo_site.networks import load_network
from zoo_site.networks.netbuild import build_a2c_graph
from zoo_site.rollouts.ale import minimal_action_names
from zoo_site.site.manifest import read_manifest
from zoo_site.sources.base import ModelRef

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "entry.schema.json").read_text())


def details(site: Path, entry_id: str) -> dict:
    data = json.loads((site / "a" / entry_id / "entry.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    return data


def read_maps(site: Path, info: dict) -> np.ndarray:
    raw = np.fromfile(site / info["url"], "<f4")
    assert raw.size == int(np.prod(info["shape"])), "the file holds exactly the shape"
    return raw.reshape(info["shape"])


def assert_maps_match(maps: np.ndarray, network, obs: np.ndarray, every: int, steps: list[int]):
    """Rows of `maps` for `steps` equal perturbation_scores on those observations (within
    1e-4 of each map's peak: see tests/test_saliency.py for why not per score)."""
    expected = perturbation_scores(network, obs[steps])
    got = maps[[s // every for s in steps]]
    for mode in range(2):
        peak = np.abs(expected[:, mode]).max(axis=(1, 2), keepdims=True) + 1e-12
        err = np.abs(got[:, mode] - expected[:, mode]) / peak
        assert err.max() <= 1e-4, (mode, err.max())


# ---- the demo -------------------------------------------------------------------------------


def test_the_demo_shows_maps_for_its_trained_agents_only(demo_site, demo_zoo):
    manifest = read_manifest(demo_site)
    with_maps = sorted(e["id"] for e in manifest["entries"] if e["saliency"])
    trained = sorted(f"{a}/{g}/{r}/final" for a in ("apex", "dqn") for g in ("Breakout", "Pong")
                     for r in (1, 2))  # fmt: skip
    assert with_maps == trained
    for entry_id in ("apex/Breakout/1/final", "dqn/Pong/2/final"):
        d = details(demo_site, entry_id)
        info = d["saliency"]
        every = info["every"]
        assert every == 5 and info["method"] == "perturbation"
        assert info["steps"] == len(range(0, TEST_STEPS, every)) == info["shape"][0]
        assert info["shape"][1:] == [2, 17, 17] and info["modes"] == ["actor", "critic"]
        assert info["positions"]["rows"] == list(range(0, 84, 5)) == info["positions"]["cols"]
        assert info["critic"] == "max_output" and "max" in info["critic_label"]
        assert info["settings"] == {"method": "perturbation", "stride": 5, "radius": 5.0,
                                    "blur": 3.0, "every": 5}  # fmt: skip
        maps = read_maps(demo_site, info)
        assert np.isfinite(maps).all() and (maps >= 0).all() and maps.max() > 0
        algo, game, run, tag = entry_id.split("/")
        folder = demo_zoo / algo / f"{game}NoFrameskip-v4"
        network = load_network(ModelRef(folder / f"model{run}_{tag}.pb", "frozen_graph", algo),
                                actions=len(minimal_action_names(game)))  # fmt: skip
        rollout = folder / f"model{run}_{tag}_rollout.npz"
        obs = load_observations(rollout, TEST_STEPS)
        assert_maps_match(maps, network, obs, every, [0, 5 * 17, TEST_STEPS - every])
    untrained = details(demo_site, "apex/Seaquest/1/final")
    assert untrained["saliency"] is None and untrained["saliency_error"] is None


# ---- a zoo of one A2C network (a value head), played by the build ----------------------------

STEPS = 24


@pytest.fixture(scope="module")
def a2c_zoo(tmp_path_factory) -> Path:
    zoo = tmp_path_factory.mktemp("a2c-zoo")
    folder = zoo / "a2c" / "PongNoFrameskip-v4"
    folder.mkdir(parents=True)
    graph = build_a2c_graph(len(minimal_action_names("Pong")), seed=3)
    for tag in ("initial", "final"):
        (folder / f"model1_{tag}.pb").write_bytes(graph.SerializeToString())
    return zoo


def build(zoo: Path, home: Path, cache: Path, saliency: str) -> tuple[Path, dict]:
    # The noise evaluation and the map of states are not what these tests are about.
    off = '[robustness]\nlevels = []\n[states]\nmethod = "off"\n'
    return build_zoo(zoo, home, cache, f"{off}[saliency]\n{saliency}", steps=STEPS)


def test_value_head_maps_value_file_and_cache_key(a2c_zoo, tmp_path):
    cache = tmp_path / "cache"
    site, status = build(a2c_zoo, tmp_path / "a", cache, "every = 3")
    assert status == {"a2c/Pong/1/final": "rendered", "a2c/Pong/1/initial": "rendered"}
    assert details(site, "a2c/Pong/1/initial")["saliency"] is None  # not the run's last tag
    d = details(site, "a2c/Pong/1/final")
    info = d["saliency"]
    assert info["critic"] == "value_head" and "value head" in info["critic_label"]
    assert info["shape"] == [len(range(0, STEPS, 3)), 2, 17, 17]
    played = cache / "rollouts" / "a2c" / "PongNoFrameskip-v4" / "model1_final_rollout.npz"
    obs = load_observations(played, STEPS)
    model = a2c_zoo / "a2c" / "PongNoFrameskip-v4" / "model1_final.pb"
    network = load_network(ModelRef(model, "frozen_graph", "a2c"), actions=6)
    assert_maps_match(read_maps(site, info), network, obs, 3, [0, 9, 21])
    # the value head's output, per step, beside the Q-values/logits
    value = d["activations"]["value"]
    assert value["shape"] == [STEPS] and "value" in value["label"]
    got = np.fromfile(site / value["url"], "<f4")
    want = network.run(obs, ["value"])["value"].reshape(-1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Saliency settings are part of the media's key: only the entry with maps is redone.
    _, status = build(a2c_zoo, tmp_path / "b", cache, "every = 4")
    assert status == {"a2c/Pong/1/final": "rendered", "a2c/Pong/1/initial": "reused"}
    site, status = build(a2c_zoo, tmp_path / "c", cache, "every = 4")
    assert set(status.values()) == {"reused"}
    assert details(site, "a2c/Pong/1/final")["saliency"]["shape"][0] == len(range(0, STEPS, 4))


def test_only_patterns_and_off(a2c_zoo, tmp_path):
    cache = tmp_path / "cache"
    site, _ = build(a2c_zoo, tmp_path / "a", cache, 'every = 6\nonly = ["*/Pong/*/initial"]')
    manifest = read_manifest(site)
    assert {e["id"]: e["saliency"] for e in manifest["entries"]} == {
        "a2c/Pong/1/final": False, "a2c/Pong/1/initial": True}  # fmt: skip
    site, _ = build(a2c_zoo, tmp_path / "b", cache, 'method = "off"')
    for entry_id in ("a2c/Pong/1/final", "a2c/Pong/1/initial"):
        assert details(site, entry_id)["saliency"] is None
        assert not (site / "a" / entry_id / "saliency.f32").exists()


def test_bad_saliency_settings_name_the_key(tmp_path):
    from zoo_site.config import load_config
    from zoo_site.errors import ConfigError

    path = tmp_path / "zoo-site.toml"
    path.write_text('[saliency]\nmethod = "occlusion"\nevery = 0\nstride = 0\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    for key in ("saliency.method", "saliency.every", "saliency.stride"):
        assert f"'{key}'" in text, text
    assert SaliencySettings().grid() == (17, 17)


def test_a_network_without_a_gradient_leaves_the_entry_built_and_says_why(tmp_path):
    """method = "gradient" on a network that cannot give one: no maps, a reason naming the
    model file, and no half-written saliency.f32."""
    from types import SimpleNamespace

    from zoo_site.build.entries import EntryTask, _saliency
    from zoo_site.config import RenderConfig, RolloutConfig
    from zoo_site.networks.base import OutputSpec
    from zoo_site.sources.base import Entry

    class NoGradient:
        family = "numpy"
        output = OutputSpec("q_values", 3, "Q-values")

        def run(self, observations, layers=None):
            return {"output": observations.reshape(len(observations), -1)[:, :3] * 2}

    model = ModelRef(tmp_path / "model1_final.pb", "frozen_graph", "dqn")
    entry = Entry("dqn", "Pong", 1, "final", model=model)
    settings = SaliencySettings(method="gradient")
    task = EntryTask(entry, tmp_path, RenderConfig(), RolloutConfig(), saliency=settings)
    ro = SimpleNamespace(steps=3, observations=np.zeros((3, 84, 84, 4), np.float32))
    files: list[str] = []
    info, error = _saliency(task, tmp_path / "r.npz", ro, NoGradient(), tmp_path, files)
    assert info is None and files == [] and not (tmp_path / "saliency.f32").exists()
    assert error is not None and error["file"] == "model1_final.pb"
    assert "gradient" in error["message"] and "perturbation" in error["message"]
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_gradient_method_in_the_build(a2c_zoo, tmp_path):
    from zoo_site.analysis.saliency import gradient_scores

    cache = tmp_path / "cache"
    site, _ = build(a2c_zoo, tmp_path / "a", cache, 'method = "gradient"\nevery = 5')
    info = details(site, "a2c/Pong/1/final")["saliency"]
    assert info["method"] == info["settings"]["method"] == "gradient"
    assert info["shape"] == [len(range(0, STEPS, 5)), 2, 84, 84]
    assert info["positions"]["rows"] == list(range(84)) == info["positions"]["cols"]
    played = cache / "rollouts" / "a2c" / "PongNoFrameskip-v4" / "model1_final_rollout.npz"
    obs = load_observations(played, STEPS)
    model = a2c_zoo / "a2c" / "PongNoFrameskip-v4" / "model1_final.pb"
    network = load_network(ModelRef(model, "frozen_graph", "a2c"), actions=6)
    want = gradient_scores(network, obs[::5])
    got = read_maps(site, info)
    peak = np.abs(want).max(axis=(2, 3), keepdims=True) + 1e-12
    assert (np.abs(got - want) / peak).max() <= 1e-4
