"""Dopamine's TensorFlow 1 checkpoints (google/dopamine, 2018) as a `Network`, run in numpy.

A checkpoint is what Dopamine's agents save with `tf.train.Saver` at the end of every
iteration: ``tf_ckpt-<N>.index`` (the variables' names, shapes and places),
``tf_ckpt-<N>.data-00000-of-00001`` (their bytes) and ``tf_ckpt-<N>.meta`` (the graph,
which is never read here: importing a graph could run anything). Only the index and the
data shards are read, with TensorFlow's checkpoint reader (`tf.train.load_checkpoint`).

Every variable of the graph is saved: the online network (``Online/...``), the target
network (``Target/...``) and the optimizer's slots (``Online/Conv/weights/RMSProp`` for
DQN, ``.../Adam`` and ``.../Adam_1`` for C51 and Rainbow). The online network is the agent;
the rest is ignored. Its variables, as the 2018 agents' `tf.contrib.slim` layers name them
(``Online/<layer>/weights`` and ``.../biases``; the Keras networks of Dopamine from
September 2019 on name them ``.../kernel`` and ``.../bias`` and are read too):

- ``Online/Conv``   conv 8x8/4, 4 -> 32, kernel HWIO (8, 8, 4, 32)
- ``Online/Conv_1`` conv 4x4/2, 32 -> 64, (4, 4, 32, 64)
- ``Online/Conv_2`` conv 3x3/1, 64 -> 64, (3, 3, 64, 64)
- ``Online/fully_connected``   dense 7744 -> 512, [in, out]: slim's convolutions pad
  SAME, so the last one is 11x11x64, flattened NHWC (slim.flatten)
- ``Online/fully_connected_1`` dense 512 -> the head: the actions' Q-values (DQN), or
  actions x 51 logits (C51 and Rainbow), reshaped to (actions, 51) action-major
  (`tf.reshape(net, [-1, num_actions, num_atoms])`) and softmaxed over the atoms, whose
  support is `tf.linspace(-vmax, vmax, num_atoms)` with the release's vmax = 10.

ReLU after every layer but the head. The network eats uint8 (N, 84, 84, 4) stacks
(``state_ph``) and divides by 255. Layers: conv1..conv3 and fc (the ReLU outputs), "output"
(the values the agent acts on: Q-values, or each action's expected return for C51 and
Rainbow), and for C51 and Rainbow "distribution", the (N, actions, 51) probabilities.

IQN checkpoints are refused: IQN's network takes sampled quantile fractions tau beside the
observation, and its Q-values are a mean over 32 tau drawn at random at every step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from zoo_site.errors import EntryError
from zoo_site.networks.base import LayerSpec, ObsSpec
from zoo_site.networks.nature_cnn import Conv, Dense, NatureCNNWeights
from zoo_site.networks.uint8_cnn import UInt8NatureCNN

if TYPE_CHECKING:  # pragma: no cover
    from zoo_site.sources.base import ModelRef

SCOPE = "Online"
#: (variable scope, kernel shape, stride) of the three conv layers.
CONVS = (
    ("Conv", (8, 8, 4, 32), 4),
    ("Conv_1", (4, 4, 32, 64), 2),
    ("Conv_2", (3, 3, 64, 64), 1),
)
FC = "fully_connected"
HEAD = "fully_connected_1"
LAYER_SCOPES = (*(c[0] for c in CONVS), FC, HEAD)
#: (kernel, bias) variable names: tf.contrib.slim's (2018), then Keras' (2019 on).
NAMINGS = (("weights", "biases"), ("kernel", "bias"))
#: SAME padding: 84 -> 21 -> 11 -> 11.
FEATURES = 11 * 11 * 64
FC_UNITS = 512
#: The release's C51 and Rainbow (rainbow_agent.py, c51.gin, rainbow.gin).
NUM_ATOMS = 51
VMAX = 10.0
#: ModelRef.family (the agent folder) -> the network's family, for people.
FAMILIES = {"dqn": "DQN", "c51": "C51", "rainbow": "Rainbow", "iqn": "IQN"}
DISTRIBUTIONAL = frozenset({"c51", "rainbow"})
OBS = ObsSpec((84, 84, 4), "uint8", "NHWC", 255.0, input="state_ph")
LAYERS = (
    LayerSpec("conv1", f"{SCOPE}/Conv", "conv"),
    LayerSpec("conv2", f"{SCOPE}/Conv_1", "conv"),
    LayerSpec("conv3", f"{SCOPE}/Conv_2", "conv"),
    LayerSpec("fc", f"{SCOPE}/{FC}", "dense"),
    LayerSpec("output", f"{SCOPE}/{HEAD}", "output"),
)
IQN_REFUSED = (
    "IQN checkpoints are not supported yet: IQN's network takes quantile fractions tau "
    "beside the observation (its Online/fully_connected embeds cos(pi*i*tau)), and its "
    "Q-values are a mean over 32 tau drawn at random at every step, so there is no one "
    "deterministic forward pass to show"
)
_SHARD = re.compile(r"\.data-(?P<i>\d{5})-of-(?P<n>\d{5})")


def prefix_of(path: Path) -> Path:
    """The checkpoint's prefix (.../tf_ckpt-199) from its .index file or the prefix."""
    path = Path(path)
    return path.with_name(path.name[: -len(".index")]) if path.name.endswith(".index") else path


