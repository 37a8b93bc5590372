"""Noise robustness (issue 13): the lockstep evaluation plays every episode exactly
as one-at-a-time evaluation with batch-1 calls does, for the same seeds; noise reaches the
network's input only; settings are checked."""

from __future__ import annotations

import numpy as np
import pytest
from building import build_zoo

from zoo_site.analysis.robustness import RobustnessSettings, evaluate
from zoo_site.networks import load_network
from zoo_site.networks.netbuild import build_dqn_graph
from zoo_site.rollouts.ale import minimal_action_names
from zoo_site.rollouts.protocols import PROTOCOLS
from zoo_site.site.manifest import read_manifest
from zoo_site.sources.base import ModelRef


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "model1_final.pb"
    actions = len(minimal_action_names("Pong"))
    path.write_bytes(build_dqn_graph(actions, seed=4).SerializeToString())
    return load_network(ModelRef(path, "frozen_graph", "dqn"), actions=actions)


def test_lockstep_equals_one_episode_at_a_time(network):
    protocol = PROTOCOLS["dopamine"].with_overrides(epsilon=0.2)
    settings = RobustnessSettings(levels=(0.0, 0.1, 0.3), episodes=2, max_steps=60, seed=7)
    together = evaluate(network, "Pong", protocol, settings)
    alone = evaluate(network, "Pong", protocol, settings, lockstep=False)
    np.testing.assert_array_equal(together.returns, alone.returns)
    np.testing.assert_array_equal(together.steps, alone.steps)
    assert together.returns.shape == (3, 2) and (together.steps == 60).all()
    again = evaluate(network, "Pong", protocol, settings)  # deterministic for a seed
    np.testing.assert_array_equal(again.returns, together.returns)
    doc = together.as_json()
    assert [lv["sigma"] for lv in doc["levels"]] == [0.0, 0.1, 0.3]


def test_emulator_workers_play_the_same_episodes_and_leave_no_process(network):
    """Lockstep with its emulators in worker processes (pipelined with the network's calls)
    gives exactly the in-process results, and its workers are gone afterwards, also when
    one fails."""
    import multiprocessing

    from zoo_site.analysis import lockstep_workers

    protocol = PROTOCOLS["dopamine"].with_overrides(epsilon=0.2)
    settings = RobustnessSettings(levels=(0.0, 0.1, 0.3), episodes=3, max_steps=80, seed=5)
    timing: dict[str, float] = {}
    spread = evaluate(network, "Pong", protocol, settings, workers=2, timing=timing)
    local = evaluate(network, "Pong", protocol, settings)
    np.testing.assert_array_equal(spread.returns, local.returns)
    np.testing.assert_array_equal(spread.steps, local.steps)
    np.testing.assert_array_equal(spread.finished, local.finished)
    assert 0 < timing["setup_s"] < 60
    assert not multiprocessing.active_children()
    with pytest.raises(RuntimeError, match="worker failed"):  # a game the ALE lacks
        lockstep_workers.play(network, "NoSuchGame", protocol, settings, 2, {})
    assert not multiprocessing.active_children()
    assert not lockstep_workers.usable(1)


def test_noise_reaches_the_input_only(network, monkeypatch):
    """At σ = 0 the network sees the clean observation; at σ > 0 the observation plus
    noise of that standard deviation, while the emulator's observation stays clean."""
    from zoo_site.analysis.noisy_episode import NoisyEpisode

    seen: list[tuple[np.ndarray, np.ndarray]] = []
    original = NoisyEpisode.seen

    def spy(self):
        fed = original(self)
        seen.append((float(self.sigma), fed - np.asarray(self.obs, np.float32)))
        return fed

    monkeypatch.setattr(NoisyEpisode, "seen", spy)
    protocol = PROTOCOLS["dopamine"]
    evaluate(network, "Pong", protocol, RobustnessSettings(levels=(0.0, 0.2), episodes=1,
                                                          max_steps=5))  # fmt: skip
    clean = [d for s, d in seen if s == 0.0]
    noisy = np.concatenate([d.ravel() for s, d in seen if s > 0])
    assert all((d == 0).all() for d in clean)
    assert abs(noisy.std() - 0.2) < 0.005 and abs(noisy.mean()) < 0.005


def test_bad_settings():
    with pytest.raises(ValueError):
        RobustnessSettings(levels=(-0.1,))
    with pytest.raises(ValueError):
        RobustnessSettings(episodes=0)


def build(zoo, home, cache, robustness: str):
    return build_zoo(zoo, home, cache, f'[saliency]\nmethod = "off"\n[robustness]\n{robustness}')


def test_the_build_evaluates_the_last_checkpoints_and_caches_apart(tmp_path):
    import json
    from pathlib import Path

    import jsonschema

    schema = json.loads((Path(__file__).parents[1] / "docs" / "entry.schema.json").read_text())
    folder = tmp_path / "zoo" / "dqn" / "PongNoFrameskip-v4"
    folder.mkdir(parents=True)
    for seed, tag in enumerate(("initial", "final")):
        graph = build_dqn_graph(len(minimal_action_names("Pong")), seed=seed)
        (folder / f"model1_{tag}.pb").write_bytes(graph.SerializeToString())
    cache = tmp_path / "cache"
    site, status = build(tmp_path / "zoo", tmp_path / "a", cache,
                         "levels = [0, 0.2]\nepisodes = 2\nmax_steps = 20")  # fmt: skip
    assert set(status.values()) == {"rendered"}
    manifest = read_manifest(site)
    assert {e["id"]: e["robustness"] for e in manifest["entries"]} == {
        "dqn/Pong/1/final": True, "dqn/Pong/1/initial": False}  # fmt: skip
    details = json.loads((site / "a/dqn/Pong/1/final/entry.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(details)
    got = details["robustness"]
    assert [lv["sigma"] for lv in got["levels"]] == [0.0, 0.2]
    assert got["protocol"] == "dopamine"
    # the same as evaluating the model directly with the entry's protocol
    network = load_network(ModelRef(folder / "model1_final.pb", "frozen_graph", "dqn"),
                           actions=len(minimal_action_names("Pong")))  # fmt: skip
    direct = evaluate(network, "Pong", PROTOCOLS["dopamine"],
                      RobustnessSettings(levels=(0.0, 0.2), episodes=2, max_steps=20))  # fmt: skip
    assert [lv["returns"] for lv in got["levels"]] == direct.returns.tolist()
    assert [lv["steps"] for lv in got["levels"]] == direct.steps.tolist()
    # other settings: the media are reused, only the evaluation is played again
    site, status = build(tmp_path / "zoo", tmp_path / "b", cache,
                         "levels = [0.1]\nepisodes = 1\nmax_steps = 15")  # fmt: skip
    assert set(status.values()) == {"reused"}
    details = json.loads((site / "a/dqn/Pong/1/final/entry.json").read_text())
    assert [lv["steps"] for lv in details["robustness"]["levels"]] == [[15]]
    site, _ = build(tmp_path / "zoo", tmp_path / "c", cache, "levels = []")
    assert json.loads((site / "a/dqn/Pong/1/final/entry.json").read_text())["robustness"] is None
