"""Behaviour cloning of a Nature CNN in TensorFlow 2 on the CPU, deterministic for a seed.

The network is `networks.netbuild`'s Nature CNN (NHWC, canonical float observations in
[0, 1]): three convolutions, a 512-unit layer, and an output layer of logits trained with
cross-entropy on the scripted player's action, so that the argmax of the frozen graph's
output is the imitated action.

Three aids make it learn in a few thousand steps; none of them is in what is frozen:

- batch normalisation after each convolution and the 512-unit layer (before the ReLU),
  folded at the end into those layers' weights and biases with the statistics of the
  training observations: the frozen network is the plain Nature CNN, computing what the
  trained one computes in inference mode;
- an auxiliary linear head on the 512-unit layer, regressing what the scripted player read
  from RAM and worked out (`Pairs.features`: positions, velocities, its target);
- an auxiliary 1x1 convolution on the first convolution's output, classifying which of its
  20x20 cells the ball's middle is in, and which the paddle's (`Pairs.objects`).

The auxiliary heads are dropped. Adam takes minibatches in a seeded order; TensorFlow's op
determinism is on and it runs on one thread, so a seed gives the same weights every time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from zoo_site.demo_agents.collect import Pairs, canonical
from zoo_site.networks.netbuild import NATURE_CONVS, NATURE_DENSE, NatureWeights

BN_EPSILON = 1e-3
TORSO = len(NATURE_CONVS) + 1
"""The layers batch-normalised while training: the three convolutions and the dense one."""
CELLS = 20
"""The first convolution's output is CELLS x CELLS (84x84 input, 8x8 kernel, stride 4)."""


def configure_tensorflow(strict: bool = True):
    """TensorFlow; `strict`: with op determinism, on one thread, and an error if this
    process started it with other threads (its results would differ from another's)."""
    from zoo_site.networks.tfload import tensorflow

    tf = tensorflow()
    if not strict:
        return tf
    threading = tf.config.threading
    try:
        threading.set_intra_op_parallelism_threads(1)
        threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already started: fine if with the same settings
        threads = (threading.get_intra_op_parallelism_threads(),
                   threading.get_inter_op_parallelism_threads())  # fmt: skip
        if threads != (1, 1):
            raise RuntimeError(
                f"TensorFlow already runs with {threads} threads in this process; the demo's "
                "training needs a process of its own (one thread, for determinism)"
            ) from None
    tf.config.experimental.enable_op_determinism()
    return tf


def _linear(tf, i: int, h, kernel, bias):
    """Layer i's affine part: a VALID convolution of the Nature CNN, or a dense layer."""
    if i < len(NATURE_CONVS):
        return tf.nn.conv2d(h, kernel, NATURE_CONVS[i][2], "VALID") + bias
    if i == len(NATURE_CONVS):
        h = tf.reshape(h, [-1, int(np.prod(h.shape[1:]))])
    return tf.matmul(h, kernel) + bias


