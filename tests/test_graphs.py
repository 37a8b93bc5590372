"""Frozen graphs: conventions are found, NCHW graphs run on a CPU with the same numbers."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from zoo_site.errors import EntryError  # noqa: E402
from zoo_site.graphs import (  # noqa: E402
    CONVENTIONS,
    GraphRunner,
    detect_convention,
    load_graph_def,
    to_cpu_layout,
    uses_nchw,
)
from zoo_site.netbuild import build_apex_graph, build_dqn_graph  # noqa: E402


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
    apex_convs = GraphRunner(apex, a, list(a.layers[:3]))(obs)
    dqn_convs = GraphRunner(dqn, d, list(d.layers[:3]))(obs)
    for nchw, nhwc in zip(apex_convs, dqn_convs, strict=True):
        assert nchw.shape[1] == nhwc.shape[-1]
        np.testing.assert_allclose(np.transpose(nchw, (0, 2, 3, 1)), nhwc, rtol=1e-4, atol=1e-5)
        assert nhwc.max() > 0  # a real, non-degenerate activation


def test_batched_equals_one_at_a_time():
    dqn = build_dqn_graph(4, 3)
    conv = CONVENTIONS["dqn"]
    runner = GraphRunner(dqn, conv, [conv.output])
    obs = observations(4)
    (batched,) = runner(obs)
    single = np.concatenate([runner(obs[i : i + 1])[0] for i in range(4)])
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)


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
