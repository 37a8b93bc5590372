"""An entry is processed in slices of steps (issue 11): the rollout read a slice at a time,
the layers spilled to a temporary file, strips and posters built on the way. Its outputs
are byte for byte those of the whole-rollout-in-memory way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zoo_site.analysis import activations
from zoo_site.build import entries
from zoo_site.build.entries import EntryTask, run_entry
from zoo_site.config import RenderConfig, RolloutConfig
from zoo_site.errors import EntryError
from zoo_site.media import tiling
from zoo_site.networks.netbuild import build_dqn_graph
from zoo_site.rollouts import npz
from zoo_site.sources import read_catalog

STEPS = 613  # more than two network batches and many encoder chunks, none of them full


def frames_and_observations(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Moving blocks on a gradient (cheap to encode, different at every step), and
    observations made from them."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[:210, :160]
    base = np.stack([(x * 1.5) % 256, (y * 1.2) % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    frames = np.repeat(base[None], steps, axis=0)
    for n in range(steps):
        top, left = (n * 3) % 190, (n * 7) % 140
        frames[n, top : top + 20, left : left + 20] = rng.integers(0, 255, 3)
    gray = frames[:, ::2, :].mean(axis=-1)[:, :84, 38:122] / 255.0
    obs = np.stack([np.roll(gray, k, axis=0) for k in range(4)], axis=-1).astype(np.float32)
    return frames, obs


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("chunked-zoo")
    game = root / "dqn" / "SeaquestNoFrameskip-v4"
    game.mkdir(parents=True)
    (game / "model1_final.pb").write_bytes(build_dqn_graph(18, 1).SerializeToString())
    frames, obs = frames_and_observations(STEPS)
    rng = np.random.default_rng(0)
    npz.save(game / "model1_final_rollout.npz", {
        "frames": frames, "observations": obs,
        "ram": rng.integers(0, 255, (STEPS, 128), dtype=np.uint8),
        "score": np.cumsum(rng.integers(0, 2, STEPS)).astype(np.float32),
        "actions": rng.integers(0, 18, STEPS).astype(np.int32),
        "ep_rewards": np.array([12.0], np.float32),
    })  # fmt: skip
    return root


def render(zoo: Path, cache: Path):
    (entry,) = read_catalog(zoo).entries
    result = run_entry(EntryTask(entry, cache, RenderConfig(), RolloutConfig()))
    assert result.status == "rendered", result.error
    return result


def in_memory(monkeypatch) -> None:
    """The whole-rollout way: every array read whole, layers kept in memory, strips in
    one piece."""
    monkeypatch.setattr(entries, "_read_rollout", lambda task, path: npz.load(path))
    compute = activations.compute
    monkeypatch.setattr(activations, "compute",
                        lambda *a, **k: compute(*a, **{**k, "spill_dir": None}))  # fmt: skip
    monkeypatch.setattr(tiling, "STRIP_CHUNK", 10**9)


def test_outputs_are_byte_identical_to_the_whole_rollout_way(zoo, tmp_path, monkeypatch):
    chunked = render(zoo, tmp_path / "chunked")
    with monkeypatch.context() as m:
        in_memory(m)
        whole = render(zoo, tmp_path / "whole")
    names = sorted(p.name for p in chunked.media_dir.iterdir())
    assert names == sorted(p.name for p in whole.media_dir.iterdir())
    assert {"gameplay.mp4", "atlas.mp4", "strip-conv1.png", "strip-fc.png", "outputs.f32",
            "poster.png", "atlas-poster.png", "result.json"} <= set(names)  # fmt: skip
    for name in names:
        a, b = (chunked.media_dir / name).read_bytes(), (whole.media_dir / name).read_bytes()
        assert a == b, f"{name} differs between the chunked and the whole-rollout way"
    # no spill file is left behind
    assert not any((tmp_path / "chunked" / "tmp").glob("*"))


def test_the_pipeline_reads_the_rollout_lazily(zoo, tmp_path, monkeypatch):
    """The build never loads the frames or observations whole: it gets `Member`s and
    spilled layers, read a slice at a time."""
    seen = {}
    read, compute = entries._read_rollout, activations.compute

    def spy_read(task, path):
        ro = read(task, path)
        seen["frames"], seen["observations"] = type(ro.frames), type(ro.observations)
        return ro

    def spy_compute(*args, **kwargs):
        acts = compute(*args, **kwargs)
        seen["layers"] = {layer.name: type(layer.values) for layer in acts.layers}
        return acts

    monkeypatch.setattr(entries, "_read_rollout", spy_read)
    monkeypatch.setattr(activations, "compute", spy_compute)
    render(zoo, tmp_path / "cache")
    assert seen["frames"] is npz.Member and seen["observations"] is npz.Member
    assert seen["layers"] == {"conv1": activations.Spilled, "conv2": activations.Spilled,
                              "conv3": activations.Spilled, "fc": activations.Spilled,
                              "output": np.ndarray}  # fmt: skip


def test_members_read_slices_forward_and_back(tmp_path):
    frames, obs = frames_and_observations(300)
    path = tmp_path / "r.npz"
    npz.save(path, {"frames": frames, "observations": obs})
    ro = npz.load(path, lazy=True)
    assert isinstance(ro.frames, npz.Member) and ro.frames.shape == frames.shape
    for sl in (slice(10, 70), slice(70, 140), slice(0, 5), slice(290, 300), slice(299, 400)):
        np.testing.assert_array_equal(ro.frames[sl], frames[sl])
    picks = np.array([250, 3, 100, 3])
    np.testing.assert_array_equal(ro.frames[picks], frames[picks])
    np.testing.assert_array_equal(ro.frames[-1], frames[-1])
    np.testing.assert_array_equal(ro.observations[128:256], obs[128:256])


def test_lazy_members_find_damage_when_read(tmp_path):
    """Damaged frames: an EntryError naming the file when they are read through (their
    CRC is checked at the last row), whether the damage is in the first slice or not."""
    frames, obs = frames_and_observations(40)
    path = tmp_path / "r.npz"
    npz.save(path, {"frames": frames, "observations": obs})
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 3
    raw[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(raw))
    with pytest.raises(EntryError, match="corrupt") as info:
        ro = npz.load(path, lazy=True)
        for start in range(0, 40, 16):
            ro.frames[start : start + 16]
            ro.observations[start : start + 16]
    assert info.value.path == str(path)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_observation_batches_scale_like_the_whole_array(layout, tmp_path):
    """Observations stored 0-255 whose first batch is black: the scale is found on a
    later batch, and the batches start again, all divided by 255, as the whole array
    would be."""
    _, obs = frames_and_observations(600)
    stored = (obs * 255).round()
    stored[:300] = 0.0  # the first batch (and a half) holds nothing above 1
    if layout == "NCHW":
        stored = np.ascontiguousarray(np.transpose(stored, (0, 3, 1, 2)))
    batches = list(activations.observation_batches(tmp_path, 600, stored))
    assert [s for s, _ in batches][:3] == [0, 0, 256]  # the second batch restarted them
    got = activations.load_observations(tmp_path, 600, stored)
    canonical = stored if layout == "NHWC" else np.transpose(stored, (0, 2, 3, 1))
    np.testing.assert_array_equal(got, canonical.astype(np.float32) / np.float32(255))


class TinyNetwork:
    """Enough of a Network for playing: values from the observation's pixels."""

    def run(self, obs: np.ndarray, layers=None) -> dict[str, np.ndarray]:
        flat = obs.reshape(len(obs), -1)
        fc = np.stack([flat[:, i::512].mean(axis=1) for i in range(512)], axis=1)
        return {"output": fc[:, :6] * np.arange(1, 7), "fc": fc.astype(np.float32)}


def test_a_played_rollout_is_written_a_step_at_a_time_with_the_same_arrays(tmp_path):
    """play_to streams the steps to temporary files and writes the npz at the end: the
    same arrays as play() holding them all, and a file the build reads."""
    from zoo_site.rollouts.play import play, play_to
    from zoo_site.rollouts.protocols import PROTOCOLS

    protocol = PROTOCOLS["dopamine"]
    want = play(TinyNetwork(), "Pong", protocol, 90, 5)
    path = tmp_path / "played.npz"
    play_to(path, TinyNetwork(), "Pong", protocol, 90, 5, tmp_path / "spool")
    with np.load(path) as got:
        assert list(got.files) == list(want)
        for key, array in want.items():
            assert got[key].dtype == array.dtype and got[key].shape == array.shape, key
            np.testing.assert_array_equal(got[key], array, err_msg=key)
    assert not any((tmp_path / "spool").iterdir())  # the spooled rows are gone
    assert npz.load(path, lazy=True).steps == 90
