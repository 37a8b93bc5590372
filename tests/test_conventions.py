"""Every convention, and discovery: each graph's layers are the network's real values.

Each family's graph is built, its convention detected (or discovered), every layer run by
FrozenGraphNetwork, and compared with an independent numpy re-implementation of the network made
from the weights stored in the graph's Const nodes.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from zoo_site.errors import EntryError
from zoo_site.networks.conventions import CONVENTIONS
from zoo_site.networks.discover import discover_convention
from zoo_site.networks.frozen_graph import FrozenGraphNetwork, detect_convention
from zoo_site.networks.netbuild import BUILDERS, build_impala_like_graph

N_ACTIONS = 5
NATURE_STRIDES = (4, 2, 1)
FAMILIES = ("apex", "a2c", "ga", "es", "dqn", "rainbow")
# Where each family keeps its output layer's weights (the convention names only the op).
OUTPUT_SCOPE = {
    "apex": "deepq/q_func/action_value/",
    "a2c": "a2c/policy/",
    "ga": "ga/out/",
    "es": "es/layer5/out/",
    "dqn": "Online/fully_connected_1/",
    "rainbow": "Online/fully_connected_1/",
}
IMPALA_LAYERS = (
    "agent/torso/conv_0/Relu",
    "agent/torso/conv_1/Relu",
    "agent/torso/res_0/conv_a/Relu",
    "agent/torso/res_0/Relu",
    "agent/torso/fc/Relu",
    "agent/policy_logits/BiasAdd",
)


@functools.cache
def graph(family: str, seed: int = 11):
    builder = build_impala_like_graph if family == "impala" else BUILDERS[family]
    return builder(N_ACTIONS, seed)


def observations(n: int = 3) -> np.ndarray:
    # Multiples of 1/255, so the uint8 (Dopamine) and float inputs see the same data.
    rng = np.random.default_rng(5)
    return rng.integers(0, 256, (n, 84, 84, 4)).astype(np.float32) / 255.0


def constants(graph_def) -> dict[str, np.ndarray]:
    return {
        n.name: tf.make_ndarray(n.attr["value"].tensor).astype(np.float64)
        for n in graph_def.node
        if n.op == "Const"
    }


# --- the independent numpy network -------------------------------------------------------


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, padding: str, data_format: str):
    """TF's conv2d (a cross-correlation) as im2col: gather every k x k x C patch at the
    strided positions into a matrix, then one product with the HWIO kernel."""
    if data_format == "NCHW":
        x = x.transpose(0, 2, 3, 1)
    k, n, size = w.shape[0], x.shape[0], x.shape[1]
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        edge = (total // 2, total - total // 2)
        x = np.pad(x, ((0, 0), edge, edge, (0, 0)))
    else:
        out = (size - k) // stride + 1
    span = stride * (out - 1) + 1
    cols = np.stack(
        [x[:, i : i + span : stride, j : j + span : stride, :] for i in range(k) for j in range(k)],
        axis=3,
    )  # (N, out, out, k*k, C): row-major over (i, j), like the kernel's first two axes
    y = cols.reshape(n, out, out, -1) @ w.reshape(-1, w.shape[-1])
    return y.transpose(0, 3, 1, 2) if data_format == "NCHW" else y


def conv_layer(c, x, scope, stride, padding="VALID", data_format="NHWC", act=True):
    y = conv2d(x, c[f"{scope}weights"], stride, padding, data_format)
    b = c[f"{scope}biases"]
    y = y + (b[:, None, None] if data_format == "NCHW" else b)
    return relu(y) if act else y


def dense_layer(c, x, scope, act=True):
    y = x @ c[f"{scope}weights"] + c[f"{scope}biases"]
    return relu(y) if act else y


def c51_q_values(logits: np.ndarray, n_actions: int) -> np.ndarray:
    atoms = logits.reshape(len(logits), n_actions, 51)
    p = np.exp(atoms - atoms.max(axis=2, keepdims=True))
    p /= p.sum(axis=2, keepdims=True)
    return (p * np.linspace(-10.0, 10.0, 51)).sum(axis=2)


def nature_reference(family: str, c, x: np.ndarray) -> list[np.ndarray]:
    """conv1..3, dense and output of a Nature-CNN family, in the graph's own layout."""
    conv = CONVENTIONS[family]
    scopes = [layer.rsplit("/", 1)[0] + "/" for layer in conv.layers[:-1]]
    h, acts = x.astype(np.float64), []
    if conv.data_format == "NCHW":  # Ape-X transposes its NHWC input first
        h = h.transpose(0, 3, 1, 2)
    for scope, stride in zip(scopes[:-1], NATURE_STRIDES, strict=True):
        h = conv_layer(c, h, scope, stride, data_format=conv.data_format)
        acts.append(h)
    hidden = dense_layer(c, h.reshape(len(x), -1), scopes[-1])
    out = dense_layer(c, hidden, OUTPUT_SCOPE[family], act=False)
    if family == "rainbow":
        out = c51_q_values(out, N_ACTIONS)
    return [*acts, hidden, out]


