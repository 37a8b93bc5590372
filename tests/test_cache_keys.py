"""Cache keys: a played rollout depends on everything that changes play, the media on
everything that changes pixels, and neither on display labels."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from zoo_site.build.entries import EntryTask, media_key, rollout_key
from zoo_site.config import AlgoConfig, RenderConfig, RolloutConfig
from zoo_site.rollouts.protocols import DOPAMINE, ZOO_TF
from zoo_site.sources.base import Entry, ModelRef

ENTRY = Entry("dqn", "Pong", 1, "final", model=ModelRef(Path("m.pb"), "frozen_graph", "dqn"),
              protocol=DOPAMINE)  # fmt: skip


def task(algo: AlgoConfig | None = None, entry: Entry = ENTRY, **rollout) -> EntryTask:
    return EntryTask(entry, Path("cache"), RenderConfig(), RolloutConfig(**rollout), algo)


def keys(t: EntryTask) -> tuple[str, str]:
    played = rollout_key(t, "model-digest")
    return played, media_key(t, played, "model-digest")


def test_a_changed_input_override_replays_the_rollout():
    # The fault found in review: `[algos.x] input` changed how the model was fed, yet the
    # rollout played with the old input was reused.
    old = keys(task(AlgoConfig(layers=["a", "b", "c"], input="Online/Cast")))
    new = keys(task(AlgoConfig(layers=["a", "b", "c"], input="state_ph")))
    assert old[0] != new[0] and old[1] != new[1]
    scaled = keys(task(AlgoConfig(layers=["a", "b", "c"], input="Online/Cast", input_scale=2)))
    assert scaled[0] != old[0]


def test_labels_change_neither_the_rollout_nor_the_media():
    # The other fault: renaming an algo re-rendered its videos.
    assert keys(task(AlgoConfig(label="DQN"))) == keys(task(AlgoConfig(label="Deep Q")))
    assert keys(task(AlgoConfig(label="DQN"))) == keys(task(None))


def test_the_protocol_and_its_overrides_are_part_of_the_rollout_key():
    base = keys(task())
    assert keys(task(sticky_actions=0.0))[0] != base[0]  # an override of the protocol
    assert keys(task(entry=replace(ENTRY, protocol=ZOO_TF)))[0] != base[0]
    assert keys(task(AlgoConfig(protocol="atari-model-zoo-tf")))[0] != base[0]
    assert keys(task(seed=1))[0] != base[0] and keys(task(steps=99))[0] != base[0]
    # Render settings change the media, not the played rollout.
    other = EntryTask(ENTRY, Path("cache"), RenderConfig(crf=30), RolloutConfig())
    assert keys(other)[0] == base[0] and keys(other)[1] != base[1]


def test_the_protocol_follows_the_source_then_the_config():
    assert task().protocol == DOPAMINE
    assert task(AlgoConfig(protocol="atari-model-zoo-tf")).protocol == ZOO_TF
    assert task(epsilon=0.5).protocol.epsilon == 0.5
    assert "changed by the config: epsilon = 0.5" in task(epsilon=0.5).protocol.label
    assert task().protocol.epsilon == DOPAMINE.epsilon  # unset: the protocol's own
    assert task(epsilon=DOPAMINE.epsilon).protocol == DOPAMINE  # the same value changes nothing
