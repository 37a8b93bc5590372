"""The typed records that pass between the per-entry stages and the site.

`EntryMedia` is what the per-entry work made for one entry (kept in the cache as
result.json and read back on a reused build); the manifest stage reads only this and the
`Entry`. JSON-shaped parts (layer descriptions, atlas regions) are TypedDicts, so a type
checker follows them too.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypedDict


class StepData(TypedDict):
    action_names: list[str]
    actions: list[int] | None
    action_source: str | None
    greedy: list[int] | None
    rewards: list[float] | None
    score: list[float] | None
    """The running score before each step; None when the rollout recorded none."""
    action_values: list[list[float]] | None
    """Continuous actions, one list per step, where `actions` cannot say them."""


class FileError(TypedDict):
    path: str
    file: str
    message: str


class OutputsInfo(TypedDict, total=False):
    file: str
    url: str
    dtype: str
    shape: list[int]
    label: str
    kind: str


class DistributionInfo(TypedDict, total=False):
    file: str
    url: str
    dtype: str
    shape: list[int]
    support: list[float]


class ValueInfo(TypedDict, total=False):
    file: str
    url: str
    dtype: str
    shape: list[int]
    label: str


class ActivationsInfo(TypedDict, total=False):
    convention: str
    input: str
    atlas: dict[str, Any]
    layers: list[dict[str, Any]]
    outputs: OutputsInfo
    distribution: DistributionInfo | None
    value: ValueInfo | None
    """The value head's output per step (N,), where the network has one."""


class RolloutInfo(TypedDict):
    source: str
    """"zoo" (the zoo's own file) or "played" (played by zoo-site, kept in the cache)."""
    protocol: str | None
    """The PlayProtocol name it was played with (None for the zoo's own files)."""
    protocol_label: str | None
    """That protocol for people, with any value the config changed."""
    cache_file: str | None
    """Where a played rollout is kept, relative to the cache folder."""


@dataclass
class EntryMedia:
    """Everything the per-entry stage made for one entry, with the files' names."""

    files: list[str]
    frames: int
    fps: float
    width: int
    height: int
    scale: int
    episode_returns: list[float]
    score: float | None
    steps: StepData
    rollout: RolloutInfo
    activations: ActivationsInfo | None = None
    activation_error: FileError | None = None
    activations_off: bool = False
    """The entry has a model but [render] activations_only left its activations out."""
    saliency: dict[str, Any] | None = None
    """The saliency maps' file and how they were made (`entries._saliency`)."""
    saliency_error: FileError | None = None
    states: str | None = None
    """The map of states' samples in the entry's cache folder (never published)."""
    robustness: dict[str, Any] | None = None
    """Returns under observation noise (`analysis.robustness`), kept in its own cache."""
    robustness_error: FileError | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EntryMedia:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class EntryResult:
    """The outcome of one entry's work: rendered, reused or failed (with why)."""

    entry_id: str
    status: str  # "rendered", "reused" or "failed"
    error: str = ""
    path: str = ""
    detail: str = ""
    media_dir: Path | None = None
    media: EntryMedia | None = None
    seconds: float = 0.0
    played: Path | None = None
    """The played rollout file in the cache, where zoo-site played the model."""
    extra_files: dict[str, Path] = field(default_factory=dict)
    """Files of the entry kept outside `media_dir` (name in the site -> file)."""

    @property
    def activation_error(self) -> FileError | None:
        """A problem that left the entry without activations (its gameplay still built)."""
        return self.media.activation_error if self.media else None
