"""The lockstep evaluation with its emulators in worker processes, pipelined.

`robustness.evaluate(..., workers=k)` hands its episodes to k worker processes (every k-th
episode each), which own their emulators and random streams (`noisy_episode.NoisyEpisode`) and
write what the network is to be fed — the observation plus this step's noise — into one
shared-memory array. The parent keeps the network: while it runs the batched call for one
worker's episodes, the other workers step their emulators and draw their noise with the
previous call's outputs. The episodes play exactly as in one process (the same streams,
the same per-episode order of draws); a test holds the results equal.

Workers are spawned (no TensorFlow state is forked), shut down on every exit path, and
report a failure as an error message instead of hanging the parent.
"""

from __future__ import annotations

import multiprocessing
import traceback
from multiprocessing import shared_memory
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from zoo_site.analysis.noisy_episode import NoisyEpisode
from zoo_site.networks.base import Network
from zoo_site.rollouts.protocols import PlayProtocol

OBS = (84, 84, 4)


def usable(workers: int) -> bool:
    """Worker processes can be started here (a daemonic process may not have children)."""
    return workers > 1 and not multiprocessing.current_process().daemon


def _serve(conn: Connection, shm_name: str, count: int, rows: list[int], game: str,
           protocol: PlayProtocol, settings: Any) -> None:  # fmt: skip
    """A worker: play `rows` (row = level x episodes + episode) one step per message."""
    shm = shared_memory.SharedMemory(name=shm_name)
    try:
        fed = np.ndarray((count, *OBS), np.float32, buffer=shm.buf)
        episodes = {row: NoisyEpisode(game, protocol, settings, *divmod(row, settings.episodes))
                    for row in rows}  # fmt: skip
        for row, episode in episodes.items():
            fed[row] = episode.seen()
        conn.send(("ok", [row for row, e in episodes.items() if not e.done]))
        while (message := conn.recv()) is not None:
            stepped, values = message
            ended = []
            for row, value in zip(stepped, values, strict=True):
                episode = episodes[row]
                episode.act(value)
                if episode.done:
                    ended.append(row)
                else:
                    fed[row] = episode.seen()
            conn.send(("ok", ended))
        conn.send(("ok", {row: (e.total, e.steps, e.finished) for row, e in episodes.items()}))
        del fed
    except (EOFError, KeyboardInterrupt):
        pass
    except Exception:  # noqa: BLE001 - the parent raises it
        conn.send(("error", traceback.format_exc()))
    finally:
        shm.close()
        conn.close()


def _receive(conn: Connection) -> Any:
    try:
        status, payload = conn.recv()
    except EOFError:
        raise RuntimeError("a noise-evaluation worker ended without a word") from None
    if status == "error":
        raise RuntimeError(f"a noise-evaluation worker failed:\n{payload}")
    return payload


def play(network: Network, game: str, protocol: PlayProtocol, settings: Any, workers: int,
         timing: dict[str, float]) -> list[tuple[float, int, bool]]:  # fmt: skip
    """Every (level, episode) of `settings`, in row order: (return, steps, finished);
    timing["setup_s"] is set to the perf_counter() at which every worker was ready."""
    import time

    count = len(settings.levels) * settings.episodes
    workers = min(workers, count)
    context = multiprocessing.get_context("spawn")
    shm = shared_memory.SharedMemory(create=True, size=count * int(np.prod(OBS)) * 4)
    procs, conns = [], []
    try:
        fed = np.ndarray((count, *OBS), np.float32, buffer=shm.buf)
        for w in range(workers):
            parent, child = context.Pipe()
            proc = context.Process(
                target=_serve, name=f"zoo-site noise worker {w}", daemon=True,
                args=(child, shm.name, count, list(range(w, count, workers)), game, protocol,
                      settings),
            )  # fmt: skip
            proc.start()
            child.close()
            procs.append(proc)
            conns.append(parent)
        running = [set(_receive(conn)) for conn in conns]
        timing["setup_s"] = time.perf_counter()
        pending = [False] * workers
        while any(running) or any(pending):
            for w, conn in enumerate(conns):
                if pending[w]:  # it stepped while the other workers' calls ran
                    running[w] -= set(_receive(conn))
                    pending[w] = False
                if running[w]:
                    rows = sorted(running[w])
                    values = network.run(fed[rows], ["output"])["output"]
                    conn.send((rows, values))
                    pending[w] = True
        results: dict[int, tuple[float, int, bool]] = {}
        for conn in conns:
            conn.send(None)
            results.update(_receive(conn))
        del fed
        return [results[row] for row in range(count)]
    finally:
        for conn in conns:
            conn.close()
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        shm.close()
        shm.unlink()