def impala_reference(c, x: np.ndarray) -> list[np.ndarray]:
    t = "agent/torso/"
    c0 = conv_layer(c, x.astype(np.float64), f"{t}conv_0/", 4)
    c1 = conv_layer(c, c0, f"{t}conv_1/", 2)
    a = conv_layer(c, c1, f"{t}res_0/conv_a/", 1, "SAME")
    r = relu(c1 + conv_layer(c, a, f"{t}res_0/conv_b/", 1, "SAME", act=False))
    fc = dense_layer(c, r.reshape(len(x), -1), f"{t}fc/")
    return [c0, c1, a, r, fc, dense_layer(c, fc, "agent/policy_logits/", act=False)]


def native_layers(graph_def, convention, obs) -> list[np.ndarray]:
    """Every layer through zoo-site's Network, put back in the graph's own layout."""
    network = FrozenGraphNetwork(graph_def, convention, Path("model.pb"))
    out = network.run(obs)
    nchw = convention.data_format == "NCHW"
    return [
        np.transpose(out[s.name], (0, 3, 1, 2)) if s.kind == "conv" and nchw else out[s.name]
        for s in network.layers
    ]


def assert_layers_match(graph_def, convention, reference: list[np.ndarray], obs) -> None:
    got = native_layers(graph_def, convention, obs)
    assert len(got) == len(reference) == len(convention.layers)
    for name, g, r in zip(convention.layers, got, reference, strict=True):
        assert g.shape == r.shape, name
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4, err_msg=name)
    assert all(g.max() > 0 for g in got[:-1]), "a degenerate (all-zero) activation"
    assert got[-1].shape == (len(obs), N_ACTIONS)


# --- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_known_convention_is_detected_and_every_layer_matches_numpy(family):
    graph_def = graph(family)
    conv = detect_convention(graph_def, family, "m.pb")
    assert conv == CONVENTIONS[family]
    # The folder name is only a hint: the node names decide, even for a Rainbow graph
    # (which also holds every DQN name) in a folder named dqn.
    assert detect_convention(graph_def, "some-new-algo", "m.pb").family == family
    assert detect_convention(graph_def, "dqn", "m.pb").family == family
    obs = observations()
    assert_layers_match(graph_def, conv, nature_reference(family, constants(graph_def), obs), obs)


@pytest.mark.parametrize("family", FAMILIES)
def test_discovery_finds_each_known_convention_by_structure_alone(family):
    found, known = discover_convention(graph(family)), CONVENTIONS[family]
    assert found is not None and found.family == "discovered"
    assert (found.input, found.input_scale, found.layers, found.data_format) == (
        known.input,
        known.input_scale,
        known.layers,
        known.data_format,
    )


def test_impala_like_graph_is_discovered_and_every_layer_matches_numpy():
    graph_def = graph("impala")
    assert not any(n.name in {"X_t", "Online/Cast"} for n in graph_def.node)
    conv = discover_convention(graph_def)
    assert conv is not None
    assert (conv.family, conv.input, conv.input_scale, conv.data_format) == (
        "discovered",
        "agent/observations",
        1.0,
        "NHWC",
    )
    assert conv.layers == IMPALA_LAYERS
    assert detect_convention(graph_def, "impala", "m.pb") == conv
    obs = observations()
    assert_layers_match(graph_def, conv, impala_reference(constants(graph_def), obs), obs)


def _odd_graph(kind: str):
    """Graphs named like nothing known that have no input -> conv -> dense -> output chain."""
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 84, 84, 4], name="mystery/obs")
        w = tf.constant(np.ones((8, 8, 4, 2), np.float32), name="mystery/k")
        h = tf.nn.conv2d(x, w, [1, 4, 4, 1], "VALID", name="mystery/conv")
        if kind == "conv-only":  # Relu conv layers, but no dense layer: a pooled output
            tf.reduce_mean(tf.nn.relu(h, name="mystery/act"), axis=[1, 2], name="mystery/out")
        else:  # "no-relu": conv and a matrix product, not a single activation
            flat = tf.reshape(h, [-1, 20 * 20 * 2], name="mystery/flat")
            m = tf.constant(np.ones((800, 3), np.float32), name="mystery/m")
            tf.identity(tf.matmul(flat, m), name="mystery/out")
        if kind == "two-inputs":
            tf.compat.v1.placeholder(tf.float32, [None, 84, 84, 4], name="mystery/other")
    return g.as_graph_def()


@pytest.mark.parametrize("kind", ["no-relu", "conv-only", "two-inputs"])
def test_graph_without_a_chain_is_not_discovered(kind):
    graph_def = _odd_graph(kind)
    assert discover_convention(graph_def) is None
    with pytest.raises(EntryError, match="match no known convention"):
        detect_convention(graph_def, "mystery", "m.pb")
