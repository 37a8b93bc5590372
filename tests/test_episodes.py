"""Episode files without a model (World-Models-style record/*.npz, and the zoo's rollout
npz on its own): read and checked, played back as video frame for frame, no activations."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from mediacheck import decode
from typer.testing import CliRunner

from zoo_site.cli import app
from zoo_site.errors import EntryError
from zoo_site.rollouts import episodes
from zoo_site.site.manifest import read_manifest
from zoo_site.sources import read_catalog

ROOT = Path(__file__).resolve().parents[1]
N = 30


def moving_obs(n: int = N, rgb: bool = False, seed: int = 0) -> np.ndarray:
    """A bright square moving one pixel a step on a textured background: every frame
    differs from its neighbours, so frame n is tellable from n±1."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 60, (64, 64), dtype=np.uint8)
    obs = np.repeat(base[None], n, axis=0)
    for i in range(n):
        obs[i, 10 + i % 40 : 20 + i % 40, 20:30] = 250
    if rgb:
        obs = np.stack([obs, obs // 2, 255 - obs], axis=3)
    return obs


def save(path: Path, **arrays) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def test_integer_one_hot_and_continuous_actions(tmp_path):
    ro = episodes.load(save(tmp_path / "a.npz", obs=moving_obs(), action=np.arange(N) % 3))
    assert ro.frames.shape == (N, 64, 64, 3) and (ro.frames[..., 0] == ro.frames[..., 2]).all()
    assert ro.actions.tolist() == (np.arange(N) % 3).tolist() and ro.score is None
    one_hot = np.eye(4, dtype=np.float32)[np.arange(N) % 4]
    ro = episodes.load(save(tmp_path / "b.npz", obs=moving_obs(rgb=True), action=one_hot))
    assert ro.actions.tolist() == (np.arange(N) % 4).tolist()
    np.testing.assert_array_equal(ro.frames, moving_obs(rgb=True))
    steer = np.linspace(-1, 1, N * 3).reshape(N, 3).astype(np.float32)
    ro = episodes.load(save(tmp_path / "c.npz", obs=moving_obs(), action=steer))
    assert ro.actions is None and ro.action_values[5] == pytest.approx(steer[5].tolist(), 1e-6)


@pytest.mark.parametrize(
    "arrays, words",
    [
        ({"obs": moving_obs().astype(np.float32), "action": np.zeros(N, int)}, "uint8"),
        ({"obs": moving_obs()[0], "action": np.zeros(64, int)}, "(N, H, W)"),
        ({"obs": moving_obs(), "action": np.zeros(N - 1, int)}, "action has 29"),
        ({"obs": moving_obs()[:0], "action": np.zeros(0, int)}, "empty"),
        ({"obs": moving_obs()}, "missing key(s) action"),
        ({"obs": moving_obs(), "action": np.array(["up"] * N)}, "action must be"),
    ],
)
def test_bad_episode_files_are_named(tmp_path, arrays, words):
    path = save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(EntryError) as error:
        episodes.load(path)
    assert error.value.path == str(path) and words in error.value.message


def test_a_truncated_file_is_named(tmp_path):
    path = save(tmp_path / "t.npz", obs=moving_obs(), action=np.zeros(N, int))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(EntryError, match="truncated or corrupt"):
        episodes.load(path)


def test_the_folder_says_its_game_and_agent(tmp_path):
    zoo = tmp_path / "wm"
    save(zoo / "record/12.npz", obs=moving_obs(), action=np.zeros(N, int))
    save(zoo / "record/7.npz", obs=moving_obs(), action=np.zeros(N, int))
    save(zoo / "record/odd.npz", something=np.zeros(3))
    missing = read_catalog(zoo)
    assert missing.entries == [] and "set algo and game" in missing.problems[0].message
    (zoo / "zoo-site.toml").write_text(
        '[episodes]\nalgo = "world-models"\ngame = "pong"\nlabel = "World Models"\n'
    )
    catalog = read_catalog(zoo)
    assert sorted(e.id for e in catalog.entries) == [
        "world-models/Pong/1/recorded", "world-models/Pong/2/recorded"]  # fmt: skip
    assert [Path(p.path).name for p in catalog.problems] == ["odd.npz"]
    (zoo / "record/odd.npz").unlink()
    assert sorted(e.run for e in read_catalog(zoo).entries) == [7, 12]  # numbered files


@pytest.fixture(scope="module")
def built(tmp_path_factory, demo_zoo):
    zoo = tmp_path_factory.mktemp("wm")
    save(zoo / "record/1.npz", obs=moving_obs(), action=np.arange(N) % 6)
    steer = np.linspace(-1, 1, N * 3).reshape(N, 3).astype(np.float32)
    save(zoo / "record/2.npz", obs=moving_obs(rgb=True, seed=1), action=steer)
    shutil.copy(demo_zoo / "apex/PongNoFrameskip-v4/model1_final_rollout.npz",
                zoo / "record/3.npz")  # a zoo rollout on its own  # fmt: skip
    save(zoo / "record/4.npz", obs=moving_obs(), action=np.zeros(N - 2, int))  # broken
    (zoo / "zoo-site.toml").write_text('[episodes]\nalgo = "world-models"\ngame = "Pong"\n')
    out, cache = zoo.parent / f"{zoo.name}-site", zoo.parent / f"{zoo.name}-cache"
    args = ["build", "--zoo", str(zoo), "--out", str(out), "--cache-dir", str(cache)]
    return CliRunner().invoke(app, args), zoo, out


@pytest.mark.slow
def test_episodes_become_videos_frame_for_frame(built):
    result, zoo, out = built
    text = " ".join(result.output.split())
    assert result.exit_code == 1 and "Built 3 entries" in text
    assert "record/4.npz" in text and "action has 28" in text
    manifest = read_manifest(out)
    by_run = {e["run"]: e for e in manifest["entries"]}
    assert set(by_run) == {1, 2, 3} and all(not e["activations"] for e in by_run.values())
    assert by_run[1]["score"] is None and by_run[1]["source"] == "episodes"
    for run, rgb, seed in ((1, False, 0), (2, True, 1)):
        entry = by_run[run]
        assert (entry["width"], entry["height"], entry["scale"]) == (256, 256, 4)
        _, frames = decode(out / entry["video"])
        want = moving_obs(rgb=rgb, seed=seed)
        want = (want if rgb else np.repeat(want[..., None], 3, 3)).repeat(4, 1).repeat(4, 2)
        assert frames.shape == want.shape  # one frame per step, an exact 4x upscale
        error = np.abs(frames.astype(int) - want).mean(axis=(1, 2, 3))
        other = np.abs(frames[1:].astype(int) - want[:-1]).mean(axis=(1, 2, 3))
        assert error.max() < 3 and (error[1:] < other).all()
    details = json.loads((out / by_run[1]["details"]).read_text())
    assert details["steps"]["actions"] == (np.arange(N) % 6).tolist()
    assert details["steps"]["action_names"][:2] == ["NOOP", "FIRE"]  # Pong's minimal set
    assert details["files"] == {"model": None, "rollout": "record/1.npz", "played": False}
    assert details["activations"] is None and details["steps"]["score"] is None
    continuous = json.loads((out / by_run[2]["details"]).read_text())["steps"]
    assert continuous["actions"] is None and len(continuous["action_values"][0]) == 3
    zoo_rollout = json.loads((out / by_run[3]["details"]).read_text())
    assert by_run[3]["scale"] == 2 and zoo_rollout["steps"]["score"] is not None


@pytest.mark.slow
@pytest.mark.browser
def test_the_viewer_says_why_there_are_no_activations(built, serve, watched):
    _, _, out = built
    watched.open(f"{serve(out)}video.html?algo=world-models&game=Pong&run=2&tag=recorded&frame=3")
    page = watched.page
    page.wait_for_selector("#no-activations:not([hidden])")
    assert "recorded episode but not its network" in page.text_content("#no-activations")
    assert page.is_hidden("#to-activations")
    page.wait_for_selector("#step-action:text-matches('^\\\\[')")
    assert page.text_content("#step-score") == "not recorded"
    assert page.text_content("#fact-score") == "not recorded"
    assert watched.errors == []
