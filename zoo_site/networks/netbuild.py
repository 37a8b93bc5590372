"""Nature-CNN networks built as frozen TensorFlow graphs in the original zoo's conventions.

The demo zoo uses these: weights are random (He-normal, seeded), stored as constants, so
the .pb is frozen from the start. Every convention of the Atari Model Zoo is offered, with
its node names: Ape-X (NCHW convolutions, ``deepq/...``, input ``X_t`` in [0, 1]), A2C, GA
and ES (NHWC, ``a2c/...``, ``ga/...``, ``es/...``, ``X_t`` in [0, 1]) and Dopamine DQN and
Rainbow (NHWC, ``Online/...``, a uint8 input cast to float as ``Online/Cast``, 0-255).
``build_impala_like_graph`` follows no convention at all, to exercise auto-discovery.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from tensorflow.core.framework.graph_pb2 import GraphDef

# (filters, kernel, stride) of the Nature DQN convolutions, then a 512-unit dense layer.
NATURE_CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
NATURE_DENSE = 512
# Rainbow's C51 head: a distribution over this many atoms on [-V_MAX, V_MAX] per action.
RAINBOW_ATOMS = 51
RAINBOW_V_MAX = 10.0


def _he(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def _frozen(seed: int, body: Callable) -> GraphDef:
    """The GraphDef of a fresh graph that `body(tf, rng)` fills, rng seeded by `seed`."""
    from zoo_site.networks.tfload import tensorflow

    tf = tensorflow()

    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        body(tf, rng)
    return graph.as_graph_def()


def _observations(tf, name: str = "X_t"):
    return tf.compat.v1.placeholder(tf.float32, [None, 84, 84, 4], name=name)


def _conv(tf, h, rng, spec, scope: str, data_format="NHWC", padding="VALID", act="Relu"):
    """<scope>Conv2D -> <scope>BiasAdd -> <scope><act> (no activation if act is None)."""
    filters, k, s = spec
    channels = int(h.shape[1 if data_format == "NCHW" else -1])
    strides = [1, 1, s, s] if data_format == "NCHW" else [1, s, s, 1]
    with tf.name_scope(scope):
        w = tf.constant(_he(rng, (k, k, channels, filters), k * k * channels), name="weights")
        h = tf.nn.conv2d(h, w, strides, padding, data_format=data_format, name="Conv2D")
        b = tf.constant(np.full(filters, 0.01, np.float32), name="biases")
        h = tf.nn.bias_add(h, b, data_format=data_format, name="BiasAdd")
        return tf.nn.relu(h, name=act) if act else h


def _dense(tf, x, rng, units: int, scope: str, act: str | None = "Relu", out: str = "BiasAdd"):
    """<scope>MatMul -> <scope><out> (the bias add) -> <scope><act> unless act is None."""
    fan_in = int(x.shape[-1])
    with tf.name_scope(scope):
        w = tf.constant(_he(rng, (fan_in, units), fan_in), name="weights")
        b = tf.constant(np.zeros(units, np.float32), name="biases")
        y = tf.nn.bias_add(tf.matmul(x, w, name="MatMul"), b, name=out)
        return tf.nn.relu(y, name=act) if act else y


def _flatten(tf, h, name: str):
    return tf.reshape(h, [-1, int(np.prod(h.shape[1:]))], name=name)


def _slim_scopes(prefix: str) -> tuple[str, ...]:
    """tf.contrib.slim's names for three convolutions: Conv, Conv_1, Conv_2."""
    return tuple(f"{prefix}Conv{'' if i == 0 else f'_{i}'}/" for i in range(len(NATURE_CONVS)))


def _nature_torso(tf, h, rng, scopes, flat: str, fc: str, data_format="NHWC", act="Relu"):
    """The three Nature convolutions under `scopes`, flattened, then the 512-unit layer."""
    for spec, scope in zip(NATURE_CONVS, scopes, strict=True):
        h = _conv(tf, h, rng, spec, scope, data_format, act=act)
    return _dense(tf, _flatten(tf, h, flat), rng, NATURE_DENSE, fc, act=act)


def _dopamine_torso(tf, rng):
    """Dopamine's uint8 state_ph, cast (Online/Cast) and scaled, then the Nature torso."""
    x = tf.compat.v1.placeholder(tf.uint8, [None, 84, 84, 4], name="state_ph")
    with tf.name_scope("Online/"):
        h = tf.math.truediv(tf.cast(x, tf.float32, name="Cast"), 255.0, name="truediv")
    scopes = _slim_scopes("Online/")
    return _nature_torso(tf, h, rng, scopes, "Online/flatten/Reshape", "Online/fully_connected/")


