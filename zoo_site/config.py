"""The build configuration: a typed, declarative schema read from zoo-site.toml.

Every problem is collected (``Config value 'x': why``) and reported together in one
`ConfigError`, so a researcher fixes their file in one pass.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from zoo_site.errors import ConfigError
from zoo_site.names import check_name


@dataclass
class RenderConfig:
    """How media are rendered."""

    fps: float = 15.0
    """Video frames per second; one frame is one rollout step (60 Hz / frame skip 4 = 15)."""
    scale: int = 2
    """Integer nearest-neighbour upscale of the 160x210 screen (2 keeps yuv420p colours exact)."""
    crf: int = 18
    """x264 constant rate factor of gameplay videos (lower is better quality, larger files)."""
    activation_crf: int = 20
    """x264 constant rate factor of activation and atlas videos."""
    preset: str = "veryfast"
    """x264 preset."""
    layer_videos: bool = False
    """Also write a video per layer (layer-<name>.mp4), cropped from the atlas: exactly its
    pixels. No page plays them; off, each entry encodes only its gameplay and atlas."""
    activations_only: list[str] = field(default_factory=list)
    """The entries whose activations are rendered, as patterns of their ids algo/game/run/tag
    (["*/*/*/50000000"], ["apex/*/*/*"]); the others get their gameplay video only. Entries
    chosen for saliency maps always get them. Empty: every entry with a model."""


@dataclass
class RolloutConfig:
    """How an entry that has a model but no rollout is played in the emulator."""

    steps: int = 2500
    """Number of agent steps to record (episodes restart until this many are recorded)."""
    seed: int = 0
    """Seed of the emulator and of the no-op starts; the same seed gives the same rollout."""
    noop_max: int | None = None
    """At most this many no-op frames at the start of each episode; unset: the protocol's
    own (30 for the Atari Model Zoo's 'tf' style, none for Dopamine's)."""
    sticky_actions: float | None = None
    """Probability of repeating the previous action; unset: the protocol's own (0.25 for
    Dopamine and atari-agents' modern protocol, 0 otherwise)."""
    epsilon: float | None = None
    """Probability of a uniformly random action; unset: the protocol's own (0.001 for
    Dopamine and atari-agents, 0 for the Atari Model Zoo's agents)."""
    max_steps: int | None = None
    """At most this many steps of any rollout are rendered: a zoo's rollout that is longer
    is cut to its first max_steps steps (frame n stays step n), a played one is played for
    min(steps, max_steps); unset: every step. Only episodes that ended within the cut keep
    their returns."""


@dataclass
class SaliencyConfig:
    """Saliency maps (Greydanus et al. 2017), under [saliency]: where the agent looks."""

    method: str = "perturbation"
    """"perturbation" (the paper's: blur around each grid point, measure how the output
    moves), "gradient" (|dL/dI| summed over the stack: much cheaper, a different method)
    or "off"."""
    stride: int = 5
    """d: the perturbation grid's spacing in observation pixels (5: 17x17 on 84x84)."""
    radius: float = 5.0
    """r: the sigma of the Gaussian that blurs each mask's unit disk."""
    blur: float = 3.0
    """The sigma of the blur the masked region fades to."""
    every: int = 4
    """Compute the maps of every k-th step (0, k, 2k, ...); the pages show the last
    computed map and say so. 1 is every step (about 0.08 s per step on 2 cores)."""
    only: list[str] = field(default_factory=list)
    """The entries that get maps, as patterns of their ids algo/game/run/tag (shell-style:
    ["*/*/*/final"], ["apex/Pong/*/*"], ["*"] for all); empty: the last tag of each run
    (trained agents: an untrained network's maps are noise)."""


@dataclass
class RobustnessConfig:
    """Robustness to observation noise, under [robustness]: each chosen agent re-played
    with Gaussian noise on its input, as the Atari Model Zoo's paper did."""

    levels: list[float] = field(default_factory=lambda: [0.0, 0.05, 0.1, 0.2, 0.3])
    """Gaussian σ of the noise added to the [0, 1] observation, per level; [] turns the
    evaluation off."""
    episodes: int = 3
    """Episodes per level (each level's episode k starts from the same emulator seed)."""
    max_steps: int = 2500
    """Agent steps at most per episode."""
    seed: int = 0
    """Seed of the emulators, the noise and the protocol's random choices."""
    tags: list[str] = field(default_factory=list)
    """The checkpoints evaluated; empty: the last tag of each run. ["*"]: every tag."""
    only: list[str] = field(default_factory=list)
    """Further, only entries whose id algo/game/run/tag matches one of these patterns."""
    video: float = 0.1
    """Film one episode at the nonzero level nearest this σ, the noisy observation beside
    the screen (0: no film)."""


