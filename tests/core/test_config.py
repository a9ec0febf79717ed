"""Config loading: YAML + key=value overrides -> validated pydantic models, clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privtune.config import StrictModel, apply_overrides, load_config, parse_override
from privtune.errors import ConfigError, InputError


class Lora(StrictModel):
    r: int = 8
    alpha: float = 16.0
    target_modules: list[str] | str = "all-linear"


class Train(StrictModel):
    lr: float = 1e-3
    steps: int = 10
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    lora: Lora = Lora()


def test_defaults_without_file() -> None:
    cfg = load_config(Train)
    assert cfg.lr == 1e-3 and cfg.lora.r == 8


def test_yaml_then_overrides(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("lr: 0.01\nlora:\n  r: 4\n")
    cfg = load_config(Train, p, ["lora.r=16", "steps=3", "lr=3e-4", "lora.target_modules=[q_proj, v_proj]"])
    assert cfg.lora.r == 16 and cfg.steps == 3 and cfg.lr == pytest.approx(3e-4)
    assert cfg.lora.target_modules == ["q_proj", "v_proj"]


def test_unknown_key_names_key_and_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(Train, None, ["lora.rank=4"])
    msg = str(e.value)
    assert "lora.rank" in msg and "alpha" in msg and "target_modules" in msg
    assert e.value.key == "lora.rank"


def test_bad_literal_lists_allowed_values() -> None:
    with pytest.raises(ConfigError) as e:
        load_config(Train, None, ["schedule=exponential"])
    assert "schedule" in str(e.value) and "'cosine'" in str(e.value)


def test_bad_type_names_key() -> None:
    with pytest.raises(ConfigError) as e:
        load_config(Train, None, ["steps=many"])
    assert "'steps'" in str(e.value)


def test_malformed_override() -> None:
    with pytest.raises(ConfigError):
        parse_override("no-equals-sign")
    with pytest.raises(ConfigError):
        parse_override("a..b=1")


def test_override_into_scalar_is_error() -> None:
    with pytest.raises(ConfigError):
        apply_overrides({"lr": 1.0}, ["lr.x=2"])


def test_missing_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_config(Train, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: [1,\n  steps: 2\n")
    with pytest.raises(InputError) as e:
        load_config(Train, bad)
    assert "bad.yaml" in str(e.value) and "row" in str(e.value)
    notmap = tmp_path / "list.yaml"
    notmap.write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="mapping"):
        load_config(Train, notmap)


@given(st.integers(min_value=-10**9, max_value=10**9))
def test_int_overrides_round_trip(n: int) -> None:
    assert parse_override(f"a.b={n}") == (["a", "b"], n)


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_float_overrides_round_trip(x: float) -> None:
    _, value = parse_override(f"lr={x!r}")
    assert float(value) == pytest.approx(x)


def test_apply_overrides_does_not_mutate_input() -> None:
    base = {"lora": {"r": 8}}
    out = apply_overrides(base, ["lora.r=4", "new.section.key=x"])
    assert base == {"lora": {"r": 8}}
    assert out == {"lora": {"r": 4}, "new": {"section": {"key": "x"}}}
