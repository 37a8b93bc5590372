"""Where per-entry work runs: a local process pool (inline for one job), or a Dask cluster.

All are `concurrent.futures.Executor`s, so the build submits and collects the same way:
`--scheduler tcp://host:8786` uses a running Dask scheduler (its workers must see the same
zoo and cache paths, e.g. on a shared file system), `--scheduler local` starts a Dask
LocalCluster of `jobs` single-threaded worker processes for the build's duration.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any


class InlineExecutor(Executor):
    """Runs each task at submit time in this process (jobs=1: simple, easy to debug)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            if isinstance(exc, KeyboardInterrupt):
                raise
            future.set_exception(exc)
        return future


def cpu_limit(jobs: int | None) -> contextlib.AbstractContextManager:
    """With `--jobs N` below the cores this process may use, keep this process and all it
    starts (workers, their encoders, TensorFlow's threads) on N of them, then give the
    cores back: a build asked for N jobs uses N cores, as `make -j N` would. Without
    --jobs (or where affinity is not supported) nothing changes."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if not jobs or jobs >= len(allowed):
        return contextlib.nullcontext()
    return _affinity(sorted(allowed)[:jobs], allowed)


@contextlib.contextmanager
def _affinity(cores: list[int], restore: set[int]) -> Iterator[None]:
    os.sched_setaffinity(0, cores)
    try:
        yield
    finally:
        os.sched_setaffinity(0, restore)


def worker_count(jobs: int | None) -> int:
    return jobs if jobs and jobs > 0 else (os.cpu_count() or 1)


def make_executor(jobs: int | None, tasks: int, scheduler: str | None = None) -> Executor:
    """A pool of min(jobs, tasks) processes; spawned, so no TensorFlow state is forked.
    With `scheduler`, a Dask cluster's executor instead."""
    if scheduler:
        return DaskExecutor(scheduler, worker_count(jobs))
    n = min(worker_count(jobs), max(tasks, 1))
    if n <= 1:
        return InlineExecutor()
    return ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"))


class DaskExecutor(Executor):
    """A Dask client's executor that also closes the client (and a LocalCluster it made)."""

    def __init__(self, scheduler: str, workers: int):
        from zoo_site.errors import ZooSiteError

        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ZooSiteError(
                "--scheduler needs Dask: pip install 'zoo-site[dask]' (or dask[distributed])"
            ) from None
        self.cluster = None
        try:
            if scheduler == "local":
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                            processes=True, dashboard_address=None)  # fmt: skip
                self.client = Client(self.cluster)
            else:
                self.client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            if self.cluster is not None:
                self.cluster.close()
            raise ZooSiteError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from exc
        self._executor = self.client.get_executor(pure=False)

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        try:
            self._executor.shutdown(wait=wait and not cancel_futures)
        finally:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()
