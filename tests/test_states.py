"""The map of states (issue 13): samples are the entries' real steps (the network's own
dense layer, the rollout's RAM, its frames), the map is deterministic for a seed and keeps
separate what is separate, and the build publishes it (JSON checked against the samples,
the thumbnail sheet against the frames). The page itself is driven in Chromium in
test_browser_states.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from building import build_zoo
from PIL import Image

from zoo_site.analysis import states
from zoo_site.site import statemap
from zoo_site.site.manifest import read_manifest


def fake_entry(tmp_path: Path, name: str, centre: float, steps: int = 120, ram: bool = True):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    frames = rng.integers(0, 255, (steps, 210, 160, 3), np.uint8)
    dense = rng.normal(centre, 1.0, (steps, 512)).astype(np.float32)
    path = tmp_path / name / states.STATES_FILE
    path.parent.mkdir(parents=True)
    states.sample(path, steps, frames, dense=dense,
                  ram=rng.integers(0, 255, (steps, 128), np.uint8) if ram else None,
                  actions=np.arange(steps) % 4, score=np.arange(steps, dtype=np.float32),
                  limit=50)  # fmt: skip
    algo, run = name.split("-")
    return {"id": f"{algo}/Pong/{run}/final", "algo": algo, "run": int(run), "tag": "final"}, path


def test_sample_keeps_evenly_spaced_real_steps(tmp_path):
    assert states.sample_steps(10, 20).tolist() == list(range(10))
    at = states.sample_steps(1000, 50)
    assert at[0] == 0 and at[-1] == 999 and len(at) == 50 and np.all(np.diff(at) > 0)
    frames = np.random.default_rng(0).integers(0, 255, (300, 210, 160, 3), np.uint8)
    dense = np.random.default_rng(1).normal(size=(300, 512)).astype(np.float32)

    class SliceOnly:  # like spilled activations: read by slices only
        shape, dtype = dense.shape, dense.dtype

        def __len__(self):
            return len(dense)

        def __getitem__(self, index):
            assert isinstance(index, slice)
            return dense[index]

    path = tmp_path / "s.npz"
    states.sample(path, 300, frames, dense=SliceOnly(), actions=np.arange(300), limit=40)
    with np.load(path) as z:
        at = z["steps"]
        assert len(at) == 40
        np.testing.assert_array_equal(z["dense"], dense[at])
        np.testing.assert_array_equal(z["thumbs"], frames[at][:, ::4, ::4])
        np.testing.assert_array_equal(z["actions"], at)
        assert "ram" not in z.files


def test_embedding_is_deterministic_and_separates_clusters(tmp_path):
    samples = [fake_entry(tmp_path, "dqn-1", 0.0), fake_entry(tmp_path, "dqn-2", 0.0),
               fake_entry(tmp_path, "apex-1", 6.0, ram=False)]  # fmt: skip
    settings = states.MapSettings(points=120, perplexity=20, seed=3)
    one = statemap.to_json("Pong", states.embed(samples, settings), settings, ["NOOP"])
    two = statemap.to_json("Pong", states.embed(samples, settings), settings, ["NOOP"])
    assert json.dumps(one) == json.dumps(two)
    assert len(one["points"]["step"]) == 120  # 150 samples thinned evenly
    dense = one["views"]["dense"]
    assert len(dense["points"]) == 120 and min(dense["x"]) == 0 and max(dense["x"]) == 1
    # RAM only where the rollouts recorded it
    ram_entries = {one["points"]["entry"][i] for i in one["views"]["ram"]["points"]}
    assert ram_entries == {0, 1}
    # apex's features are far from dqn's: t-SNE keeps them apart (no neighbour across)
    xy = np.stack([dense["x"], dense["y"]], axis=1)
    is_apex = np.array([one["points"]["entry"][i] == 2 for i in dense["points"]])
    d = np.linalg.norm(xy[:, None] - xy[None], axis=2) + np.eye(len(xy)) * 9
    assert np.all(is_apex[d.argmin(axis=1)] == is_apex)


def test_sheet_places_thumbnail_k_at_row_k_div_columns(tmp_path):
    thumbs = np.stack([np.full((53, 40, 3), k, np.uint8) for k in range(120)])
    sheet = statemap.sheet(thumbs)
    assert sheet.shape == (3 * 53, statemap.COLUMNS * 40, 3)
    for k in (0, 49, 50, 119):
        r, c = divmod(k, statemap.COLUMNS)
        assert np.all(sheet[r * 53 : (r + 1) * 53, c * 40 : (c + 1) * 40] == k)


@pytest.mark.slow
def test_the_build_publishes_maps_of_real_steps(tmp_path):
    from zoo_site.networks import load_network
    from zoo_site.networks.netbuild import build_dqn_graph
    from zoo_site.rollouts.ale import minimal_action_names
    from zoo_site.sources.base import ModelRef

    actions = len(minimal_action_names("Pong"))
    folder = tmp_path / "zoo" / "dqn" / "PongNoFrameskip-v4"
    folder.mkdir(parents=True)
    for seed, tag in enumerate(("initial", "final")):
        graph = build_dqn_graph(actions, seed=seed)
        (folder / f"model1_{tag}.pb").write_bytes(graph.SerializeToString())
    tables = (
        '[saliency]\nmethod = "off"\n[robustness]\nlevels = []\n'
        "[states]\nper_entry = 25\npoints = 40\nperplexity = 5"
    )
    cache = tmp_path / "cache"
    site, _ = build_zoo(tmp_path / "zoo", tmp_path, cache, tables, steps=60)
    manifest = read_manifest(site)
    assert manifest["maps"] == [{"game": "Pong", "page": "map.html?game=Pong",
                                 "data": "maps/Pong.json", "points": 40}]  # fmt: skip
    data = json.loads((site / "maps/Pong.json").read_text())
    assert set(data["views"]) == {"dense", "ram"}  # played rollouts record RAM
    assert data["action_names"] == minimal_action_names("Pong")
    sheet = np.asarray(Image.open(site / data["thumbs"]["url"]).convert("RGB"))
    report = json.loads((cache / "build-report.json").read_text())
    played = {e["id"]: e for e in report["entries"]}
    for k in (0, 17, 39):
        entry = data["entries"][data["points"]["entry"][k]]
        step = data["points"]["step"][k]
        rollout = cache / played[entry["id"]]["rollout"]["cache_file"]
        with np.load(rollout) as z:
            frame, obs = z["frames"][step], z["observations"][step]
        r, c = divmod(k, statemap.COLUMNS)
        h, w = data["thumbs"]["height"], data["thumbs"]["width"]
        np.testing.assert_array_equal(sheet[r * h : (r + 1) * h, c * w : (c + 1) * w],
                                      frame[::4, ::4])  # fmt: skip
    # the samples behind the map: each entry's network's own dense layer at those steps
    networks = [load_network(ModelRef(folder / f"model1_{tag}.pb", "frozen_graph", "dqn"),
                             actions=actions) for tag in ("initial", "final")]  # fmt: skip
    samples = sorted(cache.glob("media/*/states.npz"))
    assert len(samples) == 2
    matched = []
    for path in samples:
        info = json.loads((path.parent / "result.json").read_text())
        with np.load(path) as z, np.load(cache / info["rollout"]["cache_file"]) as r:
            at, dense, ram = z["steps"], z["dense"], z["ram"]
            obs = r["observations"][at]
            np.testing.assert_array_equal(ram, r["ram"][at])
        fc = [n.run(obs, ["fc"])["fc"] for n in networks]
        matched += [i for i, values in enumerate(fc) if np.allclose(values, dense, atol=1e-5)]
    assert sorted(matched) == [0, 1]
    # rebuilding reuses the cached map
    before = (site / "maps/Pong.json").read_bytes()
    build_zoo(tmp_path / "zoo", tmp_path, cache, tables, steps=60)
    assert (site / "maps/Pong.json").read_bytes() == before
