"""Perturbation saliency (Greydanus et al. 2017): the batched scores are the paper's formula,
computed here the paper's way (one mask position per network call), on NHWC and NCHW
frozen graphs and a numpy network with a value head; the streamed file's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from zoo_site.analysis import activations, saliency
from zoo_site.analysis.saliency import SaliencySettings
from zoo_site.networks import load_network
from zoo_site.networks.base import LayerSpec, Network, ObsSpec, OutputSpec
from zoo_site.networks.netbuild import build_a2c_graph, build_apex_graph, build_dqn_graph
from zoo_site.sources.base import ModelRef

ACTIONS = 6


# ---- the paper's way, one position at a time ------------------------------------------------


def paper_mask(center, size, r):
    y, x = np.ogrid[-center[0] : size[0] - center[0], -center[1] : size[1] - center[1]]
    keep = x * x + y * y <= 1
    mask = np.zeros(size)
    mask[keep] = 1
    mask = gaussian_filter(mask, sigma=r)
    return mask / mask.max()


def occlude(image, mask, blur):
    """I·(1 − M) + G(I)·M, G blurring each frame of the stack by itself."""
    frames = [gaussian_filter(image[:, :, c], sigma=blur) for c in range(image.shape[2])]
    return image * (1 - mask[:, :, None]) + np.stack(frames, axis=2) * mask[:, :, None]


def actor_critic(net, image) -> tuple[np.ndarray, float]:
    head = net.output.value_head
    values = net.run(image[None].astype(np.float32), ["output", head] if head else ["output"])
    q = values["output"][0].astype(np.float64)
    return q, float(np.ravel(values[head])[0]) if head else float(q.max())


def reference(net, observations, stride=5, r=5.0, blur=3.0) -> np.ndarray:
    size = observations.shape[1:3]
    grid = range(0, size[0], stride), range(0, size[1], stride)
    out = np.zeros((len(observations), 2, len(grid[0]), len(grid[1])))
    for n, image in enumerate(observations):
        actor, critic = actor_critic(net, image)
        for a, i in enumerate(grid[0]):
            for b, j in enumerate(grid[1]):
                mask = paper_mask((i, j), size, r)
                actor_p, critic_p = actor_critic(net, occlude(image, mask, blur))
                out[n, 0, a, b] = 0.5 * np.square(actor - actor_p).sum()
                out[n, 1, a, b] = 0.5 * (critic - critic_p) ** 2
    return out


def assert_scores_equal(ours: np.ndarray, ref: np.ndarray, rtol: float = 1e-4) -> None:
    """Within rtol of each map (a step's mode), relative to the map's largest score: where a
    mask covers a flat region, I' ≈ I and a score is float32 noise of order 1e-14."""
    assert ours.shape == ref.shape and ours.dtype == np.float32
    peak = ref.max(axis=(2, 3), keepdims=True)
    assert (peak > 0).all()
    assert (np.abs(ours - ref) <= rtol * peak).all(), np.abs(ours - ref).max()
    big = ref > 0.01 * peak  # and each score that matters, within rtol of itself
    np.testing.assert_allclose(ours[big], ref[big], rtol=rtol * 10)


# ---- networks ---------------------------------------------------------------------------------


def observations(n: int, seed: int = 0) -> np.ndarray:
    """Atari-like stacks, stored as uint8 / 255: flat blocks (so some masks change nothing
    much), sprites of noise, and frames that move."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 6, (n, 12, 12, 1)) * 40
    image = np.repeat(np.repeat(blocks, 7, axis=1), 7, axis=2).repeat(4, axis=3)
    for k in range(4):
        image[:, 30 + 3 * k : 42 + 3 * k, 20:32, k] = rng.integers(0, 256, (n, 12, 12))
    return (image.astype(np.uint8) / np.float32(255.0)).astype(np.float32)


def frozen(tmp_path: Path, builder, algo: str):
    path = tmp_path / f"{algo}.pb"
    path.write_bytes(builder(ACTIONS, 3).SerializeToString())
    return load_network(ModelRef(path, "frozen_graph", algo))


class TanhNet:
    """A small numpy network: tanh(x·W1) -> Q-values and (optionally) a value head."""

    family = "test"
    obs = ObsSpec((84, 84, 4), "float32", "NHWC", 1.0, "x")
    layers = (LayerSpec("fc", "fc", "dense"), LayerSpec("output", "out", "output"))

    def __init__(self, value_head: bool = True, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.w1 = (rng.standard_normal((84 * 84 * 4, 16)) / 20).astype(np.float32)
        self.w2 = rng.standard_normal((16, ACTIONS)).astype(np.float32)
        self.w3 = rng.standard_normal((16, 1)).astype(np.float32)
        self.output = OutputSpec("q_values", ACTIONS, "Q-values",
                                 value_head="value" if value_head else None)  # fmt: skip

    def _hidden(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(np.asarray(x, np.float32).reshape(len(x), -1) @ self.w1 - 0.5)

    def run(self, observations, layers=None):
        h = self._hidden(observations)
        out = {"fc": h, "output": h @ self.w2}
        if self.output.value_head:
            out["value"] = (h @ self.w3)[:, 0]
        return {k: v for k, v in out.items() if layers is None or k in layers}


class GradNet(TanhNet):
    """The same with a gradient capability (vector-Jacobian products)."""

    def gradient(self, observations, layer, weights):
        h = self._hidden(observations)
        head = self.w2 if layer == "output" else self.w3
        back = (np.asarray(weights, np.float32) @ head.T) * (1 - h * h)
        return (back @ self.w1.T).reshape(observations.shape)


# ---- tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "builder,algo,layout",
    [(build_dqn_graph, "dqn", "NHWC"), (build_apex_graph, "apex", "NCHW")],
)
def test_scores_equal_the_papers_loop_on_frozen_graphs(tmp_path, builder, algo, layout):
    net = frozen(tmp_path, builder, algo)
    assert isinstance(net, Network) and net.output.value_head is None
    obs = observations(2, seed=1)
    ours = saliency.perturbation_scores(net, obs)
    assert ours.shape == (2, 2, 17, 17)
    assert_scores_equal(ours, reference(net, obs))
    # no value head: the critic is V = max_a Q(s, a), and says so
    assert saliency.critic_source(net) == "max_output"
    assert "max" in saliency.critic_label(net)


def test_value_head_of_a_frozen_graph_is_the_critic(tmp_path):
    net = frozen(tmp_path, build_a2c_graph, "a2c")
    assert net.output.value_head == "value" and saliency.critic_source(net) == "value_head"
    obs = observations(1, seed=2)
    assert_scores_equal(saliency.perturbation_scores(net, obs), reference(net, obs))


@pytest.mark.parametrize("value_head", [True, False])
def test_numpy_network_both_modes_and_other_settings(value_head):
    net = TanhNet(value_head)
    obs = observations(3, seed=3)
    ours = saliency.perturbation_scores(net, obs)
    ref = reference(net, obs)
    assert_scores_equal(ours, ref)
    if not value_head:  # the critic from the Q-values, by hand
        q = net.run(obs[:1], ["output"])["output"][0].astype(np.float64)
        image = occlude(obs[0], paper_mask((40, 40), (84, 84), 5.0), 3.0)
        q_p = net.run(image[None].astype(np.float32), ["output"])["output"][0]
        want = 0.5 * (q.max() - q_p.max()) ** 2
        peak = ours[0, 1].max()
        np.testing.assert_allclose(ours[0, 1, 8, 8], want, rtol=0, atol=1e-4 * peak)
    # another grid and blur, and calls that hold the positions of several steps (and part
    # of a step): the same scores however the inputs are batched
    settings = SaliencySettings(stride=7, radius=3.0, blur=2.0)
    ref = reference(net, obs, stride=7, r=3.0, blur=2.0)
    for batch in (5, 12, 289, 1000):
        ours = saliency.perturbation_scores(net, obs, settings, batch=batch)
        assert ours.shape == (3, 2, 12, 12)
        assert_scores_equal(ours, ref)


def test_masks_are_the_papers_and_bands_hold_them():
    mask, inverse = saliency.masks((84, 84), 5, 5.0)
    assert mask.shape == (289, 84, 84, 1) and not mask.flags.writeable
    for i, j in [(0, 0), (40, 75), (80, 80)]:
        index = (i // 5) * 17 + j // 5
        np.testing.assert_array_equal(mask[index, :, :, 0], paper_mask((i, j), (84, 84), 5.0))
    np.testing.assert_array_equal(inverse, 1 - mask)
    for p0, p1, r0, r1 in saliency.bands((84, 84), 5, 5.0):
        assert not mask[p0:p1, :r0].any() and not mask[p0:p1, r1:].any()
        assert r1 - r0 <= 43  # the disk's 3 rows and 20 either side (4 sigma)


def test_settings():
    settings = SaliencySettings()
    assert settings.as_json() == {"method": "perturbation", "stride": 5, "radius": 5.0,
                                  "blur": 3.0, "every": 1}  # fmt: skip
    assert settings.grid() == (17, 17)
    assert SaliencySettings(method="gradient").grid() == (84, 84)
    with pytest.raises(ValueError):
        SaliencySettings(method="occlusion")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SaliencySettings(every=0)


def test_stream_every_and_file_layout(tmp_path, monkeypatch):
    net = TanhNet(value_head=False)
    steps = 11
    raw = (observations(steps, seed=4) * 255).round().astype(np.uint8)  # stored as bytes
    monkeypatch.setattr(activations, "BATCH", 4)  # slices of 4 steps: 0-3, 4-7, 8-10
    batches = activations.observation_batches(tmp_path / "x.npz", steps, raw)
    settings = SaliencySettings(every=3)
    result = saliency.stream(net, batches, steps, tmp_path / "saliency.f32", settings)
    assert result.steps == [0, 3, 6, 9]
    assert result.shape == (4, 2, 17, 17)
    assert (tmp_path / "saliency.f32").stat().st_size == 4 * 2 * 17 * 17 * 4
    want = saliency.perturbation_scores(net, raw[[0, 3, 6, 9]] / np.float32(255.0))
    got = np.fromfile(tmp_path / "saliency.f32", "<f4").reshape(4, 2, 17, 17)
    assert_scores_equal(got, want)  # (float32 BLAS sums depend a little on the batch)
    np.testing.assert_array_equal(result.read(), got)
    meta = result.as_json()
    assert meta["critic"] == "max_output" and meta["shape"] == [4, 2, 17, 17]
    assert meta["modes"] == ["actor", "critic"] and meta["settings"]["every"] == 3


def test_stream_starting_again_overwrites(tmp_path):
    """observation_batches may start again from step 0 (scaling found late): rows are
    written at their step's place, so the file ends up the same."""
    net = TanhNet()
    obs = observations(6, seed=5)
    again = [(0, obs[:3]), (3, obs[3:] * 0.5), (0, obs[:3]), (3, obs[3:])]
    settings = SaliencySettings(every=2, stride=12)
    result = saliency.stream(net, iter(again), 6, tmp_path / "s.f32", settings)
    assert result.steps == [0, 2, 4] and result.critic == "value_head"
    want = saliency.perturbation_scores(net, obs[[0, 2, 4]], settings)
    assert_scores_equal(result.read(), want)


def test_gradient_where_the_network_has_one(tmp_path):
    net = GradNet()
    obs = observations(2, seed=6)
    maps = saliency.scores(net, obs, SaliencySettings(method="gradient"))
    assert maps.shape == (2, 2, 84, 84) and maps.dtype == np.float32
    # the actor's map by finite differences of the greedy action's output, at a few pixels
    greedy = np.argmax(net.run(obs, ["output"])["output"], axis=1)
    for y, x in [(35, 25), (60, 10)]:
        total = 0.0
        for c in range(4):
            up, down = obs.copy(), obs.copy()
            up[0, y, x, c] += 1e-2
            down[0, y, x, c] -= 1e-2
            q = net.run(np.concatenate([up[:1], down[:1]]), ["output"])["output"][:, greedy[0]]
            total += abs(float(q[0] - q[1]) / 2e-2)
        np.testing.assert_allclose(maps[0, 0, y, x], total, rtol=1e-2)
    with pytest.raises(NotImplementedError, match="gradient capability"):
        saliency.scores(TanhNet(), obs, SaliencySettings(method="gradient"))
