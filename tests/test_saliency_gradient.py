"""Gradient saliency (|∂L/∂I| summed over the stack): every loader's vector-Jacobian
products equal PyTorch autograd's on the same network, built independently here from the
same weights and run in float64.

Tolerance: float32 gradients against float64 ones, |ours − ref| ≤ 1e-5 · max |ref| for
every pixel (measured: at most 8e-7; float32 sums over up to 7744 terms. A ReLU whose input
is within float32 rounding of 0 could flip and break this; none does for these seeds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")

from zoo_site.analysis import saliency  # noqa: E402
from zoo_site.analysis.saliency import Differentiable  # noqa: E402
from zoo_site.networks.conventions import CONVENTIONS, Convention  # noqa: E402
from zoo_site.networks.frozen_graph import FrozenGraphNetwork  # noqa: E402
from zoo_site.networks.nature_cnn import Conv, Dense, NatureCNNWeights, same_padding  # noqa: E402
from zoo_site.networks.netbuild import (  # noqa: E402
    NATURE_CONVS,
    build_a2c_graph,
    build_apex_graph,
    build_dqn_graph,
    build_rainbow_graph,
)
from zoo_site.networks.tf_checkpoint import DopamineNetwork  # noqa: E402
from zoo_site.networks.tf_checkpoint import support as dopamine_support  # noqa: E402
from zoo_site.networks.torch_state import AtariAgentsNetwork  # noqa: E402

ACTIONS = 5
BUILDERS = {
    "apex": build_apex_graph,
    "dqn": build_dqn_graph,
    "a2c": build_a2c_graph,
    "rainbow": build_rainbow_graph,
}


def observations(n: int, seed: int = 0) -> np.ndarray:
    """Random stacks of bytes / 255: the uint8 networks' rounding changes nothing."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 84, 84, 4)) / np.float32(255)).astype(np.float32)


