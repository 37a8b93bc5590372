"""atari-agents checkpoints (github.com/floringogianu/atari-agents) as a `Network`, without
PyTorch.

`models/<ALGO>_<protocol>/<Game>/<seed>/model_<step>.gz` is a gzip of a torch.save dict
whose "estimator_state" is the state dict of play.py's `AtariNet` (DQN, M-DQN and C51):
`_AtariNet__features.{0,2,4}` (conv 32x4x8x8/4, 64x32x4x4/2, 64x64x3x3/1, VALID padding),
`_AtariNet__head.0` (dense 3136 -> 512, reading the NCHW flattening) and
`_AtariNet__head.2` (512 -> actions, or actions x 51 C51 logits over `_AtariNet__support`,
linspace(-10, 10, 51)). The network eats uint8 (N, 4, 84, 84) stacks and divides by 255.

The file is read by `safe_pickle` (nothing in it runs) and the network runs in numpy
(`nature_cnn`). Layers: conv1..conv3 and fc are the ReLU outputs (modules
`_AtariNet__features.1/3/5`, `_AtariNet__head.1`), "output" the values the agent acts on
(Q-values; for C51 each action's expected return), and for C51 "distribution", the
(N, actions, atoms) probabilities.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo_site.errors import EntryError
from zoo_site.networks import safe_pickle
from zoo_site.networks.base import LayerSpec, ObsSpec
from zoo_site.networks.nature_cnn import (
    Conv,
    Dense,
    NatureCNNWeights,
    dense_from_chw,
    from_oihw,
)
from zoo_site.networks.uint8_cnn import UInt8NatureCNN

if TYPE_CHECKING:  # pragma: no cover
    from zoo_site.sources.base import ModelRef

PREFIX = "_AtariNet__"
SUPPORT = PREFIX + "support"
#: (state-dict prefix, OIHW shape, stride) of the three conv layers.
CONVS = (
    (PREFIX + "features.0", (32, 4, 8, 8), 4),
    (PREFIX + "features.2", (64, 32, 4, 4), 2),
    (PREFIX + "features.4", (64, 64, 3, 3), 1),
)
FC = PREFIX + "head.0"
HEAD = PREFIX + "head.2"
#: Every key of the state dict but C51's support.
KEYS = frozenset(f"{p}.{w}" for p in (*(c[0] for c in CONVS), FC, HEAD) for w in ("weight", "bias"))
FEATURES_CHW = (64, 7, 7)
FC_UNITS = 512
OBS = ObsSpec((4, 84, 84), "uint8", "NCHW", 255.0)
LAYERS = (
    LayerSpec("conv1", PREFIX + "features.1", "conv"),
    LayerSpec("conv2", PREFIX + "features.3", "conv"),
    LayerSpec("conv3", PREFIX + "features.5", "conv"),
    LayerSpec("fc", PREFIX + "head.1", "dense"),
    LayerSpec("output", HEAD, "output"),
)
#: A checkpoint is ~7 MB; anything inflating past this is not one.
MAX_BYTES = 1 << 30


def read_gzip(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The file's decompressed bytes; a clear EntryError if it is not a whole gzip file."""
    try:
        with open(path, "rb") as file:
            magic = file.read(2)
            file.seek(0)
            if magic != b"\x1f\x8b":
                raise EntryError(
                    path,
                    f"not a gzip file (it starts with {magic!r}); "
                    "atari-agents checkpoints are model_<step>.gz files, gzip'd "
                    "torch.save output",
                )
            with gzip.GzipFile(fileobj=file) as inflated:
                data = inflated.read(limit + 1)
    except EOFError:
        raise EntryError(
            path,
            "the gzip stream ends early: the file is truncated (an "
            "interrupted download?); download it again",
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise EntryError(path, f"damaged gzip file ({exc}); download it again") from None
    except OSError as exc:
        raise EntryError(path, f"cannot read the model file ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise EntryError(
            path, f"inflates to more than {limit >> 20} MiB: not an atari-agents checkpoint"
        )
    return data


def read_checkpoint(path: Path) -> Any:
    """The checkpoint's object (tensors as numpy arrays), read without running anything."""
    return safe_pickle.loads(read_gzip(path), path)


def estimator_state(checkpoint: Any, path: Path) -> Mapping[str, Any]:
    """checkpoint["estimator_state"], AtariNet's state dict."""
    if not isinstance(checkpoint, Mapping):
        raise EntryError(
            path,
            f"the checkpoint is a {type(checkpoint).__name__}, not the dict "
            "atari-agents saves (with an 'estimator_state' key)",
        )
    state = checkpoint.get("estimator_state")
    if not isinstance(state, Mapping):
        keys = ", ".join(repr(k) for k in list(checkpoint)[:10]) or "none"
        problem = (
            "no 'estimator_state'" if state is None else "an 'estimator_state' that is no dict"
        )
        raise EntryError(
            path,
            f"the checkpoint has {problem} (its keys: {keys}); is this an "
            "atari-agents model_<step>.gz?",
        )
    missing = sorted(KEYS - set(state))
    unexpected = sorted(map(str, set(state) - KEYS - {SUPPORT}))
    if missing or unexpected:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"unexpected {', '.join(map(str, unexpected))}"] if unexpected else []
        raise EntryError(path, f"estimator_state is not atari-agents' AtariNet: {'; '.join(parts)}")
    return state


