"""Reading the zoo's rollout npz files: every kind of damage gives one clear error."""

from pathlib import Path

import numpy as np
import pytest

from zoo_site.errors import EntryError
from zoo_site.rollouts import npz as rollout


def arrays(n: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "observations": rng.random((n, 84, 84, 4), dtype=np.float32),
        "frames": rng.integers(0, 255, (n, 210, 160, 3), dtype=np.uint8),
        "ram": rng.integers(0, 255, (n, 128), dtype=np.uint8),
        "score": np.arange(n, dtype=np.float32),
        "ep_rewards": np.array([3.0], np.float32),
    }


def save(tmp_path: Path, data: dict, name: str = "model1_final_rollout.npz") -> Path:
    path = tmp_path / name
    rollout.save(path, data)
    return path


def test_good_rollout_round_trips(tmp_path):
    data = arrays()
    loaded = rollout.load(save(tmp_path, data))
    assert loaded.steps == 5
    np.testing.assert_array_equal(loaded.frames, data["frames"])
    assert loaded.score.tolist() == [0, 1, 2, 3, 4]
    assert loaded.ep_rewards.tolist() == [3.0]
    assert loaded.actions is None


def expect_error(path: Path, pattern: str) -> None:
    with pytest.raises(EntryError, match=pattern) as info:
        rollout.load(path)
    assert info.value.path == str(path)


def test_truncated_file(tmp_path):
    path = save(tmp_path, arrays())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    expect_error(path, "truncated or corrupt")


def test_not_an_npz(tmp_path):
    path = tmp_path / "model1_final_rollout.npz"
    path.write_text("hello")
    expect_error(path, "not a readable npz")


def test_missing_file(tmp_path):
    expect_error(tmp_path / "model9_final_rollout.npz", "does not exist")


def test_missing_keys(tmp_path):
    data = arrays()
    del data["observations"]
    expect_error(save(tmp_path, data), r"missing key\(s\) observations")


def test_frames_and_observations_of_different_lengths(tmp_path):
    data = arrays()
    data["observations"] = data["observations"][:4]
    expect_error(save(tmp_path, data), "frames has 5 steps but observations has 4")


def test_empty_rollout(tmp_path):
    expect_error(save(tmp_path, arrays(0)), r"empty rollout \(0 steps\)")


def test_wrong_frame_shape_and_dtype(tmp_path):
    data = arrays()
    data["frames"] = data["frames"][..., 0]
    expect_error(save(tmp_path, data), "frames must be")
    data = arrays()
    data["frames"] = data["frames"].astype(np.float32)
    expect_error(save(tmp_path, data, "b_rollout.npz"), "must be uint8")


def test_corrupt_member_data(tmp_path):
    path = save(tmp_path, arrays())
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 3
    raw[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(raw))
    expect_error(path, "corrupt")
