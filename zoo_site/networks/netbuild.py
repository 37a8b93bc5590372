"""Nature-CNN networks built as frozen TensorFlow graphs in the original zoo's conventions.

The demo zoo uses these: weights are random (He-normal, seeded), stored as constants, so
the .pb is frozen from the start; the Ape-X and Dopamine DQN builders also take given
weights (`NatureWeights`, e.g. the demo's trained ones). Every convention of the Atari
Model Zoo is offered, with its node names: Ape-X (NCHW convolutions, ``deepq/...``, input
``X_t`` in [0, 1]), A2C, GA and ES (NHWC, ``a2c/...``, ``ga/...``, ``es/...``, ``X_t`` in
[0, 1]) and Dopamine DQN and Rainbow (NHWC, ``Online/...``, a uint8 input cast to float as
``Online/Cast``, 0-255). ``build_impala_like_graph`` follows no convention at all, to
exercise auto-discovery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


# The Nature torso's last convolution: 7x7x64, flattened to 3136 inputs of the dense layer.
NATURE_LAST = (7, 7, NATURE_CONVS[-1][0])


def _he(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


@dataclass(frozen=True)
class NatureWeights:
    """A Nature-CNN's weights, as (kernel, bias) pairs from input to output: three
    convolutions (kernels HWIO, (k, k, in, out)), the 512-unit dense layer and the output
    layer (kernels (in, out)). The dense kernel's rows are in NHWC flatten order (height,
    width, channel), whatever the graph's layout: the same weights are the same function
    of the canonical observation in both conventions."""

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    def __post_init__(self) -> None:
        shapes = [(k.shape, b.shape) for k, b in self.layers]
        if len(shapes) != len(NATURE_CONVS) + 2:
            raise ValueError(f"a Nature-CNN has {len(NATURE_CONVS) + 2} layers, not {len(shapes)}")
        for kernel, bias in self.layers:
            if kernel.shape[-1:] != bias.shape:
                raise ValueError(f"kernel {kernel.shape} does not match bias {bias.shape}")

    @property
    def n_actions(self) -> int:
        return int(self.layers[-1][1].shape[0])

    def as_arrays(self) -> dict[str, np.ndarray]:
        """{"kernel0": …, "bias0": …, …} for np.savez; `from_arrays` reads it back."""
        out: dict[str, np.ndarray] = {}
        for i, (kernel, bias) in enumerate(self.layers):
            out[f"kernel{i}"], out[f"bias{i}"] = kernel, bias
        return out

    @classmethod
    def from_arrays(cls, arrays) -> NatureWeights:
        n = len(NATURE_CONVS) + 2
        layers = tuple((np.asarray(arrays[f"kernel{i}"], np.float32),
                        np.asarray(arrays[f"bias{i}"], np.float32)) for i in range(n))  # fmt: skip
        return cls(layers)


def nchw_rows(kernel: np.ndarray) -> np.ndarray:
    """A dense kernel after the Nature torso: rows from NHWC to NCHW flatten order."""
    h, w, c = NATURE_LAST
    return kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)


def nhwc_rows(kernel: np.ndarray) -> np.ndarray:
    """The inverse of `nchw_rows`."""
    h, w, c = NATURE_LAST
    return kernel.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(h * w * c, -1)


class _Random:
    """He-normal kernels drawn from a seeded generator, constant biases (the default)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def kernel(self, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return _he(self.rng, shape, fan_in)

    def bias(self, units: int, value: float) -> np.ndarray:
        return np.full(units, value, np.float32)


class _Given:
    """The layers of a `NatureWeights`, handed out in order; their shapes are checked."""

    def __init__(self, weights: NatureWeights, nchw: bool):
        layers = list(weights.layers)
        if nchw:  # the dense layer reads the NCHW torso's (channel, height, width) flatten
            kernel, bias = layers[len(NATURE_CONVS)]
            layers[len(NATURE_CONVS)] = (nchw_rows(kernel), bias)
        self.arrays = [a for layer in layers for a in layer]
        self.nchw = nchw

    def _next(self, shape: tuple[int, ...]) -> np.ndarray:
        array = self.arrays.pop(0)
        if array.shape != shape:
            raise ValueError(f"given weights: expected shape {shape}, got {array.shape}")
        return np.asarray(array, np.float32)

    def kernel(self, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return self._next(shape)

    def bias(self, units: int, value: float) -> np.ndarray:
        return self._next((units,))


def random_nature_weights(algo: str, n_actions: int, seed: int) -> NatureWeights:
    """The random weights `BUILDERS[algo](n_actions, seed)` freezes (Ape-X's dense rows put
    back in NHWC order), so that `BUILDERS[algo](n_actions, seed, weights=...)` with them
    builds the very same graph: where a training of the demo starts from."""
    if algo not in ("apex", "dqn"):  # WEIGHTED_BUILDERS
        raise ValueError(f"no given-weights builder for {algo!r}")
    params = _Random(seed)
    layers = []
    channels = 4
    for filters, k, _ in NATURE_CONVS:
        layers.append((params.kernel((k, k, channels, filters), k * k * channels),
                       params.bias(filters, 0.01)))  # fmt: skip
        channels = filters
    flat = int(np.prod(NATURE_LAST))
    fc = params.kernel((flat, NATURE_DENSE), flat)
    layers.append((nhwc_rows(fc) if algo == "apex" else fc, params.bias(NATURE_DENSE, 0.0)))
    out = params.kernel((NATURE_DENSE, n_actions), NATURE_DENSE)
    layers.append((out, params.bias(n_actions, 0.0)))
    return NatureWeights(tuple(layers))


def _frozen(
    seed: int, body: Callable, weights: NatureWeights | None = None, nchw: bool = False
) -> GraphDef:
    """The GraphDef of a fresh graph that `body(tf, params)` fills: params draws seeded
    random weights, or hands out the given ones (all of them must be used)."""
    from zoo_site.networks.tfload import tensorflow

    tf = tensorflow()

    params = _Random(seed) if weights is None else _Given(weights, nchw)
    graph = tf.Graph()
    with graph.as_default():
        body(tf, params)
    if isinstance(params, _Given) and params.arrays:
        raise ValueError(f"given weights: {len(params.arrays)} arrays left unused")
    return graph.as_graph_def()


def _observations(tf, name: str = "X_t"):
    return tf.compat.v1.placeholder(tf.float32, [None, 84, 84, 4], name=name)


def _conv(tf, h, params, spec, scope: str, data_format="NHWC", padding="VALID", act="Relu"):
    """<scope>Conv2D -> <scope>BiasAdd -> <scope><act> (no activation if act is None)."""
    filters, k, s = spec
    channels = int(h.shape[1 if data_format == "NCHW" else -1])
    strides = [1, 1, s, s] if data_format == "NCHW" else [1, s, s, 1]
    with tf.name_scope(scope):
        w = tf.constant(params.kernel((k, k, channels, filters), k * k * channels), name="weights")
        h = tf.nn.conv2d(h, w, strides, padding, data_format=data_format, name="Conv2D")
        b = tf.constant(params.bias(filters, 0.01), name="biases")
        h = tf.nn.bias_add(h, b, data_format=data_format, name="BiasAdd")
        return tf.nn.relu(h, name=act) if act else h


def _dense(tf, x, params, units: int, scope: str, act: str | None = "Relu", out="BiasAdd"):
    """<scope>MatMul -> <scope><out> (the bias add) -> <scope><act> unless act is None."""
    fan_in = int(x.shape[-1])
    with tf.name_scope(scope):
        w = tf.constant(params.kernel((fan_in, units), fan_in), name="weights")
        b = tf.constant(params.bias(units, 0.0), name="biases")
        y = tf.nn.bias_add(tf.matmul(x, w, name="MatMul"), b, name=out)
        return tf.nn.relu(y, name=act) if act else y


def _flatten(tf, h, name: str):
    return tf.reshape(h, [-1, int(np.prod(h.shape[1:]))], name=name)


def _slim_scopes(prefix: str) -> tuple[str, ...]:
    """tf.contrib.slim's names for three convolutions: Conv, Conv_1, Conv_2."""
    return tuple(f"{prefix}Conv{'' if i == 0 else f'_{i}'}/" for i in range(len(NATURE_CONVS)))


def _nature_torso(tf, h, params, scopes, flat: str, fc: str, data_format="NHWC", act="Relu"):
    """The three Nature convolutions under `scopes`, flattened, then the 512-unit layer."""
    for spec, scope in zip(NATURE_CONVS, scopes, strict=True):
        h = _conv(tf, h, params, spec, scope, data_format, act=act)
    return _dense(tf, _flatten(tf, h, flat), params, NATURE_DENSE, fc, act=act)


def _dopamine_torso(tf, params):
    """Dopamine's uint8 state_ph, cast (Online/Cast) and scaled, then the Nature torso."""
    x = tf.compat.v1.placeholder(tf.uint8, [None, 84, 84, 4], name="state_ph")
    with tf.name_scope("Online/"):
        h = tf.math.truediv(tf.cast(x, tf.float32, name="Cast"), 255.0, name="truediv")
    scopes = _slim_scopes("Online/")
    return _nature_torso(tf, h, params, scopes, "Online/flatten/Reshape", "Online/fully_connected/")


def build_apex_graph(n_actions: int, seed: int, weights: NatureWeights | None = None):
    """Ape-X convention: NCHW convolutions under deepq/q_func/convnet, Q-values out
    (random weights drawn from `seed`, or the given `weights`)."""

    def body(tf, params):
        h = tf.transpose(_observations(tf), [0, 3, 1, 2], name="deepq/q_func/to_nchw")
        scopes = _slim_scopes("deepq/q_func/convnet/")
        hidden = _nature_torso(
            tf, h, params, scopes, "deepq/q_func/flatten", "deepq/q_func/state_value/", "NCHW"
        )
        q = _dense(tf, hidden, params, n_actions, "deepq/q_func/action_value/", act=None)
        tf.identity(q, name="deepq/q_func/q_values")

    return _frozen(seed, body, _checked(weights, n_actions), nchw=True)


def build_dqn_graph(n_actions: int, seed: int, weights: NatureWeights | None = None):
    """Dopamine convention: uint8 state_ph, Online/Cast, NHWC convolutions under Online/
    (random weights drawn from `seed`, or the given `weights`)."""

    def body(tf, params):
        _dense(
            tf, _dopamine_torso(tf, params), params, n_actions, "Online/fully_connected_1/", None
        )

    return _frozen(seed, body, _checked(weights, n_actions))


def _checked(weights: NatureWeights | None, n_actions: int) -> NatureWeights | None:
    if weights is not None and weights.n_actions != n_actions:
        raise ValueError(f"given weights have {weights.n_actions} actions, not {n_actions}")
    return weights


def build_rainbow_graph(n_actions: int, seed: int):
    """Dopamine Rainbow: the DQN torso, a C51 head; Q-values (expected returns) Online/Sum."""

    def body(tf, params):
        units = n_actions * RAINBOW_ATOMS
        logits = _dense(
            tf, _dopamine_torso(tf, params), params, units, "Online/fully_connected_1/", None
        )
        with tf.name_scope("Online/"):
            atoms = tf.reshape(logits, [-1, n_actions, RAINBOW_ATOMS], name="Reshape")
            probabilities = tf.nn.softmax(atoms, axis=2, name="Softmax")
            support = np.linspace(-RAINBOW_V_MAX, RAINBOW_V_MAX, RAINBOW_ATOMS, dtype=np.float32)
            weighted = tf.multiply(probabilities, tf.constant(support, name="support"), name="mul")
            tf.reduce_sum(weighted, axis=2, name="Sum")

    return _frozen(seed, body)


def build_a2c_graph(n_actions: int, seed: int):
    """A2C (baselines): a2c/conv1..3, a2c/fc, policy logits a2c/policy and a value head."""

    def body(tf, params):
        scopes = ("a2c/conv1/", "a2c/conv2/", "a2c/conv3/")
        hidden = _nature_torso(tf, _observations(tf), params, scopes, "a2c/flatten", "a2c/fc/")
        _dense(tf, hidden, params, n_actions, "a2c/policy/", act=None)
        _dense(tf, hidden, params, 1, "a2c/value/", act=None)

    return _frozen(seed, body)


def build_ga_graph(n_actions: int, seed: int):
    """Deep GA: lower-case ga/conv1..3/relu, ga/fc/relu, the output ga/out/signal."""

    def body(tf, params):
        scopes = ("ga/conv1/", "ga/conv2/", "ga/conv3/")
        x = _observations(tf)
        hidden = _nature_torso(tf, x, params, scopes, "ga/flatten", "ga/fc/", act="relu")
        _dense(tf, hidden, params, n_actions, "ga/out/", act=None, out="signal")

    return _frozen(seed, body)


def build_es_graph(n_actions: int, seed: int):
    """OpenAI ES: es/layer1..4/Relu, the output es/layer5/out/out."""

    def body(tf, params):
        scopes = ("es/layer1/", "es/layer2/", "es/layer3/")
        hidden = _nature_torso(tf, _observations(tf), params, scopes, "es/flatten", "es/layer4/")
        _dense(tf, hidden, params, n_actions, "es/layer5/out/", act=None, out="out")

    return _frozen(seed, body)


def build_impala_like_graph(n_actions: int, seed: int):
    """No known convention: an IMPALA-style torso with a residual block, for discovery.

    agent/observations (float, [0, 1], NHWC) -> conv_0 -> conv_1 -> res_0 (conv_a, conv_b,
    add, Relu) -> fc (256, Relu) -> agent/policy_logits/BiasAdd (linear).
    """

    def body(tf, params):
        t = "agent/torso/"
        h = _conv(tf, _observations(tf, "agent/observations"), params, (16, 8, 4), f"{t}conv_0/")
        h = _conv(tf, h, params, (32, 4, 2), f"{t}conv_1/")
        r = _conv(tf, h, params, (32, 3, 1), f"{t}res_0/conv_a/", padding="SAME")
        r = _conv(tf, r, params, (32, 3, 1), f"{t}res_0/conv_b/", padding="SAME", act=None)
        with tf.name_scope(f"{t}res_0/"):
            h = tf.nn.relu(tf.add(h, r, name="add"), name="Relu")
        hidden = _dense(tf, _flatten(tf, h, f"{t}flatten"), params, 256, f"{t}fc/")
        _dense(tf, hidden, params, n_actions, "agent/policy_logits/", act=None)

    return _frozen(seed, body)


#: The builders that take given weights (`weights=NatureWeights`) as well as a seed.
WEIGHTED_BUILDERS = {"apex": build_apex_graph, "dqn": build_dqn_graph}

BUILDERS = {
    "apex": build_apex_graph,
    "a2c": build_a2c_graph,
    "ga": build_ga_graph,
    "es": build_es_graph,
    "dqn": build_dqn_graph,
    "rainbow": build_rainbow_graph,
}
