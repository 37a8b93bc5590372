"""Training logs become curves with their checkpoint tags; charts are SVG of the data."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from zoo_site.site.charts import returns_chart, training_chart
from zoo_site.site.training import read_log, training_curves
from zoo_site.sources.base import Entry, ModelRef

SVG = "{http://www.w3.org/2000/svg}"


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def entry(tmp_path: Path, tag: str, log: Path | None, ckpts: Path | None = None) -> Entry:
    model = ModelRef(tmp_path / f"model1_{tag}.pb", "frozen_graph", "apex")
    return Entry("apex", "Seaquest", 1, tag, model=model, checkpoints=ckpts, log=log)


def test_log_rows_sorted_initial_left_out_and_restart_gaps_closed(tmp_path):
    rows = [
        {"time": 7200, "score": 20, "frames": 2},
        {"time": 0, "score": 0, "frames": 0, "initial": 1},
        {"time": 3600, "score": 10, "frames": 1},
        {"time": 3600 * 10 + 7200, "score": 30, "frames": 3},  # after an 8-hour outage
    ]
    axis, points, raw = read_log(write(tmp_path / "log.json", rows))
    assert axis == "hours"
    assert points == [[0.0, 10.0], [1.0, 20.0], [1.0, 30.0]]
    assert raw == [3600, 7200, 43200]


def test_frames_axis_when_a_row_has_no_time(tmp_path):
    axis, points, _ = read_log(write(tmp_path / "log.json", [{"frames": 5, "score": 1}]))
    assert (axis, points) == ("frames", [[5.0, 1.0]])


def test_tags_marked_where_the_files_place_them(tmp_path):
    ck = tmp_path / "checkpoints"
    log = write(ck / "SeaquestNoFrameskip-v4_1_log.json",
                [{"time": t * 3600, "score": t * 100, "frames": t} for t in range(11)])  # fmt: skip
    tags = write(ck / "SeaquestNoFrameskip-v4_1.json", [
        {"criteria": "2HR", "best_checkpoint": {"time": 2 * 3600 + 60}},
        {"criteria": "6HR", "best_checkpoint": "ckpt-77"},
    ])  # fmt: skip
    entries = [entry(tmp_path, t, log, tags) for t in ("initial", "2HR", "6HR", "final")]
    (curve,), problems = training_curves(entries)
    assert problems == []
    marks = {m["tag"]: (m["x"], m["score"]) for m in curve["marks"]}
    assert marks == {"initial": (0.0, 0.0), "2HR": (2.0, 200.0), "6HR": (None, None),
                     "final": (10.0, 1000.0)}  # fmt: skip
    svg = training_chart(curve, "Ape-X", {e.tag: _json(e) for e in entries}, {"2HR": "2 hours"})
    root = ET.fromstring(f"<div>{svg}</div>")
    links = [a.get("href") for a in root.iter(f"{SVG}a")]
    assert sorted(links) == sorted(
        f"../video.html?algo=apex&game=Seaquest&run=1&tag={t}" for t in ("2HR", "final", "initial")
    )
    points = root.find(f".//{SVG}polyline").get("points").split()
    assert len(points) == 11
    caption = "".join(root.find("figure/figcaption").itertext())
    assert "does not place: 6HR" in caption


def test_a_bad_log_is_a_warning_naming_the_file(tmp_path):
    log = tmp_path / "SeaquestNoFrameskip-v4_1_log.json"
    log.write_text("{not json")
    curves, problems = training_curves([entry(tmp_path, "final", log)])
    assert curves == []
    assert [(p.path, p.level) for p in problems] == [(str(log), "warning")]
    assert "not readable JSON" in problems[0].message


def _json(e: Entry, returns=(1.0,)) -> dict:
    return {"algo": e.algo, "game": e.game, "run": e.run, "tag": e.tag,
            "episode_returns": list(returns)}  # fmt: skip


def test_returns_chart_draws_each_episode_of_each_runs_latest_tag():
    algos = [{"id": "apex", "label": "Ape-X"}, {"id": "dqn", "label": "<b>DQN</b>"}]
    entries = [
        {"algo": "apex", "game": "Pong", "run": 1, "tag": "initial", "episode_returns": [-21.0]},
        {"algo": "apex", "game": "Pong", "run": 1, "tag": "final", "episode_returns": [5.0, 7.0]},
        {"algo": "dqn", "game": "Pong", "run": 2, "tag": "final", "episode_returns": [1.0]},
    ]
    svg = returns_chart("Pong", algos, entries, ["initial", "final"], {"final": "Final"})
    root = ET.fromstring(str(svg))  # well-formed: the label's markup was escaped
    assert [float(c.get("cy")) for c in root.iter(f"{SVG}circle")][0] > 0
    assert len(list(root.iter(f"{SVG}circle"))) == 3  # 2 + 1: the initial tag is not drawn
    hrefs = [a.get("href") for a in root.iter(f"{SVG}a")]
    assert hrefs == [
        "../video.html?algo=apex&game=Pong&run=1&tag=final",
        "../video.html?algo=dqn&game=Pong&run=2&tag=final",
    ]
    assert "<b>DQN</b>" in "".join(root.itertext())
    cys = sorted(float(c.get("cy")) for c in root.iter(f"{SVG}circle"))
    assert cys[0] < cys[1] < cys[2]  # higher returns are drawn higher
    assert returns_chart("Pong", algos, [dict(entries[2], episode_returns=[])], [], {}) is None


def test_the_games_scores_page_shows_the_training_curve_of_a_run(tmp_path):
    from frontend_fixtures import fake_manifest
    from manifests import validate_site

    from zoo_site.site.pages import write_pages

    manifest = fake_manifest()
    manifest["training"] = [{
        "algo": "apex", "game": "Seaquest", "run": 1, "x": "frames",
        "points": [[0, 0.0], [5e6, 50.0], [1e7, 80.0]],
        "marks": [{"tag": "initial", "x": 0, "score": 0.0},
                  {"tag": "final", "x": 1e7, "score": 80.0}],
    }]  # fmt: skip
    write_pages(tmp_path, manifest)
    assert validate_site(tmp_path)["training"] == manifest["training"]  # in Seaquest's shard
    html = (tmp_path / "scores" / "Seaquest.html").read_text()
    assert html.count('<figure class="training">') == 1
    assert 'aria-label="Seaquest: training curve of Ape-X, run 1"' in html
    assert 'href="../video.html?algo=apex&amp;game=Seaquest&amp;run=1&amp;tag=final"' in html
    assert '<figure class="training">' not in (tmp_path / "scores" / "Pong.html").read_text()
