"""An atari-agents folder becomes a site: real PyTorch checkpoints (one broken in each way
a download can be), played under the release's protocols, Q-values equal to PyTorch's."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from atari_agents_fixtures import torch_q_values, write_agent, write_checkpoint
from building import LIGHT_ANALYSES
from manifests import validate_site
from typer.testing import CliRunner

from zoo_site.cli import app

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
STEPS = 40
PONG, BREAKOUT = 6, 4  # minimal action sets
CHECKPOINTS = (0, 1_000_000, 2_000_000)


def make_release(root: Path) -> tuple[Path, dict]:
    """models/DQN_modern/Pong/0 (three checkpoints), C51_classic/Breakout/1, and broken
    files beside them."""
    nets = {}
    for i, step in enumerate(CHECKPOINTS):
        path = root / f"models/DQN_modern/Pong/0/model_{step}.gz"
        nets[f"DQN_modern/Pong/0/{step}"] = write_agent(path, PONG, seed=i)
    c51 = root / "models/C51_classic/Breakout/1/model_1000000.gz"
    nets["C51_classic/Breakout/1/1000000"] = write_agent(c51, BREAKOUT, distributional=True)
    bad = root / "models/DQN_modern/Pong/1"
    good = (root / "models/DQN_modern/Pong/0/model_0.gz").read_bytes()
    write_agent(bad / "model_5.gz", PONG)
    (bad / "model_5.gz").write_bytes(good[: len(good) // 2])  # truncated download
    (bad / "model_6.gz").write_bytes(b"not a gzip file at all")
    write_agent(bad / "model_7.gz", BREAKOUT)  # a Breakout head in a Pong folder
    write_checkpoint(bad / "model_8.gz", None, other={"x": 1})  # no estimator_state
    (root / "zoo-site.toml").write_text(f"title = 'atari-agents'\n[rollout]\nsteps = {STEPS}\n"
                                        + LIGHT_ANALYSES)  # fmt: skip
    return root, nets


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    zoo, nets = make_release(tmp_path_factory.mktemp("release"))
    out, cache = zoo.parent / "site", zoo.parent / "cache"
    args = ["build", "--zoo", str(zoo), "--out", str(out), "--cache-dir", str(cache), "-j", "2"]
    result = CliRunner().invoke(app, args)
    return result, zoo, out, cache, nets


def test_the_build_goes_on_and_names_each_bad_file(built):
    result, zoo, out, cache, _ = built
    text = " ".join(result.output.split())
    assert result.exit_code == 1, text
    assert "Built 4 entries (4 rendered, 0 reused), 4 failed" in text
    report = json.loads((cache / "build-report.json").read_text())
    failed = {e["id"]: e for e in report["entries"] if e["status"] == "failed"}
    assert set(failed) == {f"DQN_modern/Pong/1/{s}" for s in (5, 6, 7, 8)}
    for step, why in ((5, "gzip"), (6, "gzip"), (7, "actions"), (8, "estimator_state")):
        row = failed[f"DQN_modern/Pong/1/{step}"]
        assert row["file"] == f"models/DQN_modern/Pong/1/model_{step}.gz"
        assert why in row["reason"], row


def test_manifest_and_entries_say_where_they_came_from(built):
    _, zoo, out, cache, _ = built
    manifest = validate_site(out)
    assert [t["id"] for t in manifest["tags"]] == ["0", "1000000", "2000000"]
    assert [t["label"] for t in manifest["tags"]] == ["0 steps", "1M steps", "2M steps"]
    labels = {a["id"]: a["label"] for a in manifest["algos"]}
    assert labels == {"C51_classic": "C51 (classic)", "DQN_modern": "DQN (modern)"}
    entry_schema = json.loads((ROOT / "docs/entry.schema.json").read_text())
    report = {e["id"]: e for e in json.loads((cache / "build-report.json").read_text())["entries"]}
    for entry in manifest["entries"]:
        assert entry["source"] == "atari-agents"
        assert entry["training_step"] == int(entry["tag"])
        details = json.loads((out / entry["details"]).read_text())
        jsonschema.validate(details, entry_schema)
        model = f"models/{entry['algo']}/{entry['game']}/{entry['run']}/model_{entry['tag']}.gz"
        assert details["files"] == {"model": model, "rollout": None, "played": True}
        protocol = "atari-agents-modern" if "modern" in entry["algo"] else "atari-agents-classic"
        assert details["protocol"]["name"] == protocol
        row = report[entry["id"]]
        assert row["model"] == model and row["rollout"]["protocol"] == protocol
        assert (cache / row["rollout"]["cache_file"]).is_file()


def played(cache: Path, entry_id: str) -> dict:
    report = {e["id"]: e for e in json.loads((cache / "build-report.json").read_text())["entries"]}
    with np.load(cache / report[entry_id]["rollout"]["cache_file"]) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.mark.parametrize("entry_id", ["DQN_modern/Pong/0/2000000",
                                      "C51_classic/Breakout/1/1000000"])  # fmt: skip
def test_the_site_shows_pytorchs_q_values_for_the_observations_played(built, entry_id):
    _, _, out, cache, nets = built
    rollout = played(cache, entry_id)
    obs = rollout["observations"]
    assert obs.shape == (STEPS, 84, 84, 4) and obs.dtype == np.float32
    # Observations are exactly what the uint8 network saw: k / 255.
    np.testing.assert_array_equal(np.rint(obs * 255) / np.float32(255), obs)
    details = json.loads((out / "a" / entry_id / "entry.json").read_text())
    outputs = details["activations"]["outputs"]
    ours = np.fromfile(out / outputs["url"], "<f4").reshape(outputs["shape"])
    theirs = torch_q_values(nets[entry_id], obs)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() <= 1e-4 * np.abs(theirs).max()
    # The agent acted on those values (ε = 0.001 rarely fires in 40 steps).
    agree = (rollout["actions"] == theirs.argmax(axis=1)).mean()
    assert agree >= 0.9, agree


def test_c51_keeps_its_distributions(built):
    _, _, out, _, nets = built
    details = json.loads((out / "a/C51_classic/Breakout/1/1000000/entry.json").read_text())
    dist = details["activations"]["distribution"]
    assert dist["shape"] == [STEPS, BREAKOUT, 51]
    support = nets["C51_classic/Breakout/1/1000000"].state_dict()["_AtariNet__support"].numpy()
    assert dist["support"] == support.tolist()  # the checkpoint's own float32 atoms
    p = np.fromfile(out / dist["url"], "<f4").reshape(dist["shape"])
    np.testing.assert_allclose(p.sum(axis=2), 1.0, atol=1e-5)
    q = np.fromfile(out / details["activations"]["outputs"]["url"], "<f4").reshape(STEPS, -1)
    np.testing.assert_allclose((p * support).sum(axis=2), q, atol=1e-4)


def test_a_rebuild_reuses_everything(built):
    _, zoo, out, cache, _ = built
    args = ["build", "--zoo", str(zoo), "--out", str(out), "--cache-dir", str(cache)]
    again = CliRunner().invoke(app, args)
    assert "(0 rendered, 4 reused)" in " ".join(again.output.split())


def test_gzip_is_really_truncated(built):
    # The broken download above is a real truncated gzip, not some other failure.
    _, zoo, _, _, _ = built
    with pytest.raises(EOFError):
        gzip.decompress((zoo / "models/DQN_modern/Pong/1/model_5.gz").read_bytes())


@pytest.mark.browser
def test_the_built_site_deep_links_scrubs_checkpoints_and_compares_them(built, serve, watched):
    _, _, out, _, _ = built
    base = serve(out)
    run = "algo=DQN_modern&game=Pong&run=0"
    watched.open(f"{base}video.html?{run}&tag=1000000&frame=10")
    page = watched.page
    page.wait_for_selector("#video[data-entry='DQN_modern/Pong/0/1000000']")
    page.wait_for_selector(f"#step:text-is('step 10 / {STEPS}')")
    assert page.text_content("#fact-source") == "atari-agents"
    assert page.text_content("#fact-protocol").startswith("modern: sticky actions 0.25")
    files = page.text_content("#fact-files")
    assert "models/DQN_modern/Pong/0/model_1000000.gz" in files and "played by zoo-site" in files
    assert page.is_visible("#training") and page.get_attribute("#checkpoint", "max") == "2"
    page.click("#checkpoint-next")  # scrub to the next checkpoint: same step, new agent
    page.wait_for_selector("#video[data-entry='DQN_modern/Pong/0/2000000']")
    page.wait_for_selector(f"#step:text-is('step 10 / {STEPS}')")
    assert watched.query()["tag"] == "2000000" and watched.query()["frame"] == "10"
    assert page.evaluate("video.currentTime") == pytest.approx(10.5 / 15, abs=1e-3)
    page.click("#to-checkpoints")  # every checkpoint of the run, side by side
    watched.wait_ready()
    cells = page.locator(".cell").evaluate_all("cs => cs.map(c => c.dataset.tag)")
    assert cells == ["0", "1000000", "2000000"]
    labels = page.locator(".cell-label").all_inner_texts()
    assert labels == [f"DQN (modern) · run 0 · {t}" for t in ("0 steps", "1M steps", "2M steps")]
    assert watched.errors == []
