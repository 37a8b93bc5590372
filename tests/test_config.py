from pathlib import Path

import pytest

from zoo_site.config import DEFAULT_TAG_ORDER, Config, load_config
from zoo_site.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zoo-site.toml"
    path.write_text(text)
    return path


def test_defaults_follow_the_original_zoo():
    config = load_config(None)
    assert config.tags.order == DEFAULT_TAG_ORDER
    assert config.algo_label("apex") == "Ape-X"
    assert config.algo_label("mystery") == "mystery"
    assert config.tag_label("400M") == "400M frames"
    assert config.tag_sort_key("initial") < config.tag_sort_key("final")
    assert config.tag_sort_key("final") < config.tag_sort_key("zzz-unknown")


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
    assert config.tag_sort_key("final") < config.tag_sort_key("initial")


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
