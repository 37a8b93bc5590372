"""The embedded demo zoo: the original zoo's layout, two graph conventions, real play."""

from __future__ import annotations

import numpy as np
from conftest import TEST_STEPS

from zoo_site.config import load_config
from zoo_site.demo import DemoSpec, make_demo_zoo
from zoo_site.networks import load_network
from zoo_site.networks.frozen_graph import detect_convention, load_graph_def, uses_nchw
from zoo_site.rollouts import npz as rollout
from zoo_site.rollouts.play import play
from zoo_site.rollouts.protocols import DOPAMINE, ZOO_TF
from zoo_site.sources import read_catalog
from zoo_site.sources.base import ModelRef


def network(path, algo):
    return load_network(ModelRef(path, "frozen_graph", algo))


def test_demo_zoo_has_the_promised_shape(demo_zoo):
    catalog = read_catalog(demo_zoo)
    assert catalog.problems == []
    entries = catalog.entries
    assert len(entries) == 24
    assert {e.game for e in entries} == {"Seaquest", "Breakout", "Pong"}
    assert {e.algo for e in entries} == {"apex", "dqn"}
    assert {e.run for e in entries} == {1, 2} and {e.tag for e in entries} == {"initial", "final"}
    assert all(e.model and e.rollout for e in entries)


def test_two_graph_conventions_nchw_and_nhwc(demo_zoo):
    apex = load_graph_def(demo_zoo / "apex/SeaquestNoFrameskip-v4/model1_final.pb")
    dqn = load_graph_def(demo_zoo / "dqn/SeaquestNoFrameskip-v4/model1_final.pb")
    assert detect_convention(apex, "apex", "a").family == "apex" and uses_nchw(apex)
    assert detect_convention(dqn, "dqn", "d").family == "dqn" and not uses_nchw(dqn)
    names = {n.name for n in dqn.node}
    assert {"Online/Cast", "Online/Conv/Relu", "Online/fully_connected/Relu"} <= names


def test_rollouts_are_real_play_in_the_zoo_format(demo_zoo):
    ro = rollout.load(demo_zoo / "apex/SeaquestNoFrameskip-v4/model2_final_rollout.npz")
    assert ro.steps == TEST_STEPS
    assert ro.frames.shape == (TEST_STEPS, 210, 160, 3)
    assert ro.action_names[:2] == ["NOOP", "FIRE"] and len(ro.action_names) == 18
    assert ro.actions.min() >= 0 and ro.actions.max() < 18
    with np.load(ro.path) as npz:
        obs = npz["observations"]
        assert obs.shape == (TEST_STEPS, 84, 84, 4) and obs.dtype == np.float32
        assert 0.0 <= obs.min() and obs.max() <= 1.0
        assert npz["ram"].shape == (TEST_STEPS, 128)
        assert npz["representation"].shape == (TEST_STEPS, 512)
        # The newest frame of the stack at step n+1 differs from step n's: the game moves.
        assert (np.abs(np.diff(obs[:, :, :, -1], axis=0)).max(axis=(1, 2)) > 0).mean() > 0.5
    # The demo's config says what the agents are.
    config = load_config(demo_zoo / "zoo-site.toml")
    assert "untrained" in config.notice
    assert "imitating a scripted player" in config.notice
    assert "not reinforcement learning" in config.notice
    assert "Seaquest has no scripted player" in config.notice
    assert "untrained" in config.tags.labels["initial"]
    assert "imitation-trained in Breakout, Pong" in config.tags.labels["final"]


def test_final_agents_are_trained_in_pong_and_breakout_only(demo_zoo):
    """Seaquest's agents and every `initial` one are the seeded random networks;
    Pong's and Breakout's `final` ones are trained (one network for both runs)."""
    from zoo_site.networks.netbuild import BUILDERS

    spec = DemoSpec(steps=TEST_STEPS)
    for game, n_actions in (("Seaquest", 18), ("Breakout", 4), ("Pong", 6)):
        for algo in spec.algos:
            folder = demo_zoo / algo / f"{game}NoFrameskip-v4"
            for run in spec.runs:
                for tag in spec.tags:
                    random = BUILDERS[algo](n_actions, spec.seed(algo, game, run, tag))
                    stored = (folder / f"model{run}_{tag}.pb").read_bytes()
                    trained = game != "Seaquest" and tag == "final"
                    assert (stored != random.SerializeToString(deterministic=True)) == trained
            final = {(folder / f"model{run}_final.pb").read_bytes() for run in spec.runs}
            assert len(final) == (1 if game != "Seaquest" else len(spec.runs))


def test_play_is_deterministic_for_a_seed(demo_zoo):
    net = network(demo_zoo / "dqn/BreakoutNoFrameskip-v4/model1_initial.pb", "dqn")
    protocol = DOPAMINE.with_overrides(epsilon=0.2)
    a = play(net, "Breakout", protocol, 60, 5)
    b = play(net, "Breakout", protocol, 60, 5)
    for key in ("frames", "observations", "actions", "score", "ram"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    c = play(net, "Breakout", protocol, 60, 6)
    assert not np.array_equal(a["actions"], c["actions"])


def test_sticky_actions_option_changes_play(demo_zoo):
    net = network(demo_zoo / "apex/PongNoFrameskip-v4/model1_initial.pb", "apex")
    plain = play(net, "Pong", ZOO_TF.with_overrides(epsilon=0.3), 80, 1)
    sticky = play(net, "Pong", ZOO_TF.with_overrides(epsilon=0.3, sticky_actions=0.5), 80, 1)
    assert not np.array_equal(plain["frames"], sticky["frames"])


def test_demo_zoo_is_made_once(demo_zoo):
    marker = demo_zoo / ".zoo-site-demo.json"
    before = marker.stat().st_mtime_ns
    assert make_demo_zoo(demo_zoo, DemoSpec(steps=TEST_STEPS)) == demo_zoo
    assert marker.stat().st_mtime_ns == before
