"""Frozen graphs: conventions are found, NCHW graphs run on a CPU with the same numbers."""

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from zoo_site.errors import EntryError  # noqa: E402
from zoo_site.networks.frozen_graph import (  # noqa: E402
    CONVENTIONS,
    FrozenGraphNetwork,
    detect_convention,
    load_graph_def,
    to_cpu_layout,
    uses_nchw,
)
from zoo_site.networks.netbuild import build_apex_graph, build_dqn_graph  # noqa: E402


def observations(n=3):
    # Multiples of 1/255, so the uint8 (Dopamine) and float (Ape-X) inputs see the same data.
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (n, 84, 84, 4)).astype(np.float32) / 255.0


def test_conventions_are_detected_by_node_names():
    apex, dqn = build_apex_graph(6, 7), build_dqn_graph(6, 7)
    assert detect_convention(apex, "apex", "m.pb").family == "apex"
    assert detect_convention(dqn, "dqn", "m.pb").family == "dqn"
    # The folder name is only a hint: an Ape-X graph under another name is still found.
    assert detect_convention(apex, "my-algo", "m.pb").family == "apex"
    assert uses_nchw(apex) and not uses_nchw(dqn)
    assert not uses_nchw(to_cpu_layout(apex))


def test_nchw_graph_runs_on_cpu_and_matches_the_nhwc_twin():
    # Same seed -> same convolution weights; only the layout differs. The rewritten NCHW
    # graph must give the NHWC graph's conv activations (transposed) to float precision.
    apex, dqn = build_apex_graph(6, 7), build_dqn_graph(6, 7)
    a, d = CONVENTIONS["apex"], CONVENTIONS["dqn"]
    obs = observations()
    convs = ["conv1", "conv2", "conv3"]
    apex_convs = FrozenGraphNetwork(apex, a, Path("a.pb")).run(obs, convs)
    dqn_convs = FrozenGraphNetwork(dqn, d, Path("d.pb")).run(obs, convs)
    for name in convs:  # both canonical (N, H, W, C) whatever the graph's layout
        np.testing.assert_allclose(apex_convs[name], dqn_convs[name], rtol=1e-4, atol=1e-5)
        assert dqn_convs[name].max() > 0  # a real, non-degenerate activation


def test_batched_equals_one_at_a_time():
    dqn = build_dqn_graph(4, 3)
    conv = CONVENTIONS["dqn"]
    network = FrozenGraphNetwork(dqn, conv, Path("d.pb"))
    obs = observations(4)
    batched = network.run(obs, ["output"])["output"]
    single = np.concatenate([network.run(obs[i : i + 1], ["output"])["output"] for i in range(4)])
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)


def test_the_flat_call_is_taken_and_gives_the_plain_calls_outputs():
    """run() calls the pruned function by its flat signature (no failed structured
    binding that formats the input as text first): the same outputs, bit for bit."""
    import tensorflow as tf

    from zoo_site.networks.frozen_graph import _call

    network = FrozenGraphNetwork(build_apex_graph(4, 3), CONVENTIONS["apex"], Path("a.pb"))
    function = network._function(("conv1", "output"))
    assert hasattr(function, "_call_flat")  # this TensorFlow has the fast path
    x = tf.convert_to_tensor(observations(5))
    for fast, plain in zip(_call(function, x), function(x), strict=True):
        np.testing.assert_array_equal(fast.numpy(), plain.numpy())


def test_unreadable_and_unknown_graphs(tmp_path):
    bad = tmp_path / "model1_final.pb"
    bad.write_bytes(b"\x00\xffnot a graph" * 10)
    with pytest.raises(EntryError, match="not a TensorFlow frozen graph") as info:
        load_graph_def(bad)
    assert info.value.path == str(bad)
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="inp")
        tf.identity(x, name="mystery")
    with pytest.raises(EntryError, match="match no known convention"):
        detect_convention(graph.as_graph_def(), "apex", bad)
