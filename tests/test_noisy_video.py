"""The film of a noisy episode (issue 13): frame n shows the clean screen at step n and,
beside it, exactly the noisy observation the network was fed at step n; the episode is the
evaluation's own (same steps, same return); the build publishes it with the entry."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from building import build_zoo

from tests.mediacheck import decode
from zoo_site.analysis import noisy_video
from zoo_site.analysis.robustness import RobustnessSettings, evaluate
from zoo_site.config import RenderConfig
from zoo_site.networks import load_network
from zoo_site.networks.netbuild import build_dqn_graph
from zoo_site.rollouts.ale import AtariEnv, minimal_action_names
from zoo_site.rollouts.protocols import PROTOCOLS
from zoo_site.sources.base import ModelRef

GAME = "Pong"
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "entry.schema.json").read_text())


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "model1_final.pb"
    actions = len(minimal_action_names(GAME))
    path.write_bytes(build_dqn_graph(actions, seed=4).SerializeToString())
    return load_network(ModelRef(path, "frozen_graph", "dqn"), actions=actions)


def test_nearest_level():
    assert noisy_video.nearest_level((0.0, 0.05, 0.1, 0.2), 0.1) == 2
    assert noisy_video.nearest_level((0.0, 0.05, 0.2), 0.1) == 1
    assert noisy_video.nearest_level((0.0, 0.3), 0.1) == 1
    assert noisy_video.nearest_level((0.0,), 0.1) is None
    assert noisy_video.nearest_level((0.0, 0.1), 0.0) is None


@pytest.mark.slow
def test_the_film_shows_what_the_network_saw(network, tmp_path, monkeypatch):
    protocol = PROTOCOLS["dopamine"].with_overrides(epsilon=0.1)
    settings = RobustnessSettings(levels=(0.0, 0.2), episodes=2, max_steps=70, seed=3)
    fed: list[np.ndarray] = []
    real_run = network.run

    def spy(batch, names):
        fed.extend(np.array(b) for b in batch)
        return real_run(batch, names)

    monkeypatch.setattr(network, "run", spy)
    path = tmp_path / "noisy.mp4"
    made = noisy_video.render(network, GAME, protocol, settings, 1, path, RenderConfig())
    monkeypatch.setattr(network, "run", real_run)
    evaluated = evaluate(network, GAME, protocol, settings)
    # the evaluation's episode 0 at σ = 0.2: the same length and return
    assert made.steps == evaluated.steps[1, 0] == len(fed) == 70
    assert made.total == evaluated.returns[1, 0]
    meta, frames = decode(path)
    assert frames.shape == (made.steps, made.height, made.width, 3)
    assert (made.width, made.height) == (748, 420)
    o = made.observation
    mag = o["width"] // 84
    for n in (0, 17, 69):
        shown = frames[n, o["y"] : o["y"] + o["height"], o["x"] : o["x"] + o["width"]]
        shown = shown.reshape(84, mag, 84, mag, 3).mean(axis=(1, 3, 4))
        want = np.clip(fed[n][:, :, -1], 0, 1) * 255
        assert np.abs(shown - want).mean() < 6, n
        assert np.abs(shown - np.roll(want, 9, axis=0)).mean() > 15  # not just any noise
    # the noise is there: σ = 0.2 on [0, 1] is ~51 grey levels around the clean frame
    env = AtariEnv(GAME, 0, protocol)  # any clean Pong observation: mostly flat
    clean = env.reset()[:, :, -1] * 255
    assert np.std(fed[5][:, :, -1] * 255 - clean) > 30
    # the screen at step 0 is the reset screen of the episode's emulator
    from zoo_site.analysis.noisy_episode import env_seed

    first = AtariEnv(GAME, env_seed(3, 0), protocol)
    first.reset()
    s = made.screen
    screen = frames[0, : s["height"], : s["width"]].reshape(210, 2, 160, 2, 3).mean(axis=(1, 3))
    assert np.abs(screen - first.screen()).mean() < 4


@pytest.mark.slow
def test_the_build_publishes_the_film(tmp_path):
    folder = tmp_path / "zoo" / "dqn" / "PongNoFrameskip-v4"
    folder.mkdir(parents=True)
    graph = build_dqn_graph(len(minimal_action_names(GAME)), seed=2)
    (folder / "model1_final.pb").write_bytes(graph.SerializeToString())
    tables = (
        '[saliency]\nmethod = "off"\n[robustness]\nlevels = [0, 0.05, 0.3]\n'
        "episodes = 2\nmax_steps = 25\nvideo = 0.2"
    )
    site, _ = build_zoo(tmp_path / "zoo", tmp_path, tmp_path / "cache", tables)
    details = json.loads((site / "a/dqn/Pong/1/final/entry.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(details)
    video = details["robustness"]["video"]
    assert video["sigma"] == 0.3  # the level nearest 0.2
    assert video["url"] == "a/dqn/Pong/1/final/noisy.mp4"
    assert "key" not in video
    level = [lv for lv in details["robustness"]["levels"] if lv["sigma"] == 0.3][0]
    assert video["return"] == level["returns"][0] and video["steps"] == level["steps"][0]
    meta, frames = decode(site / video["url"])
    assert len(frames) == video["steps"] == 25
    # off: no film, and no file
    build_zoo(tmp_path / "zoo", tmp_path, tmp_path / "cache", tables.replace("0.2", "0"))
    details = json.loads((site / "a/dqn/Pong/1/final/entry.json").read_text())
    assert "video" not in details["robustness"]
    assert not (site / "a/dqn/Pong/1/final/noisy.mp4").exists()


def test_a_uint8_network_sees_noise_clipped_not_wrapped():
    """Noise below 0 or above 1 on a uint8-fed network (Dopamine's graphs) is clipped to
    what a uint8 holds; a cast alone would turn -0.02 into 251 (black into white)."""
    from zoo_site.networks.base import ObsSpec, to_network_input

    spec = ObsSpec((84, 84, 4), "uint8", "NHWC", 255.0, "input")
    obs = np.zeros((1, 84, 84, 4), np.float32)
    obs[0, 0, :4, 0] = [-0.02, 0.5, 1.3, 1.0]
    fed = to_network_input(obs, spec)
    assert fed.dtype == np.uint8
    assert fed[0, 0, :4, 0].tolist() == [0, 128, 255, 255]
