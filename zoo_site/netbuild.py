"""Nature-CNN networks built as frozen TensorFlow graphs in the original zoo's conventions.

The demo zoo uses these: weights are random (He-normal, seeded), stored as constants, so
the .pb is frozen from the start. Two conventions are offered: Ape-X (NCHW convolutions,
``deepq/...`` names, input ``X_t`` in [0, 1]) and Dopamine DQN (NHWC, ``Online/...``
names, a uint8 input cast to float as ``Online/Cast`` and scaled 0-255).
"""

from __future__ import annotations

import numpy as np

# (filters, kernel, stride) of the Nature DQN convolutions, then a 512-unit dense layer.
NATURE_CONVS = ((32, 8, 4), (64, 4, 2), (64, 3, 1))
NATURE_DENSE = 512


def _he(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def _conv_weights(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    weights, channels = [], 4
    for filters, k, _ in NATURE_CONVS:
        w = _he(rng, (k, k, channels, filters), k * k * channels)
        b = np.full(filters, 0.01, np.float32)
        weights.append((w, b))
        channels = filters
    return weights


def _dense(tf, x, rng, units: int, scope: str, relu: bool, out_name: str | None = None):
    fan_in = int(x.shape[-1])
    with tf.name_scope(scope):
        w = tf.constant(_he(rng, (fan_in, units), fan_in), name="weights")
        b = tf.constant(np.zeros(units, np.float32), name="biases")
        y = tf.nn.bias_add(tf.matmul(x, w, name="MatMul"), b, name="BiasAdd")
        return tf.nn.relu(y, name="Relu") if relu else y


def _conv_stack(tf, h, rng: np.random.Generator, scope: str, data_format: str):
    """The three Nature convolutions, named <scope>Conv, <scope>Conv_1, <scope>Conv_2."""
    for i, ((w, b), (_, _, s)) in enumerate(zip(_conv_weights(rng), NATURE_CONVS, strict=True)):
        strides = [1, 1, s, s] if data_format == "NCHW" else [1, s, s, 1]
        with tf.name_scope(f"{scope}Conv{'' if i == 0 else f'_{i}'}/"):
            w_t = tf.constant(w, name="weights")
            h = tf.nn.conv2d(h, w_t, strides, "VALID", data_format=data_format, name="Conv2D")
            b_t = tf.constant(b, name="biases")
            h = tf.nn.bias_add(h, b_t, data_format=data_format, name="BiasAdd")
            h = tf.nn.relu(h, name="Relu")
    return h


def _flatten(tf, h, name: str):
    return tf.reshape(h, [-1, int(np.prod(h.shape[1:]))], name=name)


def build_apex_graph(n_actions: int, seed: int):
    """Ape-X convention: NCHW convolutions under deepq/q_func/convnet, Q-values out."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 84, 84, 4], name="X_t")
        h = tf.transpose(x, [0, 3, 1, 2], name="deepq/q_func/to_nchw")
        h = _conv_stack(tf, h, rng, "deepq/q_func/convnet/", "NCHW")
        flat = _flatten(tf, h, "deepq/q_func/flatten")
        hidden = _dense(tf, flat, rng, NATURE_DENSE, "deepq/q_func/state_value/", relu=True)
        q = _dense(tf, hidden, rng, n_actions, "deepq/q_func/action_value/", relu=False)
        tf.identity(q, name="deepq/q_func/q_values")
    return graph.as_graph_def()


def build_dqn_graph(n_actions: int, seed: int):
    """Dopamine convention: uint8 state_ph, Online/Cast, NHWC convolutions under Online/."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.uint8, [None, 84, 84, 4], name="state_ph")
        with tf.name_scope("Online/"):
            h = tf.math.truediv(tf.cast(x, tf.float32, name="Cast"), 255.0, name="truediv")
        h = _conv_stack(tf, h, rng, "Online/", "NHWC")
        flat = _flatten(tf, h, "Online/flatten/Reshape")
        hidden = _dense(tf, flat, rng, NATURE_DENSE, "Online/fully_connected/", relu=True)
        _dense(tf, hidden, rng, n_actions, "Online/fully_connected_1/", relu=False)
    return graph.as_graph_def()


BUILDERS = {"apex": build_apex_graph, "dqn": build_dqn_graph}
