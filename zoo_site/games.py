"""One name per game across sources: `SeaquestNoFrameskip-v4`, `Seaquest`, `seaquest`,
`ALE/Seaquest-v5` and `seaquest` are all the game `Seaquest`.

The rule: drop an `ALE/` prefix and a gym suffix (`NoFrameskip-v4`, `Deterministic-v4`,
`-v0` … `-v5`, and those combined), then compare without case, `_` and `-` against the
games ale-py ships; a match is named in CamelCase from ale-py's id (`montezuma_revenge` ->
`MontezumaRevenge`). A name that matches no game is kept as given, less the prefix and
suffix (`CarRacing-v0` -> `CarRacing`).
"""

from __future__ import annotations

import functools
import re

_SUFFIX = re.compile(r"(NoFrameskip|Deterministic)?(-v[0-9]+)?$")


def _key(name: str) -> str:
    return re.sub(r"[_\-\s]", "", name).lower()


@functools.cache
def _known() -> dict[str, str]:
    """ale-py's games: the comparison key -> the CamelCase name."""
    try:
        from ale_py import roms

        ids = roms.get_all_rom_ids()
    except Exception:  # no ale-py: names are kept as given
        return {}
    return {_key(i): "".join(part.capitalize() for part in i.split("_")) for i in ids}


def canonical_game(name: str) -> str:
    """The one name of the game `name` stands for (see the module's rule)."""
    bare = name.removeprefix("ALE/")
    bare = _SUFFIX.sub("", bare) or bare
    return _known().get(_key(bare), bare)
