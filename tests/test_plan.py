"""`zoo-site plan` and `build --dry-run` (what a build would do, writing nothing), `--only`
and `--max-steps`: on tiny zoos of rollouts written here (no TensorFlow), on an
atari-agents release played for real, and on the demo zoo's entries (slow)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mediacheck import decode
from typer.testing import CliRunner

from zoo_site.build.entries import EntryTask, cut_rollout, media_key, rollout_key
from zoo_site.cli import app
from zoo_site.config import RenderConfig, RolloutConfig
from zoo_site.rollouts.npz import Rollout
from zoo_site.sources.base import Entry, ModelRef

N = 40
RUNS = {("apex", 1): 0, ("apex", 2): 1, ("dqn", 1): 2}  # (algo, run) -> the frames' seed


def frames(n: int = N, seed: int = 0) -> np.ndarray:
    """Atari-sized frames with a bright block moving 3 pixels a step over a textured
    background: frame n is tellable from n±1."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 60, (210, 160), dtype=np.uint8)
    out = np.repeat(base[None], n, axis=0)
    for i in range(n):
        out[i, 10 + (3 * i) % 180 : 30 + (3 * i) % 180, 20 + 8 * seed : 40 + 8 * seed] = 250
    return np.repeat(out[..., None], 3, axis=3)


def episodes(n: int = N) -> dict[str, np.ndarray]:
    """Three episodes: steps 0-9 (return 2), 10-29 (return 3), 30-39 (not ended); the
    running score before each step, the reward after it."""
    rewards = np.zeros(n, np.float32)
    rewards[[4, 9, 15]] = [1, 1, 3]
    score = np.zeros(n, np.float32)
    running = 0.0
    for i in range(n):
        if i in (10, 30):
            running = 0.0
        score[i] = running
        running += rewards[i]
    return {"score": score, "rewards": rewards, "ep_rewards": np.array([2, 3], np.float32)}