def cells(objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Screen (x, y) -> the index of the first convolution's output cell whose 8x8 window
    (stride 4 on the 84x84 observation) is centred nearest; and 1.0 where there is one."""
    present = ~np.isnan(objects[..., 0])
    x = np.nan_to_num(objects[..., 0]) * 84 / 160
    y = np.nan_to_num(objects[..., 1]) * 84 / 210
    col = np.clip(np.rint((x - 4) / 4), 0, CELLS - 1).astype(np.int64)
    row = np.clip(np.rint((y - 4) / 4), 0, CELLS - 1).astype(np.int64)
    return row * CELLS + col, present.astype(np.float32)


class Cloner:
    """A network being trained (see above): `fit` on pairs, any number of times, and
    `weights`, the plain network it is at that point (its batch normalisations folded)."""

    def __init__(
        self,
        start: NatureWeights,
        n_features: int,
        n_objects: int,
        *,
        learning_rate: float,
        auxiliary: float,
        spatial: float,
        seed: int,
    ) -> None:
        tf = self.tf = configure_tensorflow()
        tf.random.set_seed(seed)
        self.rng = rng = np.random.default_rng(seed)
        self.layers = layers = [(tf.Variable(k), tf.Variable(b)) for k, b in start.layers]
        self.norms = norms = [(tf.Variable(np.ones_like(b)), tf.Variable(np.zeros_like(b)))
                              for _, b in start.layers[:TORSO]]  # fmt: skip
        head = (
            tf.Variable(rng.standard_normal((NATURE_DENSE, n_features)).astype(np.float32) * 0.01),
            tf.Variable(np.zeros(n_features, np.float32)),
        )
        filters = NATURE_CONVS[0][0]
        spot = tf.Variable(rng.standard_normal((1, 1, filters, n_objects)).astype(np.float32) * 0.1)
        trained = [v for pair in (*layers, *norms, head) for v in pair] + [spot]
        optimizer = tf.keras.optimizers.Adam(learning_rate)

        @tf.function(reduce_retracing=True, autograph=False)
        def step(x, y, f, where, present):
            with tf.GradientTape() as tape:
                h = x
                for i in range(TORSO):
                    z = _linear(tf, i, h, *layers[i])
                    mean, variance = tf.nn.moments(z, list(range(len(z.shape) - 1)))
                    gamma, beta = norms[i]
                    h = tf.nn.relu(gamma * (z - mean) * tf.math.rsqrt(variance + BN_EPSILON) + beta)
                    if i == 0:
                        maps = tf.transpose(tf.nn.conv2d(h, spot, 1, "VALID"), [0, 3, 1, 2])
                        maps = tf.reshape(maps, [-1, n_objects, CELLS * CELLS])
                        misplaced = tf.nn.sparse_softmax_cross_entropy_with_logits(where, maps)
                        located = tf.reduce_sum(misplaced * present)
                        located /= tf.maximum(tf.reduce_sum(present), 1.0)
                logits = _linear(tf, TORSO, h, *layers[TORSO])
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
                guess = tf.matmul(h, head[0]) + head[1]
                loss += auxiliary * tf.reduce_mean(tf.square(guess - f)) + spatial * located
            optimizer.apply_gradients(zip(tape.gradient(loss, trained), trained, strict=True))
            return loss

        self._step = step

    def fit(self, pairs: Pairs, epochs: int, batch: int) -> int:
        """`epochs` passes over `pairs` in seeded minibatches; returns the updates made."""
        n, updates = len(pairs), 0
        for _ in range(epochs):
            order = self.rng.permutation(n)
            for first in range(0, n - batch + 1, batch):  # full batches only: one trace
                index = np.sort(order[first : first + batch])
                where, present = cells(pairs.objects[index])
                self._step(canonical(pairs.observations[index]), pairs.actions[index],
                           pairs.features[index], where, present)  # fmt: skip
                updates += 1
        return updates

    def weights(self, observations: np.ndarray) -> NatureWeights:
        """The plain network, folded with the statistics of (up to 2,048 of) `observations`."""
        n = len(observations)
        sample = np.sort(self.rng.permutation(n)[: min(n, 2048)])
        return _fold(self.tf, self.layers, self.norms, observations[sample])


def _fold(tf, layers, norms, observations: np.ndarray) -> NatureWeights:
    """The batch normalisations folded into the layers, one after the other: each layer's
    statistics are over its outputs for `observations`, through the layers folded before."""
    folded: list[tuple[np.ndarray, np.ndarray]] = []
    inputs = [canonical(observations[i : i + 256]) for i in range(0, len(observations), 256)]
    for i in range(TORSO):
        kernel, bias = (v.numpy() for v in layers[i])
        zs = [_linear(tf, i, h, kernel, bias).numpy() for h in inputs]
        axes = tuple(range(zs[0].ndim - 1))
        count = sum(int(np.prod([z.shape[a] for a in axes])) for z in zs)
        mean = sum(z.sum(axis=axes, dtype=np.float64) for z in zs) / count
        variance = sum(np.square(z - mean).sum(axis=axes, dtype=np.float64) for z in zs) / count
        gamma, beta = (v.numpy().astype(np.float64) for v in norms[i])
        scale = gamma / np.sqrt(variance + BN_EPSILON)
        kernel = (kernel * scale).astype(np.float32)
        bias = ((bias - mean) * scale + beta).astype(np.float32)
        folded.append((kernel, bias))
        inputs = [tf.nn.relu(_linear(tf, i, h, kernel, bias)).numpy() for h in inputs]
    kernel, bias = (v.numpy() for v in layers[TORSO])
    folded.append((kernel, bias))
    return NatureWeights(tuple(folded))


def predict(weights: NatureWeights, observations: np.ndarray, batch: int = 256) -> np.ndarray:
    """The logits of the plain network `weights` for stored observations (see `Pairs`)."""
    tf = configure_tensorflow(strict=False)
    out = []
    for first in range(0, len(observations), batch):
        h = canonical(observations[first : first + batch])
        for i, (kernel, bias) in enumerate(weights.layers):
            h = _linear(tf, i, h, kernel, bias)
            h = tf.nn.relu(h) if i < TORSO else h
        out.append(np.asarray(h))
    return np.concatenate(out) if out else np.zeros((0, weights.n_actions), np.float32)


def greedy(weights: NatureWeights) -> Callable[[np.ndarray], int]:
    """The plain network `weights` as a player: one canonical (84, 84, 4) observation ->
    the index of its highest output, as the frozen graph chooses when the site plays it."""
    tf = configure_tensorflow(strict=False)
    constants = [(tf.constant(k), tf.constant(b)) for k, b in weights.layers]

    @tf.function(autograph=False)
    def logits(x):
        h = x
        for i, (kernel, bias) in enumerate(constants):
            h = _linear(tf, i, h, kernel, bias)
            h = tf.nn.relu(h) if i < TORSO else h
        return h

    return lambda observation: int(np.argmax(logits(observation[None]).numpy()[0]))
