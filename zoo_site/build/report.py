"""What the build tells a person: progress bars, one line per problem, a final summary."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from zoo_site.errors import Problem

if TYPE_CHECKING:  # pragma: no cover
    from zoo_site.build.summary import BuildSummary
    from zoo_site.records import EntryResult


class Reporter:
    def __init__(self, console: Console | None = None, verbose: bool = False):
        self.console = console or Console(stderr=True)
        self.verbose = verbose

    def info(self, message: str) -> None:
        self.console.print(escape(message))

    def problem(self, problem: Problem) -> None:
        style = "red" if problem.level == "error" else "yellow"
        self.console.print(f"[{style}]{escape(str(problem))}[/]", soft_wrap=True)

    def _progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"), TimeRemainingColumn(),
            console=self.console, transient=False,
        )  # fmt: skip

    @contextlib.contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[], None]]:
        with self._progress() as progress:
            task_id = progress.add_task(description, total=total, counts="")
            yield lambda: progress.advance(task_id)

    @contextlib.contextmanager
    def entries(self, total: int) -> Iterator[Callable[[EntryResult], None]]:
        counts = {"rendered": 0, "reused": 0, "failed": 0}
        with self._progress() as progress:
            task_id = progress.add_task("entries", total=total, counts="")

            def track(result: EntryResult) -> None:
                counts[result.status] += 1
                if result.status == "failed":
                    self.problem(Problem(result.path, result.error, result.entry_id))
                    if self.verbose and result.detail:
                        self.console.print(escape(result.detail))
                text = " ".join(f"{k} {v}" for k, v in counts.items())
                progress.update(task_id, advance=1, counts=text)

            yield track

    def summary(self, summary: BuildSummary) -> None:
        warnings = sum(p.level == "warning" for p in summary.problems)
        self.console.print(
            f"Built {summary.count('rendered') + summary.count('reused')} entries "
            f"({summary.count('rendered')} rendered, {summary.count('reused')} reused), "
            f"{summary.count('failed')} failed, {summary.errors} error(s), {warnings} warning(s)."
        )
        failed = [r for r in summary.results if r.status == "failed"]
        for r in failed:
            self.console.print(
                f"  [red]failed[/] {escape(r.entry_id)}: {escape(r.path)}: {escape(r.error)}"
            )
        self.console.print(f"Site: {escape(str(summary.out / 'index.html'))}")
