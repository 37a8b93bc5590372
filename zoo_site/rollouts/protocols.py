"""How an agent must be played: each source declares the protocol its agents were trained
and evaluated with, and rollouts follow it exactly (agents overfit to their preprocessing).

A protocol is data only; `zoo_site.rollouts.ale` carries it out in the emulator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

#: The observation pipelines (screen -> 84x84 network input), see rollouts/preprocess.py:
#: - "tf_bilinear": the Atari Model Zoo's 'tf' style (baselines' atari_wrappers): max of
#:   the last two RGB screens of the skip, grayscale as an unrounded float dot with
#:   (0.299, 0.587, 0.114), TensorFlow's bilinear resize with align_corners=True; float.
#: - "dopamine": Dopamine's AtariPreprocessing: the ALE's grayscale screens of the last two
#:   frames of the skip, their maximum, then OpenCV's INTER_AREA resize; uint8.
#: - "atari_agents": atari-agents' ale_env.py: the ALE's grayscale screen resized with
#:   INTER_AREA after frames 3 and 4 of the skip, then the maximum of the two; uint8.
Screen = Literal["tf_bilinear", "dopamine", "atari_agents"]
Policy = Literal["argmax", "sample"]
StackStart = Literal["zeros", "first"]
NoopMode = Literal["one_to_max", "zero_to_max_exclusive"]


@dataclass(frozen=True)
class PlayProtocol:
    """Everything that decides what the network sees and how its choice is applied."""

    name: str
    """Short id, e.g. "atari-agents-modern"; it is part of the rollout's cache key."""
    label: str
    """For people, e.g. "modern (sticky actions 0.25, game over ends an episode)"."""
    screen: Screen
    frame_skip: int = 4
    sticky_actions: float = 0.0
    """ALE's repeat_action_probability."""
    noop_max: int = 0
    """Random no-op frames at each reset (0: none)."""
    noop_mode: NoopMode = "one_to_max"
    """"one_to_max": 1..noop_max (baselines' NoopResetEnv); "zero_to_max_exclusive":
    0..noop_max-1 (atari-agents' random.randrange(30))."""
    fire_reset: bool = False
    """Press FIRE (then the next action) after reset, for games that have FIRE."""
    stack_start: StackStart = "zeros"
    """The 4-frame stack after reset: zeros then the first frame, or the first frame 4 times."""
    policy: Policy = "argmax"
    """"argmax" of the action values, or "sample" from logits (Gumbel-max, seeded)."""
    epsilon: float = 0.0
    """Probability of a uniformly random action."""
    max_frames: int = 108_000
    """An episode is cut after this many emulator frames (27,000 agent steps)."""

    def with_overrides(self, **values: Any) -> PlayProtocol:
        """This protocol with the given fields replaced (None values are ignored); the
        label says which values differ from the protocol's own."""
        changed = {k: v for k, v in values.items() if v is not None and getattr(self, k) != v}
        if not changed:
            return self
        note = ", ".join(f"{k} = {v}" for k, v in changed.items())
        return replace(self, **changed, label=f"{self.label} (changed by the config: {note})")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


ZOO_TF = PlayProtocol(
    name="atari-model-zoo-tf",
    label="Atari Model Zoo 'tf' style: up to 30 no-ops, FIRE at reset, bilinear resize",
    screen="tf_bilinear",
    noop_max=30,
    fire_reset=True,
    stack_start="first",
)
ZOO_TF_SAMPLED = replace(ZOO_TF, name="atari-model-zoo-tf-sampled", policy="sample",
                         label=ZOO_TF.label + ", actions sampled from the policy")  # fmt: skip
DOPAMINE = PlayProtocol(
    name="dopamine",
    label="Dopamine: sticky actions 0.25, max of the last two frames, area resize",
    screen="dopamine",
    sticky_actions=0.25,
    epsilon=0.001,
)
ATARI_AGENTS_MODERN = PlayProtocol(
    name="atari-agents-modern",
    label="modern: sticky actions 0.25, an episode ends at game over",
    screen="atari_agents",
    sticky_actions=0.25,
    epsilon=0.001,
)
ATARI_AGENTS_CLASSIC = PlayProtocol(
    name="atari-agents-classic",
    label="classic: up to 30 random no-ops at reset, no sticky actions",
    screen="atari_agents",
    noop_max=30,
    noop_mode="zero_to_max_exclusive",
    epsilon=0.001,
)

PROTOCOLS: dict[str, PlayProtocol] = {
    p.name: p for p in (ZOO_TF, ZOO_TF_SAMPLED, DOPAMINE, ATARI_AGENTS_MODERN, ATARI_AGENTS_CLASSIC)
}
