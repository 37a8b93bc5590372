import json
from pathlib import Path

import pytest

from zoo_site.errors import ZooNotFound
from zoo_site.names import check_name
from zoo_site.sources import read_catalog


def touch(root: Path, rel: str, text: str = "x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def ids(catalog):
    return [e.id for e in catalog.entries]


def test_reads_the_atari_model_zoo_layout(tmp_path):
    touch(tmp_path, "apex/SeaquestNoFrameskip-v4/model2_final.pb")
    touch(tmp_path, "apex/SeaquestNoFrameskip-v4/model2_final_rollout.npz")
    touch(tmp_path, "apex/SeaquestNoFrameskip-v4/model1_1HR_rollout.npz")
    touch(tmp_path, "dqn/PongNoFrameskip-v4/model3.pb")
    touch(tmp_path, "apex/checkpoints/SeaquestNoFrameskip-v4_2.json", json.dumps([]))
    touch(tmp_path, "apex/checkpoints/SeaquestNoFrameskip-v4_2_log.json", json.dumps([]))
    catalog = read_catalog(tmp_path)
    assert ids(catalog) == ["apex/Seaquest/1/1HR", "apex/Seaquest/2/final", "dqn/Pong/3/final"]
    final = catalog.entries[1]
    assert final.model.path.name == "model2_final.pb"
    assert final.rollout.name == "model2_final_rollout.npz"
    assert final.env == "SeaquestNoFrameskip-v4"
    assert final.checkpoints.name == "SeaquestNoFrameskip-v4_2.json"
    assert final.log.name == "SeaquestNoFrameskip-v4_2_log.json"
    assert catalog.entries[0].model is None and catalog.entries[2].rollout is None
    assert catalog.problems == []


def test_explicit_tag_wins_over_untagged_duplicate(tmp_path):
    touch(tmp_path, "dqn/PongNoFrameskip-v4/model1.pb")
    touch(tmp_path, "dqn/PongNoFrameskip-v4/model1_final.pb")
    catalog = read_catalog(tmp_path)
    assert ids(catalog) == ["dqn/Pong/1/final"]
    assert catalog.entries[0].model.path.name == "model1_final.pb"
    (problem,) = catalog.problems
    assert problem.level == "warning" and problem.path.endswith("model1.pb")


@pytest.mark.parametrize(
    "rel",
    [
        "apex/SeaquestNoFrameskip-v4/model1_<script>_rollout.npz",
        "apex/SeaquestNoFrameskip-v4/model1_a b.pb",
        "apex/SeaquestNoFrameskip-v4/model1_..x.pb",
        "apex/SeaquestNoFrameskip-v4/model1_tab\tx.pb",
        "apex/SeaquestNoFrameskip-v4/modelX_final.pb",
    ],
)
def test_unsafe_or_malformed_names_are_rejected_naming_the_file(tmp_path, rel):
    touch(tmp_path, "apex/SeaquestNoFrameskip-v4/model1_final.pb")
    bad = touch(tmp_path, rel)
    catalog = read_catalog(tmp_path)
    assert ids(catalog) == ["apex/Seaquest/1/final"]
    (problem,) = catalog.problems
    assert problem.level == "error" and problem.path == str(bad)


def test_unsafe_algo_folder_is_rejected(tmp_path):
    touch(tmp_path, "a&b/SeaquestNoFrameskip-v4/model1_final.pb")
    touch(tmp_path, "ok/SeaquestNoFrameskip-v4/model1_final.pb")
    catalog = read_catalog(tmp_path)
    assert ids(catalog) == ["ok/Seaquest/1/final"]
    assert catalog.problems[0].path.endswith("a&b")


def test_other_folders_and_files_are_warned_or_ignored(tmp_path):
    touch(tmp_path, "apex/SeaquestNoFrameskip-v4/model1_final.pb")
    touch(tmp_path, "apex/SeaquestNoFrameskip-v4/notes.txt")
    touch(tmp_path, "apex/Seaquest-v5/model1_final.pb")
    touch(tmp_path, "apex/checkpoints/SeaquestNoFrameskip-v4_1.json", "{broken")
    catalog = read_catalog(tmp_path)
    assert ids(catalog) == ["apex/Seaquest/1/final"]
    assert sorted(p.level for p in catalog.problems) == ["warning", "warning"]
    assert catalog.entries[0].checkpoints is None


def test_missing_or_empty_zoo(tmp_path):
    with pytest.raises(ZooNotFound, match="no such zoo folder"):
        read_catalog(tmp_path / "nowhere")
    with pytest.raises(ZooNotFound, match="no entries found"):
        read_catalog(tmp_path)


@pytest.mark.parametrize("name", ["apex", "1HR", "final", "run_2", "v1.2-b"])
def test_safe_names(name):
    assert check_name(name) is None


@pytest.mark.parametrize(
    "name", ["", "..", "a/b", "a\\b", ".hidden", "<b>", "a\x00", "é", "x" * 65]
)
def test_unsafe_names(name):
    assert check_name(name)
