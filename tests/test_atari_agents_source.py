"""The atari-agents layout is recognised and read into entries: algorithm and protocol from
the folder name, run = seed, tag = training step in order, problems named by file."""

from __future__ import annotations

from pathlib import Path

from zoo_site.rollouts.protocols import ATARI_AGENTS_CLASSIC, ATARI_AGENTS_MODERN
from zoo_site.sources import detect, read_catalog
from zoo_site.sources.atari_agents import algo_label, family, step_label


def touch(root: Path, rel: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def release(root: Path) -> Path:
    for step in (50_000_000, 1_000_000, 250_000, 0):
        touch(root, f"models/DQN_modern/Pong/0/model_{step}.gz")
    touch(root, "models/C51_classic/Breakout/1/model_49000000.gz")
    touch(root, "models/DQN_classic_adam/Breakout/1/model_49000000.gz")
    touch(root, "models/M-DQN_modern/Pong/2/model_50000000.gz")
    return root


def test_the_release_layout_is_detected_with_or_without_models(tmp_path):
    zoo = release(tmp_path / "zoo")
    assert detect(zoo).name == "atari-agents"
    assert detect(zoo / "models").name == "atari-agents"
    touch(tmp_path / "azoo", "apex/PongNoFrameskip-v4/model1_final.pb")
    assert detect(tmp_path / "azoo").name == "atari-model-zoo"


def test_entries_carry_algo_protocol_run_and_training_step(tmp_path):
    catalog = read_catalog(release(tmp_path / "zoo"))
    assert catalog.problems == []
    by_id = {e.id: e for e in catalog.entries}
    pong = [e for e in catalog.entries if e.algo == "DQN_modern"]
    assert [e.tag for e in pong] == ["0", "250000", "1000000", "50000000"]  # training order
    last = by_id["DQN_modern/Pong/0/50000000"]
    assert last.training_step == 50_000_000 and last.tag_label == "50M steps"
    assert last.protocol == ATARI_AGENTS_MODERN and last.algo_label == "DQN (modern)"
    assert last.model.format == "torch_state" and last.model.family == "DQN"
    assert last.relative(last.model.path) == "models/DQN_modern/Pong/0/model_50000000.gz"
    c51 = by_id["C51_classic/Breakout/1/49000000"]
    assert c51.model.family == "C51" and c51.protocol == ATARI_AGENTS_CLASSIC
    assert by_id["DQN_classic_adam/Breakout/1/49000000"].protocol == ATARI_AGENTS_CLASSIC
    assert by_id["M-DQN_modern/Pong/2/50000000"].model.family == "MDQN"


def test_labels():
    assert algo_label("DQN_classic_adam") == "DQN adam (classic)"
    assert algo_label("M-DQN_modern") == "M-DQN (modern)"
    assert family("C51_classic") == "C51" and family("MDQN_modern") == "MDQN"
    assert step_label(250_000) == "250k steps" and step_label(12_500_000) == "12.5M steps"
    assert step_label(0) == "0 steps"


def test_problems_name_their_files_and_the_rest_is_read(tmp_path):
    zoo = release(tmp_path / "zoo")
    touch(zoo, "models/DQN_modern/NotAGame/0/model_1.gz")
    touch(zoo, "models/DQN_modern/Pong/seed-x/model_1.gz")
    touch(zoo, "models/DQN_modern/Pong/0/model_final.gz")
    touch(zoo, "models/DQN_modern/Pong/0/notes.txt")
    catalog = read_catalog(zoo)
    assert len(catalog.entries) == 7
    problems = {Path(p.path).name: p for p in catalog.problems}
    assert set(problems) == {"NotAGame", "seed-x", "model_final.gz"}
    assert "no ROM for the game 'NotAGame'" in problems["NotAGame"].message
    assert problems["NotAGame"].level == "error"
    assert problems["seed-x"].level == problems["model_final.gz"].level == "warning"
