"""What the map of states costs: the embedding at build time, and drawing it in Chromium.

- Embedding: PCA to 50 dimensions then t-SNE (scikit-learn), on synthetic 512-unit dense
  samples in a few clusters, at the demo's size (800 points) and the default cap (3,000),
  against PCA alone (the `method = "pca"` reference) in the same run.
- Drawing: map.html on a synthetic site (a simulation: random places, no real entries) with
  2,000 and 20,000 points in Debian's Chromium: a redraw (resize) and a new colouring, in
  milliseconds, against the 16.7 ms of one frame at 60 Hz.

Run: python benchmarks/state_map.py. The last line is JSON with `tsne_s_800`,
`tsne_s_3000`, `tsne_over_pca_3000`, `redraw_ms_20000`, `colouring_ms_20000`,
`redraw_20000_over_frame` and `redraw_20000_over_2000`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from zoo_site.analysis import states  # noqa: E402
from zoo_site.site.pages import write_pages  # noqa: E402
from zoo_site.site.serve import make_server  # noqa: E402


def samples(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (8, 512))
    return (centres[rng.integers(0, 8, n)] + rng.normal(0, 1, (n, 512))).astype(np.float32)


def embed_seconds(n: int, method: str) -> float:
    x = samples(n)
    start = time.perf_counter()
    states._reduce(x, states.MapSettings(method=method))
    return time.perf_counter() - start


def fake_site(root: Path, points: int) -> None:
    rng = np.random.default_rng(1)
    manifest = {
        "schema_version": 2, "generator": "benchmark",
        "site": {"title": "Simulation", "description": "", "notice": None, "demo": False,
                 "media_url": None},
        "algos": [{"id": f"a{i}", "label": f"Algo {i}"} for i in range(4)],
        "games": [{"id": "Pong", "env": "PongNoFrameskip-v4"}], "runs": [1, 2, 3],
        "tags": [{"id": "final", "label": "final"}], "entries": [], "training": [],
        "robustness": [],
        "maps": [{"game": "Pong", "page": "map.html?game=Pong", "data": "maps/Pong.json",
                  "points": points}],
    }  # fmt: skip
    entries = [{"id": f"a{a}/Pong/{r}/final", "algo": f"a{a}", "run": r, "tag": "final"}
               for a in range(4) for r in (1, 2, 3)]  # fmt: skip
    xy = rng.random((points, 2)).round(4)
    data = {
        "game": "Pong", "method": "simulation", "settings": {}, "entries": entries,
        "action_names": ["NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"],
        "points": {"entry": rng.integers(0, len(entries), points).tolist(),
                   "step": rng.integers(0, 2500, points).tolist(),
                   "action": rng.integers(0, 6, points).tolist(),
                   "score": rng.normal(0, 10, points).round(2).tolist()},
        "views": {"dense": {"points": list(range(points)), "x": xy[:, 0].tolist(),
                            "y": xy[:, 1].tolist()}},
        "thumbs": {"url": "maps/Pong.png", "width": 40, "height": 53, "columns": 50},
        "notes": [],
    }  # fmt: skip
    (root / "maps").mkdir(parents=True)
    (root / "maps/Pong.json").write_text(json.dumps(data))
    write_pages(root, manifest)  # manifest.json (its root index) too


def draw_ms(points: int) -> tuple[float, float]:
    from browsing import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        fake_site(Path(tmp), points)
        server = make_server(Path(tmp), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1200, "height": 900})
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/map.html?game=Pong")
                page.wait_for_selector("body[data-ready='1']", timeout=30_000)
                redraw = page.evaluate("""() => { const t0 = performance.now();
                    for (let i = 0; i < 20; i++) window.dispatchEvent(new Event('resize'));
                    return (performance.now() - t0) / 20; }""")
                colouring = page.evaluate("""() => { const s = document.getElementById('colour');
                    const t0 = performance.now(); for (let i = 0; i < 10; i++) {
                    s.value = ['run', 'algo'][i % 2]; s.dispatchEvent(new Event('change')); }
                    return (performance.now() - t0) / 10; }""")
                browser.close()
        finally:
            server.shutdown()
            server.server_close()
    return redraw, colouring


def main() -> int:
    embed_seconds(100, "pca")  # scikit-learn's import, once
    pca = embed_seconds(3000, "pca")
    tsne_800, tsne_3000 = embed_seconds(800, "tsne"), embed_seconds(3000, "tsne")
    print(f"embedding: PCA alone {pca:.2f} s; PCA + t-SNE {tsne_800:.2f} s (800 points), "
          f"{tsne_3000:.2f} s (3,000 points)")  # fmt: skip
    small, _ = draw_ms(2000)
    redraw, colouring = draw_ms(20_000)
    print(f"map.html: a redraw {small:.1f} ms (2,000 points), {redraw:.1f} ms (20,000); "
          f"a new colouring of 20,000 points {colouring:.1f} ms; a frame is 16.7 ms")  # fmt: skip
    print(json.dumps({
        "pca_s_3000": round(pca, 3), "tsne_s_800": round(tsne_800, 2),
        "tsne_s_3000": round(tsne_3000, 2), "tsne_over_pca_3000": round(tsne_3000 / pca, 1),
        "redraw_ms_2000": round(small, 2), "redraw_ms_20000": round(redraw, 2),
        "colouring_ms_20000": round(colouring, 2),
        "redraw_20000_over_frame": round(redraw / (1000 / 60), 2),
        "redraw_20000_over_2000": round(redraw / small, 2),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