@dataclass
class StatesConfig:
    """The map of states, under [states]: every entry's steps placed in 2-D by the dense
    layer's activations and by RAM, per game (map.html)."""

    method: str = "tsne"
    """"tsne" (PCA to 50 dimensions, then t-SNE), "pca" (the first two components) or
    "off"."""
    points: int = 3000
    """Points per game at most (thinned evenly over every entry's samples)."""
    per_entry: int = 250
    """Steps sampled per entry at most (evenly spaced)."""
    perplexity: float = 30.0
    """t-SNE's perplexity (smaller for games with few points)."""
    seed: int = 0
    """Seed of PCA and t-SNE: the same samples and seed give the same map."""


@dataclass
class AlgoConfig:
    """Per-algorithm settings, under [algos.<id>]."""

    label: str = ""
    """Display name, e.g. "Ape-X" for apex."""
    layers: list[str] = field(default_factory=list)
    """Op names of the layers to show (conv layers, then the dense layer, then the output);
    empty: the algorithm's known convention, else found automatically."""
    input: str = ""
    """Op fed the observations, with `layers` (default: the graph's 4-D placeholder)."""
    input_scale: float = 1.0
    """Observations in [0, 1] are multiplied by this before feeding (255 for Dopamine)."""
    protocol: str = ""
    """How its models are played where there is no rollout: one of zoo-site's play
    protocols ("atari-model-zoo-tf", "dopamine", "atari-agents-modern", ...); empty: the
    source's own choice for the algorithm."""


@dataclass
class TagsConfig:
    """Checkpoint tags, under [tags]."""

    order: list[str] = field(default_factory=list)
    """Display order; tags not listed come after, in the source's training order (e.g. the
    Atari Model Zoo's initial, 1HR, ..., final; atari-agents' steps), then by name."""
    labels: dict[str, str] = field(default_factory=dict)
    """Display names, e.g. final = "Final"; unset: the source's (e.g. "50M steps")."""


@dataclass
class DemoConfig:
    """The embedded demo zoo, made when no zoo is given, under [demo]."""

    steps: int = 500
    """Agent steps per demo rollout."""


@dataclass
class SourceConfig:
    """One zoo of a site made from several, under [[sources]]."""

    path: str = ""
    """The zoo: a folder (relative paths are relative to this file) or an http(s) URL."""
    kind: str = ""
    """Its layout, where detection is not enough: "atari-model-zoo", "atari-agents",
    "dopamine", ...; empty: detected."""
    rename: dict[str, str] = field(default_factory=dict)
    """Algorithm ids renamed for this source, e.g. { dqn = "dqn-dopamine" }, so two sources
    with the same algorithm id stay apart."""
    algo: str = ""
    """For episode files: the algorithm id (default: [episodes] algo)."""
    game: str = ""
    """For episode files: the game (default: [episodes] game)."""
    label: str = ""
    """For episode files: the algorithm's display name (default: [episodes] label)."""
    tag: str = ""
    """For episode files: the tag of every file (default: [episodes] tag)."""


@dataclass
class EpisodesConfig:
    """Episode files (World-Models-style record/*.npz) do not say which game or agent made
    them: say it here, under [episodes], in the zoo-site.toml beside them."""

    algo: str = ""
    """The algorithm id, e.g. "world-models"."""
    game: str = ""
    """The game, e.g. "Pong" (any spelling: PongNoFrameskip-v4, pong)."""
    label: str = ""
    """The algorithm's display name."""
    tag: str = ""
    """The tag of every file; empty: "recorded"."""


