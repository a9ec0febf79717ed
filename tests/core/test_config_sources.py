"""Issue 18: configs shipped inside the package and found by name; an error blamed on the
source that caused it (the file or the command-line override); a YAML syntax error with its
row, column and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from privtune.cli.main import run
from privtune.config import SHIPPED_DIR, load_config, resolve_config, shipped_configs
from privtune.errors import ConfigError, InputError
from privtune.pipeline.config import PipelineConfig


def test_shipped_configs_are_package_data_found_by_name(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # outside the checkout
    names = shipped_configs()
    assert {"tiny-demo", "own-export", "deid-policy", "gate-policy"} <= set(names)
    assert SHIPPED_DIR.parent.name == "privtune"  # inside the package, not the checkout
    for given in ("tiny-demo", "tiny-demo.yaml", "configs/tiny-demo.yaml"):
        assert resolve_config(given) == names["tiny-demo"]
    assert load_config(PipelineConfig, "tiny-demo") == PipelineConfig()
    with pytest.raises(InputError, match=r"shipped configs, usable by name: .*tiny-demo"):
        resolve_config("tiny-dmeo")


def test_config_show_and_copy(tmp_path, capsys) -> None:
    assert run(["config", "show", "tiny-demo"]) == 0
    assert capsys.readouterr().out == (SHIPPED_DIR / "tiny-demo.yaml").read_text()
    dest = tmp_path / "my.yaml"
    assert run(["config", "copy", "tiny-demo", str(dest)]) == 0
    assert dest.read_text() == (SHIPPED_DIR / "tiny-demo.yaml").read_text()
    assert run(["config", "copy", "tiny-demo", str(dest)]) == 2  # never overwritten unasked
    assert "--force" in capsys.readouterr().err
    assert run(["config", "list"]) == 0
    assert "own-export" in capsys.readouterr().out


def test_a_typo_on_the_command_line_is_blamed_on_the_override(tmp_path: Path) -> None:
    cfg = tmp_path / "my.yaml"
    cfg.write_text("train:\n  steps: 5\n")
    with pytest.raises(ConfigError) as e:
        load_config(PipelineConfig, cfg, ["train.stesp=3"])
    assert "command-line override 'train.stesp'" in e.value.message
    assert str(cfg) not in e.value.message and "did you mean 'steps'" in e.value.message
    with pytest.raises(ConfigError) as e:
        load_config(PipelineConfig, cfg, ["train.steps=-1"])
    assert "command-line override 'train.steps'" in e.value.message
    cfg.write_text("train:\n  stesp: 5\n")
    with pytest.raises(ConfigError) as e:
        load_config(PipelineConfig, cfg, ["train.lr=0.1"])
    assert e.value.message.startswith(str(cfg))


def test_yaml_syntax_error_has_row_column_and_reason(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  steps: 5\n  lr: [0.1\n")
    with pytest.raises(InputError) as e:
        load_config(PipelineConfig, cfg)
    msg = e.value.message
    assert "row 4" in msg and "column" in msg and "expected" in msg, msg
