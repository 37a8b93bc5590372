"""The exception tree, the per-file problem record, and their exit codes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ZooSiteError(Exception):
    """Base of every error meant for a person: its message says what to do."""

    exit_code = 1


class ConfigError(ZooSiteError):
    """The configuration (zoo-site.toml or command-line options) is invalid."""

    exit_code = 2

    def __init__(self, problems: list[str], source: str | Path | None = None):
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} configuration problem(s){where}:\n{lines}")


class ZooNotFound(ZooSiteError):
    """The zoo folder (or URL) does not exist or holds no entries."""

    exit_code = 3


class EntryError(ZooSiteError):
    """One entry cannot be built: its input file is missing, corrupt or inconsistent."""

    def __init__(self, path: str | Path | None, message: str):
        self.path = str(path) if path is not None else None
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path else message)


class BuildFailed(ZooSiteError):
    """The site was written, but some entries failed (listed in the summary)."""

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, kept so the build can go on and report it."""

    path: str
    message: str
    entry: str | None = None
    level: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        who = f" [{self.entry}]" if self.entry else ""
        return f"{self.level}: {self.path}{who}: {self.message}"
