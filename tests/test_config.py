from pathlib import Path

import pytest

from zoo_site.config import Config, load_config
from zoo_site.errors import ConfigError
from zoo_site.site.manifest import Labels
from zoo_site.sources.base import Entry
from zoo_site.sources.zoo_layout import ALGO_LABELS, TAG_LABELS, TAG_ORDER


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zoo-site.toml"
    path.write_text(text)
    return path


def test_defaults_follow_the_original_zoo():
    # The config sets nothing by default: names and order are the source's own.
    config = load_config(None)
    assert config.tags.order == [] and config.algo_label("apex") is None
    entries = [Entry("apex", "Pong", 1, t, **{k: v for k, v in zoo_names(t).items()})
               for t in ("zzz-unknown", "final", "400M", "initial")]  # fmt: skip
    labels = Labels(config, entries)
    assert labels.algo("apex") == "Ape-X" and labels.algo("mystery") == "mystery"
    assert labels.tag("400M") == "400M frames"
    order = sorted(["zzz-unknown", "final", "400M", "initial"], key=labels.tag_key)
    assert order == ["initial", "400M", "final", "zzz-unknown"]


def zoo_names(tag: str) -> dict:
    return {"algo_label": ALGO_LABELS["apex"], "tag_label": TAG_LABELS.get(tag, ""),
            "tag_rank": float(TAG_ORDER.index(tag)) if tag in TAG_ORDER else None}  # fmt: skip


def test_full_file_is_read(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
title = "My zoo"
out = "public"
[render]
fps = 30
scale = 3
[rollout]
steps = 100
sticky_actions = 0.25
[algos.apex]
label = "Ape-X (ours)"
[tags]
order = ["final", "initial"]
labels = { final = "Done" }
""",
        )
    )
    assert config.title == "My zoo"
    assert config.render.fps == 30.0 and config.render.scale == 3
    assert config.rollout.sticky_actions == 0.25
    assert config.algo_label("apex") == "Ape-X (ours)"
    assert config.tag_label("final") == "Done"
    labels = Labels(
        config, [Entry("apex", "Pong", 1, t, **zoo_names(t)) for t in ("final", "initial")]
    )
    assert labels.algo("apex") == "Ape-X (ours)" and labels.tag("final") == "Done"
    assert labels.tag_key("final") < labels.tag_key("initial")  # the config's order wins


def test_unknown_keys_are_named_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, 'titel = "x"\n[render]\nfsp = 3\n'))
    text = str(info.value)
    assert "Config value 'titel': unknown key (did you mean 'title'?)" in text
    assert "Config value 'render.fsp': unknown key (did you mean 'fps'?)" in text
    assert str(tmp_path / "zoo-site.toml") in text


def test_wrong_types_and_values_are_all_reported(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, 'title = 3\n[render]\nscale = "big"\n[rollout]\nsteps = 0\n'))
    problems = info.value.problems
    assert "Config value 'title': expected str, got int 3" in problems
    assert "Config value 'render.scale': expected int, got a string" in problems
    assert "Config value 'rollout.steps': must be at least 1" in problems


def test_only_and_max_steps_are_read_and_checked(tmp_path):
    config = load_config(write(tmp_path, 'only = ["*/Pong/*/*"]\n[rollout]\nmax_steps = 1000\n'))
    assert config.only == ["*/Pong/*/*"] and config.rollout.max_steps == 1000
    assert load_config(None).rollout.max_steps is None and load_config(None).only == []
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, 'only = "*/Pong/*/*"\n[rollout]\nmax_steps = 0\n'))
    assert "Config value 'only': expected a list of str" in info.value.problems
    assert "Config value 'rollout.max_steps': must be at least 1" in info.value.problems


def test_unsafe_names_in_config_are_rejected(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, '[algos."../evil"]\nlabel = "x"\n'))
    assert "'../evil'" in str(info.value)


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "title = \n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_config_dataclass_defaults_are_independent():
    a, b = Config(), Config()
    a.tags.order.append("x")
    assert "x" not in b.tags.order


def test_every_config_key_is_documented():
    from dataclasses import fields, is_dataclass

    from zoo_site.config import AlgoConfig

    doc = (Path(__file__).resolve().parents[1] / "docs" / "config.md").read_text()

    def keys(cls):
        for f in fields(cls):
            default = f.default_factory() if callable(f.default_factory) else f.default
            if is_dataclass(default):
                yield f"[{f.name}]"
                yield from keys(type(default))
            elif f.name != "algos":
                yield f"`{f.name}`"

    for key in [*keys(Config), *keys(AlgoConfig), "[algos.<id>]"]:
        assert key in doc, key