def index_of(prefix: Path) -> Path:
    return prefix.with_name(prefix.name + ".index")


def data_shards(prefix: Path) -> list[Path]:
    """The data shards beside the index (prefix.data-00000-of-00001, ...), sorted."""
    head = prefix.name + ".data-"
    try:
        names = [p for p in prefix.parent.iterdir() if p.name.startswith(head)]
    except OSError:
        return []
    return sorted(p for p in names if _SHARD.fullmatch(p.name[len(prefix.name) :]))


def check_shards(prefix: Path) -> list[Path]:
    """Every data shard the checkpoint needs, all present; an EntryError naming the first
    missing one otherwise (an index downloaded without its data)."""
    shards = data_shards(prefix)
    if not shards:
        missing = prefix.with_name(prefix.name + ".data-00000-of-00001")
        raise EntryError(
            missing,
            f"missing: the checkpoint {prefix.name} has its .index but no data shard "
            f"(.data-*-of-*); download {missing.name} beside the index",
        )
    counts = {
        int(m["n"]) for m in (_SHARD.fullmatch(p.name[len(prefix.name) :]) for p in shards) if m
    }
    total = max(counts)
    for i in range(total):
        shard = prefix.with_name(f"{prefix.name}.data-{i:05d}-of-{total:05d}")
        if not shard.is_file():
            raise EntryError(
                shard,
                f"missing: shard {i + 1} of the {total} data shards of the checkpoint "
                f"{prefix.name}; download it beside the index",
            )
    return shards


def read_variables(index: Path, shards: Sequence[Path]) -> dict[str, np.ndarray]:
    """Every variable of the checkpoint, read by TensorFlow's checkpoint reader (never the
    .meta graph). Reading them all checks every byte of the data shards against the
    checksums in the index, so a truncated or damaged download is found here."""
    from zoo_site.networks.tfload import tensorflow

    tf = tensorflow()
    prefix = prefix_of(index)
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        shapes = reader.get_variable_to_shape_map()
    except Exception as exc:  # the reader raises OpErrors and bare RuntimeErrors
        raise EntryError(
            index,
            f"not a TensorFlow checkpoint index ({_reason(exc)}); Dopamine's checkpoints are "
            "tf_ckpt-<N>.index beside tf_ckpt-<N>.data-00000-of-00001: download it again",
        ) from None
    variables: dict[str, np.ndarray] = {}
    for name in sorted(shapes):
        try:
            value = reader.get_tensor(name)
        except Exception as exc:  # OpError (checksums, missing files), IndexError (short)
            raise EntryError(
                _shard_named(exc, shards, index),
                f"cannot read the variable {name} ({_reason(exc)}): the data shard is "
                "truncated or damaged (an interrupted download?); download it again",
            ) from None
        variables[name] = np.asarray(value)
    return variables


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:300]


def _shard_named(exc: BaseException, shards: Sequence[Path], index: Path) -> Path:
    """The data shard a reading error is about (the only one, or the one it names)."""
    if len(shards) == 1:
        return shards[0]
    text = str(exc)
    return next((s for s in shards if s.name in text), shards[0] if shards else index)


def online_weights(
    variables: Mapping[str, np.ndarray], family: str, path: Path
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The online network's (kernel, bias) per layer scope, by slim's or Keras' names;
    target networks and optimizer slots are left out. An EntryError naming `path` when the
    online network is missing, incomplete, IQN's or not the Nature CNN."""
    online = {
        name[len(SCOPE) + 1 :]: value
        for name, value in variables.items()
        if name.startswith(SCOPE + "/") and name.count("/") == 2  # not .../weights/Adam
    }
    if family == "iqn" or any(f"{FC}_2/{kernel}" in online for kernel, _ in NAMINGS):
        raise EntryError(path, IQN_REFUSED)  # IQN's head is a third dense layer
    if not online:
        found = ", ".join(sorted(variables)[:8]) or "none"
        raise EntryError(
            path,
            f"no {SCOPE}/ variables (found: {found}): not the checkpoint of a Dopamine agent "
            "(its online network is saved as Online/Conv/weights, ...)",
        )
    kernel, bias = next((naming for naming in NAMINGS if f"Conv/{naming[0]}" in online), NAMINGS[0])
    wanted = {f"{scope}/{w}" for scope in LAYER_SCOPES for w in (kernel, bias)}
    missing = sorted(f"{SCOPE}/{n}" for n in wanted - set(online))
    params = {n for naming in NAMINGS for n in naming}
    unexpected = sorted(
        f"{SCOPE}/{n}" for n in set(online) - wanted if n.rsplit("/", 1)[1] in params
    )
    if missing or unexpected:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"unexpected {', '.join(unexpected)}"] if unexpected else []
        raise EntryError(
            path,
            f"the online network is not Dopamine's Nature CNN ({'; '.join(parts)}); "
            "expected Online/Conv, Conv_1, Conv_2, fully_connected and fully_connected_1",
        )
    return {
        scope: (online[f"{scope}/{kernel}"], online[f"{scope}/{bias}"]) for scope in LAYER_SCOPES
    }