@dataclass
class Config:
    """The whole configuration (the top level of zoo-site.toml)."""

    title: str = "Atari agent zoo"
    """The site's title."""
    description: str = ""
    """One paragraph shown on the front page."""
    notice: str = ""
    """A statement shown on every page (e.g. what the agents are)."""
    zoo: str = ""
    """The zoo folder (relative paths are relative to this file); empty: the demo zoo."""
    sources: list[SourceConfig] = field(default_factory=list)
    """Several zoos in one site ([[sources]] tables); `zoo` then must be empty."""
    episodes: EpisodesConfig = field(default_factory=EpisodesConfig)
    out: str = "site"
    """Where the site is written."""
    base_url: str = ""
    """The site's public address (https://…/), for link previews and sitemap.xml; empty:
    GitHub Pages' project URL inside GitHub Actions, else previews are off."""
    cache_dir: str = ".zoo-site-cache"
    """Where rendered media and played rollouts are kept between builds."""
    jobs: int = 0
    """Parallel worker processes; 0 means one per CPU core."""
    only: list[str] = field(default_factory=list)
    """Build only the entries whose id algo/game/run/tag matches one of these shell-style
    patterns (["DQN_modern/*/*/*"], ["*/Pong/*/*"]); the rest are left out of the site.
    Empty: every entry. --only replaces it."""
    render: RenderConfig = field(default_factory=RenderConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    saliency: SaliencyConfig = field(default_factory=SaliencyConfig)
    robustness: RobustnessConfig = field(default_factory=RobustnessConfig)
    states: StatesConfig = field(default_factory=StatesConfig)
    algos: dict[str, AlgoConfig] = field(default_factory=dict)
    tags: TagsConfig = field(default_factory=TagsConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)

    def algo_label(self, algo: str) -> str | None:
        """The configured display name, if any (the source's is the fallback)."""
        cfg = self.algos.get(algo)
        return cfg.label if cfg and cfg.label else None

    def tag_label(self, tag: str) -> str | None:
        """The configured display name, if any (the source's is the fallback)."""
        return self.tags.labels.get(tag)


def load_config(path: Path | None) -> Config:
    """Read a zoo-site.toml (or return the defaults when `path` is None)."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"the file {path} does not exist"]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"not valid TOML: {exc}"], source=path) from None
    return _checked(raw, path)


def loads_config(text: str, source: str | Path | None = None) -> Config:
    """A zoo-site.toml's text as a Config (`source` names it in errors)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], source=source) from None
    return _checked(raw, source)


def _checked(raw: dict[str, Any], source: str | Path | None) -> Config:
    problems: list[str] = []
    config = _build(Config, raw, "", problems)
    _check_values(config, problems)
    if problems:
        raise ConfigError(problems, source=source)
    return config


def _build(cls: type, raw: Any, prefix: str, problems: list[str]) -> Any:
    if not isinstance(raw, dict):
        problems.append(f"Config value '{prefix.rstrip('.')}': expected a table")
        return cls()
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            problems.append(f"Config value '{prefix}{key}': unknown key{_suggest(key, known)}")
            continue
        kwargs[key] = _convert(hints[key], value, f"{prefix}{key}", problems)
    kwargs = {k: v for k, v in kwargs.items() if v is not _INVALID}
    return cls(**kwargs)


_INVALID = object()


def _convert(tp: Any, value: Any, key: str, problems: list[str]) -> Any:
    origin = get_origin(tp)
    if is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, key + ".", problems)
    if origin is dict:
        _, vtype = get_args(tp)
        if not isinstance(value, dict):
            problems.append(f"Config value '{key}': expected a table, got {_kind(value)}")
            return _INVALID
        out = {k: _convert(vtype, v, f"{key}.{k}", problems) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _INVALID}
    if origin is list:
        (itype,) = get_args(tp)
        if is_dataclass(itype) and isinstance(itype, type) and isinstance(value, list):
            return [_build(itype, v, f"{key}[{i}].", problems) for i, v in enumerate(value)]
        if itype is float and isinstance(value, list):  # TOML writes 0 for 0.0
            value = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                     for v in value]  # fmt: skip
        if not isinstance(value, list) or not all(isinstance(v, itype) for v in value):
            problems.append(f"Config value '{key}': expected a list of {itype.__name__}")
            return _INVALID
        return value
    return _scalar(tp, value, key, problems)


def _scalar(tp: Any, value: Any, key: str, problems: list[str]) -> Any:
    args = [a for a in get_args(tp) if a is not type(None)]
    if args:  # an optional value: X | None
        tp = args[0]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    problems.append(f"Config value '{key}': expected {tp.__name__}, got {_kind(value)}")
    return _INVALID


def _kind(value: Any) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"{type(value).__name__} {value!r}"
    )


def _suggest(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return (
        f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(sorted(known))})"
    )