def build_apex_graph(n_actions: int, seed: int):
    """Ape-X convention: NCHW convolutions under deepq/q_func/convnet, Q-values out."""

    def body(tf, rng):
        h = tf.transpose(_observations(tf), [0, 3, 1, 2], name="deepq/q_func/to_nchw")
        scopes = _slim_scopes("deepq/q_func/convnet/")
        hidden = _nature_torso(
            tf, h, rng, scopes, "deepq/q_func/flatten", "deepq/q_func/state_value/", "NCHW"
        )
        q = _dense(tf, hidden, rng, n_actions, "deepq/q_func/action_value/", act=None)
        tf.identity(q, name="deepq/q_func/q_values")

    return _frozen(seed, body)


def build_dqn_graph(n_actions: int, seed: int):
    """Dopamine convention: uint8 state_ph, Online/Cast, NHWC convolutions under Online/."""

    def body(tf, rng):
        _dense(tf, _dopamine_torso(tf, rng), rng, n_actions, "Online/fully_connected_1/", None)

    return _frozen(seed, body)


def build_rainbow_graph(n_actions: int, seed: int):
    """Dopamine Rainbow: the DQN torso, a C51 head; Q-values (expected returns) Online/Sum."""

    def body(tf, rng):
        units = n_actions * RAINBOW_ATOMS
        logits = _dense(tf, _dopamine_torso(tf, rng), rng, units, "Online/fully_connected_1/", None)
        with tf.name_scope("Online/"):
            atoms = tf.reshape(logits, [-1, n_actions, RAINBOW_ATOMS], name="Reshape")
            probabilities = tf.nn.softmax(atoms, axis=2, name="Softmax")
            support = np.linspace(-RAINBOW_V_MAX, RAINBOW_V_MAX, RAINBOW_ATOMS, dtype=np.float32)
            weighted = tf.multiply(probabilities, tf.constant(support, name="support"), name="mul")
            tf.reduce_sum(weighted, axis=2, name="Sum")

    return _frozen(seed, body)


def build_a2c_graph(n_actions: int, seed: int):
    """A2C (baselines): a2c/conv1..3, a2c/fc, policy logits a2c/policy and a value head."""

    def body(tf, rng):
        scopes = ("a2c/conv1/", "a2c/conv2/", "a2c/conv3/")
        hidden = _nature_torso(tf, _observations(tf), rng, scopes, "a2c/flatten", "a2c/fc/")
        _dense(tf, hidden, rng, n_actions, "a2c/policy/", act=None)
        _dense(tf, hidden, rng, 1, "a2c/value/", act=None)

    return _frozen(seed, body)


def build_ga_graph(n_actions: int, seed: int):
    """Deep GA: lower-case ga/conv1..3/relu, ga/fc/relu, the output ga/out/signal."""

    def body(tf, rng):
        scopes = ("ga/conv1/", "ga/conv2/", "ga/conv3/")
        x = _observations(tf)
        hidden = _nature_torso(tf, x, rng, scopes, "ga/flatten", "ga/fc/", act="relu")
        _dense(tf, hidden, rng, n_actions, "ga/out/", act=None, out="signal")

    return _frozen(seed, body)


def build_es_graph(n_actions: int, seed: int):
    """OpenAI ES: es/layer1..4/Relu, the output es/layer5/out/out."""

    def body(tf, rng):
        scopes = ("es/layer1/", "es/layer2/", "es/layer3/")
        hidden = _nature_torso(tf, _observations(tf), rng, scopes, "es/flatten", "es/layer4/")
        _dense(tf, hidden, rng, n_actions, "es/layer5/out/", act=None, out="out")

    return _frozen(seed, body)


def build_impala_like_graph(n_actions: int, seed: int):
    """No known convention: an IMPALA-style torso with a residual block, for discovery.

    agent/observations (float, [0, 1], NHWC) -> conv_0 -> conv_1 -> res_0 (conv_a, conv_b,
    add, Relu) -> fc (256, Relu) -> agent/policy_logits/BiasAdd (linear).
    """

    def body(tf, rng):
        t = "agent/torso/"
        h = _conv(tf, _observations(tf, "agent/observations"), rng, (16, 8, 4), f"{t}conv_0/")
        h = _conv(tf, h, rng, (32, 4, 2), f"{t}conv_1/")
        r = _conv(tf, h, rng, (32, 3, 1), f"{t}res_0/conv_a/", padding="SAME")
        r = _conv(tf, r, rng, (32, 3, 1), f"{t}res_0/conv_b/", padding="SAME", act=None)
        with tf.name_scope(f"{t}res_0/"):
            h = tf.nn.relu(tf.add(h, r, name="add"), name="Relu")
        hidden = _dense(tf, _flatten(tf, h, f"{t}flatten"), rng, 256, f"{t}fc/")
        _dense(tf, hidden, rng, n_actions, "agent/policy_logits/", act=None)

    return _frozen(seed, body)


BUILDERS = {
    "apex": build_apex_graph,
    "a2c": build_a2c_graph,
    "ga": build_ga_graph,
    "es": build_es_graph,
    "dqn": build_dqn_graph,
    "rainbow": build_rainbow_graph,
}
