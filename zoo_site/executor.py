"""Where per-entry work runs: a local process pool, or inline for one job."""

from __future__ import annotations

import multiprocessing
import os
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


def worker_count(jobs: int | None) -> int:
    return jobs if jobs and jobs > 0 else (os.cpu_count() or 1)


def make_executor(jobs: int | None, tasks: int) -> Executor:
    """A pool of min(jobs, tasks) processes; spawned, so no TensorFlow state is forked."""
    n = min(worker_count(jobs), max(tasks, 1))
    if n <= 1:
        return InlineExecutor()
    return ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"))