def _check_values(config: Config, problems: list[str]) -> None:
    r, ro = config.render, config.rollout
    checks = [
        (r.fps > 0, "render.fps", "must be positive"),
        (1 <= r.scale <= 8, "render.scale", "must be an integer from 1 to 8"),
        (0 <= r.crf <= 51, "render.crf", "must be from 0 to 51"),
        (0 <= r.activation_crf <= 51, "render.activation_crf", "must be from 0 to 51"),
        (ro.steps >= 1, "rollout.steps", "must be at least 1"),
        (config.demo.steps >= 1, "demo.steps", "must be at least 1"),
        (ro.noop_max is None or ro.noop_max >= 0, "rollout.noop_max", "must not be negative"),
        (
            ro.sticky_actions is None or 0 <= ro.sticky_actions < 1,
            "rollout.sticky_actions",
            "must be in [0, 1)",
        ),
        (ro.epsilon is None or 0 <= ro.epsilon <= 1, "rollout.epsilon", "must be in [0, 1]"),
        (ro.max_steps is None or ro.max_steps >= 1, "rollout.max_steps", "must be at least 1"),
        (all(config.only), "only", "patterns must not be empty"),
        (
            all(config.render.activations_only),
            "render.activations_only",
            "patterns must not be empty",
        ),  # fmt: skip
        (config.jobs >= 0, "jobs", "must not be negative (0 = one per core)"),
        *_saliency_checks(config.saliency),
        (
            all(0 <= x <= 10 for x in config.robustness.levels),
            "robustness.levels",
            "must be noise σ from 0 to 10",
        ),
        (config.robustness.episodes >= 1, "robustness.episodes", "must be at least 1"),
        (config.robustness.max_steps >= 1, "robustness.max_steps", "must be at least 1"),
        (
            not config.base_url or config.base_url.startswith(("https://", "http://")),
            "base_url",
            "must start with https:// or http://",
        ),
        (config.robustness.video >= 0, "robustness.video", "must be a σ, 0 or more (0: none)"),
        (
            config.states.method in ("tsne", "pca", "off"),
            "states.method",
            "must be tsne, pca or off",
        ),
        (config.states.points >= 2, "states.points", "must be at least 2"),
        (config.states.per_entry >= 1, "states.per_entry", "must be at least 1"),
        (config.states.perplexity > 0, "states.perplexity", "must be positive"),
    ]
    problems.extend(f"Config value '{key}': {why}" for ok, key, why in checks if not ok)
    for algo, cfg in config.algos.items():
        if cfg.layers and len(cfg.layers) < 3:
            problems.append(
                f"Config value 'algos.{algo}.layers': needs at least a conv layer, "
                "a dense layer and the output layer"
            )
    from zoo_site.rollouts.protocols import PROTOCOLS

    _check_sources(config, problems)
    for algo, cfg in config.algos.items():
        if cfg.protocol and cfg.protocol not in PROTOCOLS:
            problems.append(f"Config value 'algos.{algo}.protocol': {cfg.protocol!r} is not one "
                            f"of {', '.join(sorted(PROTOCOLS))}")  # fmt: skip
    for name in [*config.algos, *config.tags.order, *config.tags.labels]:
        why = check_name(name)
        if why:
            problems.append(f"Config value '{name}': {why}")


def _saliency_checks(s: SaliencyConfig) -> list[tuple[bool, str, str]]:
    methods = ("perturbation", "gradient", "off")
    return [
        (s.method in methods, "saliency.method", f"must be one of {', '.join(methods)}"),
        (1 <= s.stride <= 84, "saliency.stride", "must be an integer from 1 to 84"),
        (s.radius > 0, "saliency.radius", "must be positive"),
        (s.blur > 0, "saliency.blur", "must be positive"),
        (s.every >= 1, "saliency.every", "must be at least 1"),
    ]


def _check_sources(config: Config, problems: list[str]) -> None:
    from zoo_site.sources import SOURCES

    if config.sources and config.zoo:
        problems.append("Config value 'zoo': give either zoo or [[sources]], not both")
    for i, src in enumerate(config.sources):
        key = f"sources[{i}]"
        if not src.path:
            problems.append(f"Config value '{key}.path': every source needs a path")
        if src.kind and src.kind not in SOURCES:
            problems.append(f"Config value '{key}.kind': {src.kind!r} is not one of "
                            f"{', '.join(sorted(SOURCES))}")  # fmt: skip
        for old, new in src.rename.items():
            why = check_name(new)
            if why:
                problems.append(f"Config value '{key}.rename.{old}': {why}")