def _weight(state: Mapping[str, Any], key: str, shape: tuple[int, ...], path: Path) -> np.ndarray:
    """state[key] as float32, checked against the expected shape."""
    value = state[key]
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
        what = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
        raise EntryError(path, f"{key} is {what}, not a floating-point tensor")
    if value.shape != shape:
        raise EntryError(
            path,
            f"{key} has shape {value.shape}, expected {shape} "
            "(atari-agents' AtariNet: the Nature CNN on 4x84x84 inputs)",
        )
    return value.astype(np.float32, copy=False)


def head_layout(
    state: Mapping[str, Any], family: str, actions: int | None, path: Path
) -> tuple[int, np.ndarray | None]:
    """(actions, C51 support or None) from the head's size, checked against `actions`."""
    head = state[HEAD + ".weight"]
    if not isinstance(head, np.ndarray) or head.ndim != 2:
        shape = getattr(head, "shape", type(head).__name__)
        raise EntryError(path, f"{HEAD}.weight is {shape}, not a 2-D (outputs, 512) weight")
    rows = head.shape[0]
    support = _support(state, family, path)
    atoms = 1 if support is None else len(support)
    if rows < 1 or rows % atoms:
        raise EntryError(
            path, f"{HEAD}.weight has {rows} outputs, not a multiple of the support's {atoms} atoms"
        )
    found = rows // atoms
    if actions is not None and found != actions:
        size = f"{rows} outputs" if atoms == 1 else f"{rows} outputs ({found} x {atoms} atoms)"
        raise EntryError(
            path,
            f"the head ({HEAD}) has {size}, but the game has {actions} "
            "actions: a checkpoint of another game?",
        )
    return found, support


def _support(state: Mapping[str, Any], family: str, path: Path) -> np.ndarray | None:
    """C51's support (atoms,) float32, or None for DQN and M-DQN."""
    if SUPPORT not in state:
        if family.upper() == "C51":
            raise EntryError(path, f"a C51 checkpoint without {SUPPORT} (the folder says C51)")
        return None
    support = state[SUPPORT]
    if not isinstance(support, np.ndarray) or support.ndim != 1 or len(support) < 2:
        shape = getattr(support, "shape", type(support).__name__)
        raise EntryError(path, f"{SUPPORT} is {shape}, not a 1-D support of atoms")
    return support.astype(np.float32)


def nature_weights(state: Mapping[str, Any], outputs: int, path: Path) -> NatureCNNWeights:
    """The state dict's weights, checked, in nature_cnn's canonical form."""
    convs = tuple(
        Conv(
            from_oihw(_weight(state, f"{key}.weight", shape, path)),
            _weight(state, f"{key}.bias", shape[:1], path),
            stride,
        )
        for key, shape, stride in CONVS
    )
    features = int(np.prod(FEATURES_CHW))
    fc = _weight(state, f"{FC}.weight", (FC_UNITS, features), path)
    head = _weight(state, f"{HEAD}.weight", (outputs, FC_UNITS), path)
    return NatureCNNWeights(
        convs,
        Dense(dense_from_chw(fc, FEATURES_CHW), _weight(state, f"{FC}.bias", (FC_UNITS,), path)),
        Dense(np.ascontiguousarray(head.T), _weight(state, f"{HEAD}.bias", (outputs,), path)),
        padding="VALID",
    )


class AtariAgentsNetwork(UInt8NatureCNN):
    """atari-agents' AtariNet in numpy; see the module docstring for its layers."""

    obs = OBS
    layers = LAYERS

    def __init__(self, weights: NatureCNNWeights, actions: int, support: np.ndarray | None,
                 family: str, path: Path):  # fmt: skip
        super().__init__(
            weights, actions, support, "C51" if support is not None else (family or "DQN"), path
        )


def load(ref: ModelRef, *, actions: int | None = None) -> AtariAgentsNetwork:
    """Load an atari-agents checkpoint (`ref` a ModelRef; ref.family "DQN", "MDQN" or
    "C51"); `actions`, the game's minimal action-set size, is checked against the head."""
    path = Path(ref.path)
    state = estimator_state(read_checkpoint(path), path)
    found, support = head_layout(state, ref.family or "", actions, path)
    outputs = found * (1 if support is None else len(support))
    weights = nature_weights(state, outputs, path)
    return AtariAgentsNetwork(weights, found, support, ref.family or "", path)
