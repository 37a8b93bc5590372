"""Networks: every model format zoo-site reads, behind one protocol (base.Network).

A format is one module here with a `load(ref, *, actions=None)` function (frozen graphs
also take `override`, the [algos.<id>] layer names);
`LOADERS` maps a ModelRef's `format` to it and imports it only when used (TensorFlow is
heavy, and a build of PyTorch checkpoints never needs it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from zoo_site.networks.base import Network
    from zoo_site.sources.base import ModelRef

#: ModelRef.format -> the module that loads it.
LOADERS = {
    "frozen_graph": "zoo_site.networks.frozen_graph",
    "torch_state": "zoo_site.networks.torch_state",
    "tf_checkpoint": "zoo_site.networks.tf_checkpoint",
}


def load_network(ref: ModelRef, *, actions: int | None = None, override: Any = None) -> Network:
    """Load the model `ref` points at; an EntryError naming the file if it cannot be used.

    `actions`: the game's action count, checked against the output layer where known.
    `override`: the algo's [algos.<id>] settings (layers/input), for formats that use them.
    """
    from zoo_site.errors import EntryError

    module_name = LOADERS.get(ref.format)
    if module_name is None:
        known = ", ".join(sorted(LOADERS))
        raise EntryError(ref.path, f"no loader for model format {ref.format!r} (known: {known})")
    module = importlib.import_module(module_name)
    if ref.format == "frozen_graph":
        network: Network = module.load(ref, actions=actions, override=override)
    else:
        network = module.load(ref, actions=actions)
    return network
