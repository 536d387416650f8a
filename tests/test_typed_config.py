from dataclasses import dataclass, field

import pytest

from speechssl.config import ConfigError, load_config, save_config


@dataclass
class Inner:
    rate: float = 0.5
    layers: list[tuple[int, int, int]] = field(default_factory=lambda: [(512, 10, 5)])


@dataclass
class Outer:
    name: str = "x"
    steps: int = 10
    flag: bool = False
    inner: Inner = field(default_factory=Inner)
    maybe: int | None = None


def test_yaml_and_overrides_merge(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 20\ninner:\n  layers: [[256, 3, 2], [256, 2, 2]]\n")
    config = load_config(Outer, path, ["inner.rate=0.1", "flag=true", "maybe=3"])
    assert config.steps == 20 and config.flag is True and config.maybe == 3
    assert config.inner.rate == 0.1
    assert config.inner.layers == [(256, 3, 2), (256, 2, 2)]


def test_saved_config_round_trips(tmp_path):
    config = load_config(Outer, None, ["inner.rate=0.25"])
    save_config(config, tmp_path / "resolved.yaml")
    assert load_config(Outer, tmp_path / "resolved.yaml") == config


@pytest.mark.parametrize(
    "override, message",
    [
        ("inner.rte=1", r"unknown key\(s\) \['rte'\]"),
        ("steps=abc", "expected int"),
        ("steps", "key=value"),
        ("name=null", "null is not allowed"),
    ],
)
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Outer, None, [override])