def tiny_zoo(root: Path, rewards: bool = True) -> Path:
    """An Atari Model Zoo folder of rollouts only (no models: gameplay, no TensorFlow)."""
    zoo = root / "zoo"
    for (algo, run), seed in RUNS.items():
        folder = zoo / algo / "PongNoFrameskip-v4"
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"frames": frames(seed=seed), "observations": np.zeros((N, 84, 84, 4), np.uint8),
                  **episodes()}  # fmt: skip
        if not rewards:
            del arrays["rewards"]
        np.savez_compressed(folder / f"model{run}_final_rollout.npz", **arrays)
    return zoo


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def plan_json(*args: str) -> dict:
    result = run("plan", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def report(cache: Path) -> dict[str, dict]:
    data = json.loads((cache / "build-report.json").read_text())
    return {e["id"]: e for e in data["entries"]}


def site_entries(out: Path) -> list[str]:
    """The entries of a built site: its a/<algo>/<game>/<run>/<tag>/ folders."""
    return sorted(p.relative_to(out / "a").as_posix() for p in (out / "a").glob("*/*/*/*")
                  if (p / "gameplay.mp4").is_file())  # fmt: skip


def test_the_plan_counts_the_work_and_writes_nothing(tmp_path):
    zoo = tiny_zoo(tmp_path)
    cache, out = tmp_path / "cache", tmp_path / "site"
    plan = plan_json("--zoo", str(zoo), "--cache-dir", str(cache), "--out", str(out))
    c = plan["counts"]
    assert (c["entries"], c["render"], c["play"], c["left_out"]) == (3, 3, 0, 0)
    assert c["steps"] == c["render_steps"] == 3 * N
    assert plan["figures"]["render_gameplay"]["source"].startswith("default")
    assert plan["site_bytes"] == int(3 * N * plan["figures"]["bytes_gameplay"]["value"])
    assert set(plan["seconds"]) >= {"16", "64", str(plan["cores_here"])}
    assert not cache.exists() and not out.exists()
    text = run("plan", "--zoo", str(zoo), "--cache-dir", str(cache), "--cores", "8").output
    assert "to render" in text and "on 8 cores" in text and "default" in text


def test_dry_run_says_the_same_and_touches_nothing(tmp_path):
    zoo = tiny_zoo(tmp_path)
    cache, out = tmp_path / "cache", tmp_path / "site"
    out.mkdir()
    (out / "old.txt").write_text("the previous site")
    args = ["--zoo", str(zoo), "--cache-dir", str(cache), "--out", str(out)]
    dry = run("build", "--dry-run", *args)
    assert dry.exit_code == 0, dry.output
    assert dry.stdout == run("plan", *args).stdout
    assert not cache.exists() and [p.name for p in out.iterdir()] == ["old.txt"]


def test_after_a_build_nothing_needs_rendering_and_the_figures_are_measured(tmp_path):
    zoo = tiny_zoo(tmp_path)
    cache, out = tmp_path / "cache", tmp_path / "site"
    built = run("build", "--zoo", str(zoo), "--cache-dir", str(cache), "--out", str(out), "-j", "1")
    assert built.exit_code == 0, built.output
    rows = report(cache)
    for row in rows.values():
        assert row["steps"] == N and row["activations"] is False and row["bytes"] > 0
        assert row["cpu"]["render"] > 0 and row["cpu"]["play"] is None and row["cut"] is None
    plan = plan_json("--zoo", str(zoo), "--cache-dir", str(cache), "--out", str(out))
    assert plan["counts"]["render"] == 0 and plan["counts"]["entries"] == 3
    assert plan["cpu_seconds"]["render"] == 0
    figure = plan["figures"]["render_gameplay"]
    assert figure["source"] == "the last build: 3 entries"
    cpu = sum(r["cpu"]["render"] for r in rows.values())
    assert figure["value"] == pytest.approx(cpu / (3 * N))
    published = sum(p.stat().st_size for p in (out / "a").rglob("*")
                    if p.is_file() and p.name not in ("entry.json", "index.html"))  # fmt: skip
    assert plan["site_bytes"] == published  # each entry's bytes, as measured


def test_only_builds_the_matching_entries_and_says_how_many_were_left_out(tmp_path):
    zoo = tiny_zoo(tmp_path)
    cache, out = tmp_path / "cache", tmp_path / "site"
    args = ["--zoo", str(zoo), "--cache-dir", str(cache), "--out", str(out), "--only", "apex/*/*/*"]
    plan = plan_json(*args)
    assert (plan["counts"]["entries"], plan["counts"]["left_out"]) == (2, 1)
    assert plan["only"] == ["apex/*/*/*"]
    built = run("build", "-j", "1", *args)
    assert built.exit_code == 0, built.output
    text = " ".join(built.output.split())
    assert "building 2 of 3 entries (1 left out of the site)" in text
    assert site_entries(out) == ["apex/Pong/1/final", "apex/Pong/2/final"]
    assert set(report(cache)) == {"apex/Pong/1/final", "apex/Pong/2/final"}
    # Several patterns: any of them; and `only` at the top of zoo-site.toml.
    both = plan_json("--zoo", str(zoo), "--cache-dir", str(cache), "--only", "*/*/2/*",
                     "--only", "dqn/Pong/*/final")  # fmt: skip
    assert both["counts"]["entries"] == 2
    config = tmp_path / "zoo-site.toml"
    config.write_text('only = ["*/Pong/1/*"]\n')
    from_file = plan_json("--zoo", str(zoo), "--cache-dir", str(cache), "--config", str(config))
    assert from_file["counts"]["entries"] == 2 and from_file["only"] == ["*/Pong/1/*"]


def test_a_pattern_that_matches_nothing_is_an_error_naming_it(tmp_path):
    zoo = tiny_zoo(tmp_path)
    for command in ("plan", "build"):
        result = run(command, "--zoo", str(zoo), "--cache-dir", str(tmp_path / "cache"),
                     "--out", str(tmp_path / "site"), "--only", "apex/*/*/*",
                     "--only", "*/PongNoFrameskip-v4/*/*")  # fmt: skip
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert "--only '*/PongNoFrameskip-v4/*/*' matches none of the 3 entries" in text
        assert "apex/Pong/1/final" in text and "'apex/*/*/*'" not in text
        assert not (tmp_path / "site").exists()
    config = tmp_path / "zoo-site.toml"
    config.write_text('only = ["nope/*"]\n')
    result = run("plan", "--zoo", str(zoo), "--config", str(config))
    assert result.exit_code == 2 and "only 'nope/*' matches none" in result.output


def test_max_steps_cuts_a_zoo_rollout_to_its_first_steps(tmp_path):
    zoo = tiny_zoo(tmp_path)
    cache, out = tmp_path / "cache", tmp_path / "site"
    args = ["--zoo", str(zoo), "--cache-dir", str(cache), "--out", str(out), "-j", "1"]
    assert run("build", *args).exit_code == 0
    whole = report(cache)
    cut = 20
    assert plan_json(*args[:6], "--max-steps", str(cut))["counts"]["render_steps"] == 3 * cut
    result = run("build", *args, "--max-steps", str(cut))
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "3 rollout(s) cut to their first 20 steps" in text
    rows = report(cache)
    for entry_id, row in rows.items():
        assert row["status"] == "rendered" and row["media"] != whole[entry_id]["media"]
        assert row["steps"] == cut
        assert row["cut"] == {"steps": cut, "of": N, "episodes": 1, "of_episodes": 2,
                              "known": True, "note": None}  # fmt: skip
    assert len(site_entries(out)) == 3
    for (algo, run_id), seed in RUNS.items():
        _, video = decode(out / "a" / algo / "Pong" / str(run_id) / "final" / "gameplay.mp4")
        want = frames(seed=seed)[:cut].repeat(2, axis=1).repeat(2, axis=2).astype(int)
        assert video.shape == want.shape  # N frames, an exact 2x upscale
        error = np.abs(video.astype(int) - want).mean(axis=(1, 2, 3))
        other = np.abs(video[1:].astype(int) - want[:-1]).mean(axis=(1, 2, 3))
        assert error.max() < 3 and (error[1:] < other).all()  # frame n is step n
    key = rows["apex/Pong/1/final"]["media"]
    media = json.loads((cache / "media" / key / "result.json").read_text())
    assert media["frames"] == cut and media["episode_returns"] == [2.0]  # ended by step 9
    assert media["score"] == 3.0 and len(media["steps"]["rewards"]) == cut
    # A cap at or above a rollout's length changes nothing: the media are the uncut ones.
    again = run("build", *args, "--max-steps", str(N))
    assert again.exit_code == 0 and "cut to" not in again.output
    assert {i: r["media"] for i, r in report(cache).items()} == {
        i: r["media"] for i, r in whole.items()}  # fmt: skip
    assert {r["status"] for r in report(cache).values()} == {"reused"}


def test_returns_the_rollout_cannot_place_are_left_out_and_said(tmp_path):
    zoo = tiny_zoo(tmp_path, rewards=False)  # the original zoo's files: a score, no rewards
    cache, out = tmp_path / "cache", tmp_path / "site"
    result = run("build", "--zoo", str(zoo), "--cache-dir", str(cache), "--out", str(out),
                 "-j", "1", "--max-steps", "20")  # fmt: skip
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "apex/Pong/1/final: cut to its first 20 of 40 steps" in text
    assert "cannot tell whether up to 2 more did; their returns are left out" in text
    row = report(cache)["apex/Pong/1/final"]
    assert row["cut"]["known"] is False and row["cut"]["episodes"] == 0
    media = json.loads((cache / "media" / row["media"] / "result.json").read_text())
    assert media["episode_returns"] == []


def rollout(n: int = N, rewards: bool = True) -> Rollout:
    arrays = episodes(n)
    return Rollout(Path("r.npz"), frames(n), n, arrays["score"].astype(np.float64),
                   arrays["ep_rewards"].astype(np.float64), None, None,
                   arrays["rewards"] if rewards else None)  # fmt: skip


@pytest.mark.parametrize(
    "cap, rewards, kept, known",
    [
        (9, True, [], True),  # episode 1 ends after step 9: not within steps 0-8
        (10, True, [2.0], True),  # within steps 0-9
        (30, True, [2.0, 3.0], True),
        (10, False, [], False),  # without rewards a score back at 0 may be a reward
        (35, False, [], False),
    ],
)
def test_the_cut_keeps_only_returns_of_episodes_that_ended_within_it(cap, rewards, kept, known):
    ro, cut = cut_rollout(rollout(rewards=rewards), cap)
    assert ro.steps == cap and len(ro.frames) == cap and len(ro.score) == cap
    np.testing.assert_array_equal(ro.frames, frames()[:cap])
    assert ro.ep_rewards.tolist() == kept and cut["known"] is known
    assert (cut["note"] is None) is known
    same, nothing = cut_rollout(rollout(), N)
    assert nothing is None and same.steps == N


def test_the_cap_is_in_the_rollout_key_only_where_it_changes_what_is_played():
    entry = Entry("dqn", "Pong", 1, "final", model=ModelRef(Path("m.pb"), "frozen_graph", "dqn"))

    def task(**rollout) -> EntryTask:
        return EntryTask(entry, Path("cache"), RenderConfig(), RolloutConfig(**rollout))

    base = rollout_key(task(steps=100), "model")
    assert rollout_key(task(steps=100, max_steps=100), "model") == base
    assert rollout_key(task(steps=100, max_steps=5000), "model") == base
    assert rollout_key(task(steps=100, max_steps=60), "model") == rollout_key(task(steps=60),
                                                                             "model")  # fmt: skip
    assert rollout_key(task(steps=100, max_steps=60), "model") != base
    # A played rollout's media follow its rollout key; the cap adds nothing more.
    assert media_key(task(steps=100, max_steps=60), "r", "model") == media_key(task(), "r", "model")


def test_leaving_activations_out_changes_only_the_keys_of_the_entries_left_out():
    entry = Entry("dqn", "Pong", 1, "final", model=ModelRef(Path("m.pb"), "frozen_graph", "dqn"))
    chosen = EntryTask(entry, Path("cache"), RenderConfig(), RolloutConfig())
    other = RenderConfig(activations_only=["*/*/*/0"])
    assert media_key(chosen, "r", "model") == media_key(
        EntryTask(entry, Path("cache"), other, RolloutConfig()), "r", "model")  # fmt: skip
    left_out = EntryTask(entry, Path("cache"), other, RolloutConfig(), activations=False)
    assert media_key(left_out, "r", "model") != media_key(chosen, "r", "model")


def test_plan_imports_no_heavy_module(tmp_path):
    zoo = tiny_zoo(tmp_path)
    code = (
        "import sys\n"
        "from zoo_site.cli import main\n"
        f"sys.argv = ['zoo-site', 'plan', '--zoo', {str(zoo)!r}, '--cache-dir', "
        f"{str(tmp_path / 'c')!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        # ale_py is read for its list of games (the catalog's names), no emulator is made
        "names = ('tensorflow', 'imageio_ffmpeg', 'moviepy', 'sklearn', 'torch', 'cv2')\n"
        "print('HEAVY', [m for m in names if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert "to render" in out.stdout


def test_with_no_zoo_the_plan_says_the_demo_would_be_made_and_makes_nothing(tmp_path):
    config = tmp_path / "zoo-site.toml"
    config.write_text("[demo]\nsteps = 50\n")
    cache = tmp_path / "cache"
    plan = plan_json("--config", str(config), "--cache-dir", str(cache), "--max-steps", "30")
    demo = plan["demo"]
    assert demo["cached"] is False and demo["entries"] == 24 and demo["steps"] == 50
    assert demo["make"]["rollouts"] == 24 and demo["make"]["trained_networks"] == 4
    c = plan["counts"]
    assert (c["entries"], c["render"], c["render_steps"], c["play"]) == (24, 24, 24 * 30, 0)
    assert c["saliency"] == 8 and c["robustness"] == 8  # both runs' trained Pong, Breakout
    assert plan["cpu_seconds"]["demo"] > 0 and "would first make the demo zoo" in plan["notes"][0]
    assert not cache.exists()


@pytest.mark.slow
def test_an_atari_agents_release_is_played_for_at_most_max_steps(tmp_path):
    """Checkpoints without rollouts: the plan says each must be played; the build plays
    min(steps, max_steps) steps; the plan then finds everything in the cache."""
    from atari_agents_fixtures import write_agent

    zoo = tmp_path / "release"
    for step in (0, 1_000_000):
        write_agent(zoo / f"models/DQN_modern/Pong/0/model_{step}.gz", 6, seed=step)
    (zoo / "zoo-site.toml").write_text("[rollout]\nsteps = 100\n[robustness]\nlevels = []\n"
                                       '[states]\nmethod = "off"\n')  # fmt: skip
    cache, out = tmp_path / "cache", tmp_path / "site"
    args = ["--zoo", str(zoo), "--cache-dir", str(cache), "--out", str(out), "--max-steps", "30"]
    before = plan_json(*args)["counts"]
    assert (before["render"], before["play"], before["play_steps"]) == (2, 2, 60)
    assert before["saliency"] == 1  # the run's last checkpoint
    result = run("build", "-j", "1", *args)
    assert result.exit_code == 0, result.output
    rows = report(cache)
    for row in rows.values():
        assert row["steps"] == 30 and row["cpu"]["play"] > 0 and row["cut"] is None
        played = np.load(cache / row["rollout"]["cache_file"])
        assert len(played["frames"]) == 30
    assert rows["DQN_modern/Pong/0/1000000"]["saliency_steps"] > 0
    after = plan_json(*args)
    assert (after["counts"]["render"], after["counts"]["play"]) == (0, 0)
    assert after["figures"]["play"]["source"] == "the last build: 2 entries"
    assert after["figures"]["render"]["source"] == "the last build: 2 entries"


@pytest.mark.slow
def test_activations_only_for_chosen_checkpoints(tmp_path):
    """[render] activations_only: the chosen checkpoint gets its atlas, the other its
    gameplay only, and its page is told why; the plan counts them apart."""
    from atari_agents_fixtures import write_agent

    zoo = tmp_path / "release"
    for step in (0, 1_000_000):
        write_agent(zoo / f"models/DQN_modern/Pong/0/model_{step}.gz", 6, seed=step)
    toml = (
        '[rollout]\nsteps = 20\n[robustness]\nlevels = []\n[states]\nmethod = "off"\n'
        '[saliency]\nmethod = "off"\n[render]\nactivations_only = ["*/*/*/1000000"]\n'
    )
    (zoo / "zoo-site.toml").write_text(toml)
    cache, out = tmp_path / "cache", tmp_path / "site"
    args = ["--zoo", str(zoo), "--cache-dir", str(cache), "--out", str(out)]
    planned = plan_json(*args)["counts"]
    assert (planned["render"], planned["activations"]) == (2, 1)
    result = run("build", "-j", "1", *args)
    assert result.exit_code == 0, result.output
    assert "no activations" not in result.output  # a choice, not a problem
    left = json.loads((out / "a/DQN_modern/Pong/0/0/entry.json").read_text())
    kept = json.loads((out / "a/DQN_modern/Pong/0/1000000/entry.json").read_text())
    assert left["activations"] is None and "activations_only" in left["activation_error"]
    assert kept["activations"] is not None and kept["activation_error"] is None
    assert not (out / "a/DQN_modern/Pong/0/0/atlas.mp4").exists()
    assert len(decode(out / "a/DQN_modern/Pong/0/0/gameplay.mp4")[1]) == 20


@pytest.mark.slow
def test_the_plan_of_demo_entries_before_and_after_their_build(tmp_path, demo_zoo):
    """Frozen graphs with the demo's rollouts (one removed: played), saliency maps and the
    noise evaluation: what the plan counts is what the build does; then nothing is left."""
    from test_scale import PICK, small_zoo

    zoo = small_zoo(demo_zoo, tmp_path, analyses=True)
    (zoo / f"{PICK[1]}_rollout.npz").unlink()  # apex Breakout initial: to be played
    cache, out = tmp_path / "cache", tmp_path / "site"
    args = ["--zoo", str(zoo), "--cache-dir", str(cache), "--out", str(out)]
    before = plan_json(*args)
    c = before["counts"]
    assert (c["entries"], c["render"], c["play"]) == (4, 4, 1)
    assert c["saliency"] == 1 and c["robustness"] == 1  # dqn Pong final: a trained agent
    result = run("build", "-j", "2", *args)
    assert result.exit_code == 0, result.output
    rows = report(cache)
    assert {r["status"] for r in rows.values()} == {"rendered"}
    assert sum(r["cpu"]["play"] is not None for r in rows.values()) == 1
    assert sum(bool(r["saliency_steps"]) for r in rows.values()) == 1
    after = plan_json(*args)
    c = after["counts"]
    assert (c["render"], c["play"], c["saliency"], c["robustness"]) == (0, 0, 0, 0)
    assert after["figures"]["render"]["source"] == "the last build: 4 entries"
    assert after["figures"]["saliency_perturbation"]["source"] == "the last build: 1 entries"
    shutil.rmtree(out)
    text = run("plan", *args).output
    assert "to render" in text and "the last build" in text