def _checked(value: np.ndarray, name: str, shape: tuple[int, ...], path: Path) -> np.ndarray:
    if not np.issubdtype(value.dtype, np.floating):
        raise EntryError(path, f"{name} is {value.dtype}, not a floating-point variable")
    if value.shape != shape:
        raise EntryError(
            path,
            f"{name} has shape {value.shape}, expected {shape} (Dopamine's Nature CNN on "
            "84x84x4 inputs with SAME padding: 11*11*64 = 7744 features)",
        )
    return value.astype(np.float32, copy=False)


def head_layout(
    head: np.ndarray, family: str, actions: int | None, path: Path
) -> tuple[int, np.ndarray | None]:
    """(actions, the support or None) from the head kernel, checked against `actions`."""
    name = f"{SCOPE}/{HEAD}"
    if head.ndim != 2 or head.shape[0] != FC_UNITS or head.shape[1] < 1:
        raise EntryError(path, f"{name} has shape {head.shape}, expected ({FC_UNITS}, outputs)")
    outputs = head.shape[1]
    distributional = family in DISTRIBUTIONAL
    if family not in FAMILIES and actions is not None:  # no agent folder: read the head
        distributional = outputs == actions * NUM_ATOMS
    atoms = NUM_ATOMS if distributional else 1
    if outputs % atoms:
        raise EntryError(
            path, f"{name} has {outputs} outputs, not actions x {NUM_ATOMS} atoms ({family})"
        )
    found = outputs // atoms
    if actions is not None and found != actions:
        size = f"{outputs} outputs" if atoms == 1 else f"{outputs} outputs ({found} x {atoms})"
        raise EntryError(
            path,
            f"the head ({name}) has {size}, but the game has {actions} actions: a "
            "checkpoint of another game?",
        )
    return found, (support() if distributional else None)


def support(num_atoms: int = NUM_ATOMS, vmax: float = VMAX) -> np.ndarray:
    """`tf.linspace(-vmax, vmax, num_atoms)` as TensorFlow 1's LinSpace kernel makes it:
    start + i * step in float32, the last atom exactly vmax."""
    start, stop = np.float32(-vmax), np.float32(vmax)
    step = (stop - start) / np.float32(num_atoms - 1)
    atoms = start + np.arange(num_atoms, dtype=np.float32) * step
    atoms[-1] = stop
    return atoms.astype(np.float32)


def nature_weights(
    layers: Mapping[str, tuple[np.ndarray, np.ndarray]], outputs: int, path: Path
) -> NatureCNNWeights:
    """The online network's weights, shape-checked, in nature_cnn's canonical form (which
    is already TensorFlow's: HWIO kernels, [in, out] dense kernels, NHWC flattening)."""

    def pair(scope: str, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        kernel, bias = layers[scope]
        return (
            _checked(kernel, f"{SCOPE}/{scope} kernel", shape, path),
            _checked(bias, f"{SCOPE}/{scope} bias", shape[-1:], path),
        )

    convs = tuple(Conv(*pair(scope, shape), stride) for scope, shape, stride in CONVS)
    fc = Dense(*pair(FC, (FEATURES, FC_UNITS)))
    head = Dense(*pair(HEAD, (FC_UNITS, outputs)))
    return NatureCNNWeights(convs, fc, head, padding="SAME")


class DopamineNetwork(UInt8NatureCNN):
    """A Dopamine agent's online network in numpy; see the module docstring."""

    obs = OBS
    layers = LAYERS

    def __init__(self, weights: NatureCNNWeights, actions: int, support: np.ndarray | None,
                 family: str, path: Path):  # fmt: skip
        super().__init__(
            weights,
            actions,
            support,
            FAMILIES.get(family, family or ("C51" if support is not None else "DQN")),
            path,
        )


def load(ref: ModelRef, *, actions: int | None = None) -> DopamineNetwork:
    """Load a Dopamine checkpoint: `ref.path` is its .index file (or its prefix),
    `ref.family` the agent ("dqn", "c51", "rainbow"; "iqn" is refused); `actions`, the
    game's minimal action-set size, is checked against the head."""
    prefix = prefix_of(Path(ref.path))
    index = index_of(prefix)
    family = (ref.family or "").lower()
    if family == "iqn":
        raise EntryError(index, IQN_REFUSED)
    if not index.is_file():
        raise EntryError(
            index, f"missing: the checkpoint {prefix.name} has no .index file; download it"
        )
    shards = check_shards(prefix)
    layers = online_weights(read_variables(index, shards), family, index)
    found, atoms = head_layout(layers[HEAD][0], family, actions, index)
    outputs = found * (1 if atoms is None else len(atoms))
    weights = nature_weights(layers, outputs, index)
    return DopamineNetwork(weights, found, atoms, family, index)
