"""CLI behaviour: --version, --help everywhere, one-line typed errors, tracebacks only with --debug."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from privtune import __version__
from privtune.cli.main import app, run


def _commands(cmd, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    if isinstance(cmd, typer.core.TyperGroup):
        for name, sub in cmd.commands.items():
            out += _commands(sub, path + (name,))
    return out


ALL_COMMANDS = _commands(typer.main.get_command(app))


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"privtune {__version__}"


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "privtune")
def test_help_on_every_command(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*path, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_expected_commands_exist() -> None:
    names = {" ".join(p) for p in ALL_COMMANDS}
    for required in ("init", "synth-company", "demo", "ingest", "scan", "deidentify",
                     "dataset build", "model build-tiny", "train", "status", "vault ls"):
        assert required in names


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_missing_workspace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["status", "--workspace", str(tmp_path / "nope")])
    assert code == 3
    line = _one_line_error(capsys)
    assert "no privtune workspace" in line and "privtune init" in line


def test_workspace_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["init", str(tmp_path / "w")]) == 0
    monkeypatch.setenv("PRIVTUNE_WORKSPACE", str(tmp_path / "w"))
    assert run(["vault", "ls"]) == 0
    assert "pseudonym-key@1" in capsys.readouterr().out


def test_malformed_csv_names_file_and_row_not_values(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run(["init", str(tmp_path / "w")])
    export = tmp_path / "export"
    export.mkdir()
    (export / "employees.csv").write_text(
        "employee_id,first_name,ssn\nE00001,Zelda,123-45-6789\nE00002,Quentin\n"
    )
    capsys.readouterr()
    code = run(["ingest", str(export), "-w", str(tmp_path / "w")])
    assert code == 2
    line = _one_line_error(capsys)
    assert "employees.csv" in line and "row 2" in line
    assert "Quentin" not in line and "E00002" not in line
    # Nothing half-written: the vault holds only the pseudonym key.
    run(["vault", "ls", "-w", str(tmp_path / "w")])
    assert "employees" not in capsys.readouterr().out


def test_bad_config_key_names_key_and_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["demo", "--out", str(tmp_path / "d"), "train.stepz=3"])
    assert code == 2
    line = _one_line_error(capsys)
    assert "train.stepz" in line and "steps" in line and "allowed keys" in line
    assert not (tmp_path / "d").exists()


def test_bad_synth_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["synth-company", "--employees", "2", "--out", str(tmp_path / "x")]) == 2
    _one_line_error(capsys)
    assert run(["synth-company", "--format", "xlsx", "--out", str(tmp_path / "x")]) == 2
    _one_line_error(capsys)


def test_stage_before_ingest_is_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(["init", str(tmp_path / "w")])
    capsys.readouterr()
    assert run(["scan", "-w", str(tmp_path / "w")]) == 4
    assert "privtune ingest" in _one_line_error(capsys)


def test_init_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["init", str(tmp_path / "w")]) == 0
    capsys.readouterr()
    assert run(["init", str(tmp_path / "w")]) == 3
    assert "already" in _one_line_error(capsys)


@pytest.mark.slow  # runs the CLI in a subprocess
def test_debug_shows_traceback_in_a_real_process(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "privtune", "status", "-w", str(tmp_path / "nope")]
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert plain.returncode == 3
    assert "Traceback" not in plain.stderr and "no privtune workspace" in plain.stderr
    debug = subprocess.run([*cmd[:3], "--debug", *cmd[3:]], capture_output=True, text=True, env=env)
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr and "WorkspaceError" in debug.stderr
