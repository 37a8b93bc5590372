"""One site from several zoos: [[sources]] or --zoo given more than once; game names
matched across layouts; the same entry from two zoos is an error naming both files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from atari_agents_fixtures import write_agent
from building import LIGHT_ANALYSES
from typer.testing import CliRunner

from zoo_site.cli import app
from zoo_site.config import load_config
from zoo_site.errors import ConfigError
from zoo_site.games import canonical_game
from zoo_site.site.manifest import read_manifest
from zoo_site.sources import ZooSpec, detect, read_zoos


def touch(root: Path, rel: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize("name", ["SeaquestNoFrameskip-v4", "Seaquest", "seaquest",
                                  "ALE/Seaquest-v5", "SeaquestDeterministic-v4"])  # fmt: skip
def test_game_names_are_one_across_layouts(name):
    assert canonical_game(name) == "Seaquest"


def test_game_name_rule_keeps_camel_case_and_unknown_names():
    assert canonical_game("montezuma_revenge") == "MontezumaRevenge"
    assert canonical_game("space-invaders") == "SpaceInvaders"
    assert canonical_game("MyOwnGame") == "MyOwnGame"


def test_two_layouts_in_one_catalog(tmp_path):
    zoo = tmp_path / "zoo"
    touch(zoo, "apex/SeaquestNoFrameskip-v4/model1_final_rollout.npz")
    agents = tmp_path / "agents"
    touch(agents, "DQN_modern/Seaquest/0/model_50000000.gz")
    catalog = read_zoos([ZooSpec(zoo), ZooSpec(agents)])
    assert catalog.problems == []
    assert sorted(e.id for e in catalog.entries) == [
        "DQN_modern/Seaquest/0/50000000", "apex/Seaquest/1/final"]  # fmt: skip
    assert {e.source for e in catalog.entries} == {"atari-model-zoo", "atari-agents"}
    assert {e.zoo for e in catalog.entries} == {zoo, agents}


def test_the_same_entry_twice_is_an_error_naming_both_files_unless_renamed(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    first = touch(a, "dqn/PongNoFrameskip-v4/model1_final_rollout.npz")
    second = touch(b, "dqn/PongNoFrameskip-v4/model1_final_rollout.npz")
    touch(b, "dqn/PongNoFrameskip-v4/model2_final_rollout.npz")
    catalog = read_zoos([ZooSpec(a), ZooSpec(b)])
    assert [e.id for e in catalog.entries] == ["dqn/Pong/1/final", "dqn/Pong/2/final"]
    (problem,) = catalog.problems
    assert problem.level == "error" and problem.path == str(second)
    assert str(first) in problem.message and "rename" in problem.message
    renamed = read_zoos([ZooSpec(a), ZooSpec(b, rename={"dqn": "dqn-b"})])
    assert renamed.problems == []
    assert sorted(e.id for e in renamed.entries) == [
        "dqn-b/Pong/1/final", "dqn-b/Pong/2/final", "dqn/Pong/1/final"]  # fmt: skip


def test_a_source_kind_can_be_named(tmp_path):
    # A zoo whose layout detection would miss (no model files yet) read as what it is.
    agents = tmp_path / "agents"
    touch(agents, "DQN_modern/Pong/0/model_1.gz")
    catalog = read_zoos([ZooSpec(agents, kind="atari-agents")])
    assert [e.source for e in catalog.entries] == ["atari-agents"]


def test_sources_config(tmp_path):
    path = tmp_path / "zoo-site.toml"
    path.write_text('[[sources]]\npath = "zoo"\n[[sources]]\npath = "agents"\n'
                    'kind = "atari-agents"\nrename = { DQN_modern = "dqn" }\n')  # fmt: skip
    config = load_config(path)
    assert [(s.path, s.kind, s.rename) for s in config.sources] == [
        ("zoo", "", {}), ("agents", "atari-agents", {"DQN_modern": "dqn"})]  # fmt: skip
    path.write_text('zoo = "x"\n[[sources]]\nkind = "nope"\nrename = { a = "b/c" }\n')
    with pytest.raises(ConfigError) as error:
        load_config(path)
    text = str(error.value)
    for words in ("either zoo or [[sources]]", "sources[0].path", "'nope' is not one of",
                  "sources[0].rename.a"):  # fmt: skip
        assert words in text


@pytest.mark.slow
def test_one_site_from_the_atari_model_zoo_and_atari_agents(tmp_path, demo_zoo):
    """--zoo twice: the zoo's Ape-X beside atari-agents' DQN on Pong, one catalog and grid."""
    zoo = tmp_path / "zoo" / "apex" / "PongNoFrameskip-v4"
    zoo.mkdir(parents=True)
    for suffix in (".pb", "_rollout.npz"):
        shutil.copy(demo_zoo / f"apex/PongNoFrameskip-v4/model1_final{suffix}", zoo)
    agents = tmp_path / "agents"
    write_agent(agents / "models/DQN_modern/Pong/0/model_50000000.gz", 6)
    config = tmp_path / "zoo-site.toml"
    config.write_text("[rollout]\nsteps = 20\n" + LIGHT_ANALYSES)
    out = tmp_path / "site"
    args = ["build", "--zoo", str(tmp_path / "zoo"), "--zoo", str(agents), "--config",
            str(config), "--out", str(out), "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = read_manifest(out)
    assert [g["id"] for g in manifest["games"]] == ["Pong"]
    assert {(e["algo"], e["source"]) for e in manifest["entries"]} == {
        ("apex", "atari-model-zoo"), ("DQN_modern", "atari-agents")}  # fmt: skip
    report = json.loads((tmp_path / "cache" / "build-report.json").read_text())
    models = {e["id"]: e["model"] for e in report["entries"]}
    assert models == {
        "apex/Pong/1/final": "apex/PongNoFrameskip-v4/model1_final.pb",
        "DQN_modern/Pong/0/50000000": "models/DQN_modern/Pong/0/model_50000000.gz",
    }
    index = (out / "index.html").read_text()
    assert index.count('id="game-Pong"') == 1


def test_a_stray_npz_does_not_change_a_zoos_layout(tmp_path):
    touch(tmp_path, "apex/PongNoFrameskip-v4/model1_final_rollout.npz")
    touch(tmp_path, "scratch.npz")
    assert detect(tmp_path).name == "atari-model-zoo"
    only_npz = tmp_path / "wm"
    touch(only_npz, "3.npz")
    assert detect(only_npz).name == "episodes"