def assert_close(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    peak = np.abs(ref).max()
    assert peak > 0
    error = np.abs(ours - ref).max() / peak
    assert error <= 1e-5, error


# ---- the reference: the same network in PyTorch, float64 ------------------------------------


class TorchNet:
    """convs (HWIO kernel, bias, stride) -> dense -> heads, ReLU but on the heads; inputs
    canonical NHWC [0, 1]. `nchw_rows`: the dense kernel reads the NCHW flattening (Ape-X).
    `support`: the head "output" holds C51 logits, its values Σ softmax × support."""

    def __init__(self, convs, fc, heads, padding="VALID", nchw_rows=False, support=None):
        def t(a):
            return torch.from_numpy(np.asarray(a, np.float64))

        self.convs = [(t(k).permute(3, 2, 0, 1), t(b), s) for k, b, s in convs]
        self.fc = (t(fc[0]), t(fc[1]))
        self.heads = {name: (t(k), t(b)) for name, (k, b) in heads.items()}
        self.padding, self.nchw_rows = padding, nchw_rows
        self.support = None if support is None else t(support)

    def forward(self, x):
        out = {}
        h = x.permute(0, 3, 1, 2)
        for i, (kernel, bias, stride) in enumerate(self.convs):
            if self.padding == "SAME":
                (top, bottom), (left, right) = (
                    same_padding(h.shape[d], kernel.shape[d], stride) for d in (2, 3)
                )
                h = torch.nn.functional.pad(h, (left, right, top, bottom))
            h = torch.relu(torch.nn.functional.conv2d(h, kernel, bias, stride=stride))
            out[f"conv{i + 1}"] = h.permute(0, 2, 3, 1)
        flat = h.flatten(1) if self.nchw_rows else h.permute(0, 2, 3, 1).flatten(1)
        h = out["fc"] = torch.relu(flat @ self.fc[0] + self.fc[1])
        for name, (kernel, bias) in self.heads.items():
            out[name] = h @ kernel + bias
        if self.support is not None:
            logits = out["output"].reshape(len(x), -1, len(self.support))
            out["distribution"] = torch.softmax(logits, dim=2)
            out["output"] = (out["distribution"] * self.support).sum(dim=2)
        return out

    def gradient(self, observations, layer, weights):
        """The reference vector-Jacobian product, by autograd."""
        x = torch.from_numpy(observations.astype(np.float64)).requires_grad_()
        value = self.forward(x)[layer].reshape(len(x), -1)
        (value * torch.from_numpy(weights.reshape(len(x), -1).astype(np.float64))).sum().backward()
        return x.grad.numpy()

    def run(self, observations, layer):
        with torch.no_grad():
            value = self.forward(torch.from_numpy(observations.astype(np.float64)))[layer]
        return value.numpy()


def graph_reference(graph_def, algo: str) -> TorchNet:
    """A TorchNet of the graph's own constants (the Nature CNN's weights and biases, in
    order; then the head or heads; Rainbow's support)."""
    consts = {
        n.name: tf.make_ndarray(n.attr["value"].tensor) for n in graph_def.node if n.op == "Const"
    }
    pairs = [
        (consts[n], consts[n[: -len("weights")] + "biases"])
        for n in consts
        if n.endswith("/weights")
    ]
    convs = [(k, b, spec[2]) for (k, b), spec in zip(pairs, NATURE_CONVS, strict=False)]
    heads = {"output": pairs[4]} | ({"value": pairs[5]} if algo == "a2c" else {})
    support = consts["Online/support"] if algo == "rainbow" else None
    return TorchNet(convs, pairs[3], heads, nchw_rows=algo == "apex", support=support)


def frozen(algo: str, seed: int = 3) -> tuple[FrozenGraphNetwork, TorchNet]:
    graph_def = BUILDERS[algo](ACTIONS, seed)
    net = FrozenGraphNetwork(graph_def, CONVENTIONS[algo], Path(f"{algo}.pb"))
    return net, graph_reference(graph_def, algo)


def random_weights(padding: str, outputs: int, seed: int = 0) -> NatureCNNWeights:
    rng = np.random.default_rng(seed)

    def he(*shape):
        return (rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[:-1]))).astype(np.float32)

    def bias(n):
        return (rng.standard_normal(n) * 0.05).astype(np.float32)

    convs, channels, size = [], 4, 84
    for filters, k, stride in NATURE_CONVS:
        convs.append(Conv(he(k, k, channels, filters), bias(filters), stride))
        channels = filters
        size = -(-size // stride) if padding == "SAME" else (size - k) // stride + 1
    features = size * size * channels
    fc = Dense(he(features, 512), bias(512))
    return NatureCNNWeights(tuple(convs), fc, Dense(he(512, outputs), bias(outputs)), padding)


def numpy_net(kind: str) -> tuple[Differentiable, TorchNet]:
    """Dopamine (SAME padding) DQN and C51, atari-agents (VALID) C51."""
    padding = "VALID" if kind == "atari-agents" else "SAME"
    atoms = dopamine_support() if kind != "dopamine-dqn" else None
    weights = random_weights(padding, ACTIONS * (1 if atoms is None else len(atoms)))
    cls = AtariAgentsNetwork if kind == "atari-agents" else DopamineNetwork
    net = cls(weights, ACTIONS, atoms, kind, Path(kind))
    ref = TorchNet(
        [(c.kernel, c.bias, c.stride) for c in weights.convs],
        (weights.fc.kernel, weights.fc.bias),
        {"output": (weights.head.kernel, weights.head.bias)},
        padding,
        support=atoms,
    )
    return net, ref


# ---- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("algo", ["apex", "dqn", "a2c", "rainbow"])
def test_frozen_graph_gradients_equal_autograd(algo):
    """Ape-X: NCHW rewritten for the CPU; DQN: fed at Online/Cast x 255 (the scale by the
    chain rule); A2C: the value head; Rainbow: C51's expected returns through the softmax."""
    net, ref = frozen(algo)
    assert isinstance(net, Differentiable)
    obs = observations(2, seed=1)
    # the reference is the same function
    np.testing.assert_allclose(
        net.run(obs, ["output"])["output"], ref.run(obs, "output"), rtol=1e-4, atol=1e-4
    )
    rng = np.random.default_rng(2)
    # a conv layer: NCHW activations, weighted in canonical NHWC order
    layers = ["output"] + {"apex": ["conv2"], "a2c": ["value"]}.get(algo, [])
    for layer in layers:
        shape = net.run(obs, [layer])[layer].shape
        weights = rng.standard_normal((2, int(np.prod(shape[1:])))).astype(np.float32)
        ours = net.gradient(obs, layer, weights)
        assert ours.shape == (2, 84, 84, 4)
        assert_close(ours, ref.gradient(obs, layer, weights))


def test_uint8_feed_is_straight_through():
    """The Dopamine graph fed at its uint8 state_ph: the rounding is taken as the identity,
    so the gradient is the one fed at Online/Cast (the same graph, a float feed)."""
    graph_def = build_dqn_graph(ACTIONS, 4)
    dqn = CONVENTIONS["dqn"]
    at_cast = FrozenGraphNetwork(graph_def, dqn, Path("d.pb"))
    state_ph = Convention("u8", "state_ph", 255.0, dqn.layers, output_kind="q_values")
    at_bytes = FrozenGraphNetwork(graph_def, state_ph, Path("u.pb"))
    assert at_bytes.obs.dtype == "uint8"
    obs = observations(2, seed=3)
    weights = np.random.default_rng(0).standard_normal((2, ACTIONS)).astype(np.float32)
    want = at_cast.gradient(obs, "output", weights)
    np.testing.assert_allclose(
        at_bytes.gradient(obs, "output", weights), want, rtol=1e-6, atol=1e-6 * np.abs(want).max()
    )


@pytest.mark.parametrize("kind", ["dopamine-dqn", "dopamine-c51", "atari-agents"])
def test_numpy_network_gradients_equal_autograd(kind):
    net, ref = numpy_net(kind)
    assert isinstance(net, Differentiable)
    obs = observations(2, seed=4)
    np.testing.assert_allclose(
        net.run(obs, ["output"])["output"], ref.run(obs, "output"), rtol=1e-4, atol=1e-4
    )
    rng = np.random.default_rng(5)
    layers = ["output"] + (["conv1", "conv3", "fc"] if kind == "dopamine-dqn" else ["distribution"])
    for layer in layers:
        shape = net.run(obs, [layer])[layer].shape
        weights = rng.standard_normal((2, *shape[1:])).astype(np.float32)
        assert_close(net.gradient(obs, layer, weights), ref.gradient(obs, layer, weights))


def test_gradient_scores_are_the_greedy_actions_and_the_values_gradients():
    obs = observations(3, seed=6)
    net, ref = frozen("a2c")
    maps = saliency.gradient_scores(net, obs)
    assert maps.shape == (3, 2, 84, 84) and maps.dtype == np.float32 and (maps >= 0).all()
    greedy = np.eye(ACTIONS, dtype=np.float32)[ref.run(obs, "output").argmax(axis=1)]
    actor = np.abs(ref.gradient(obs, "output", greedy)).sum(axis=3)
    critic = np.abs(ref.gradient(obs, "value", np.ones((3, 1), np.float32))).sum(axis=3)
    for ours, want in ((maps[:, 0], actor), (maps[:, 1], critic)):
        assert_close(ours, want.astype(np.float32))
    assert not np.allclose(maps[:, 0], maps[:, 1])
    # no value head: the critic is max_a Q, whose gradient is the greedy action's
    for net in (frozen("apex")[0], numpy_net("dopamine-c51")[0]):
        maps = saliency.scores(net, obs, saliency.SaliencySettings(method="gradient"))
        assert maps.shape == (3, 2, 84, 84) and (maps >= 0).all() and maps.max() > 0
        np.testing.assert_array_equal(maps[:, 0], maps[:, 1])
    assert saliency.gradient_scores(net, obs[:0]).shape == (0, 2, 84, 84)
