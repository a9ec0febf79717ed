"""`privtune vault ...` and `privtune keys ...`: scripting use and one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from privtune.cli.main import run
from privtune.vault.keyring import forget_unlocked


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture()
def cli_ws(tmp_path: Path, make_workspace) -> Path:
    ws = tmp_path / "ws"
    make_workspace(ws).close()
    return ws


def test_put_get_ls_verify(cli_ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(3 * (1 << 20) + 11))  # several default-size chunks
    assert run(["vault", "put", "data", str(src), "-w", str(cli_ws), "--kind", "dataset"]) == 0
    assert capsys.readouterr().out.strip() == "data@1"
    assert run(["vault", "put", "data", str(src), "-w", str(cli_ws), "--parent", "data@1"]) == 0
    out = tmp_path / "out.bin"
    assert run(["vault", "get", "data@1", "-o", str(out), "-w", str(cli_ws)]) == 0
    assert out.read_bytes() == src.read_bytes()
    assert run(["vault", "ls", "-w", str(cli_ws)]) == 0
    listing = capsys.readouterr().out
    assert "data@1" in listing and "data@2" in listing
    assert run(["vault", "verify", "-w", str(cli_ws)]) == 0
    assert "3 of 3 versions verified" in capsys.readouterr().out


def test_verify_fails_with_exit_5_on_damage(cli_ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.txt"
    src.write_text("some text\n" * 100)
    assert run(["vault", "put", "notes", str(src), "-w", str(cli_ws)]) == 0
    obj = next((cli_ws / "vault" / "objects" / "notes").glob("*.obj"))
    blob = bytearray(obj.read_bytes())
    blob[-1] ^= 1
    obj.write_bytes(bytes(blob))
    capsys.readouterr()
    assert run(["vault", "verify", "-w", str(cli_ws)]) == 5
    captured = capsys.readouterr()
    assert "FAILED notes@1" in captured.out and "notes@1" in captured.err
    out = tmp_path / "out.txt"
    assert run(["vault", "get", "notes", "-o", str(out), "-w", str(cli_ws)]) == 5
    assert "failed authentication" in one_line_error(capsys)
    assert not out.exists() and not list(tmp_path.glob(".tmp-*"))  # nothing half-written


def test_wrong_passphrase_is_one_line(cli_ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    forget_unlocked()
    monkeypatch.setenv("PRIVTUNE_PASSPHRASE", "wrong")
    assert run(["vault", "get", "pseudonym-key", "-o", str(tmp_path / "k"), "-w", str(cli_ws)]) == 6
    assert "wrong vault passphrase" in one_line_error(capsys)
    monkeypatch.delenv("PRIVTUNE_PASSPHRASE")
    monkeypatch.setattr("sys.stdin", open(os.devnull))  # noqa: SIM115 (pytest closes it with the patch)
    assert run(["vault", "get", "pseudonym-key", "-o", str(tmp_path / "k"), "-w", str(cli_ws)]) == 6
    assert "PRIVTUNE_PASSPHRASE" in one_line_error(capsys)
    assert not (tmp_path / "k").exists()
    forget_unlocked()


def test_missing_key_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "vault.key"
    assert run(["init", str(tmp_path / "ws"), "--key-file", str(key)]) == 0
    assert key.is_file()
    forget_unlocked()
    key.rename(tmp_path / "elsewhere.key")
    capsys.readouterr()
    assert run(["vault", "get", "pseudonym-key", "-o", str(tmp_path / "k"), "-w", str(tmp_path / "ws")]) == 6
    line = one_line_error(capsys)
    assert "key file" in line and "not found" in line
    monkeypatch.setenv("PRIVTUNE_KEY_FILE", str(tmp_path / "elsewhere.key"))
    assert run(["vault", "get", "pseudonym-key", "-o", str(tmp_path / "k"), "-w", str(tmp_path / "ws")]) == 0
    forget_unlocked()


def test_keys_rotate_retire_status(cli_ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["keys", "rotate", "-w", str(cli_ws)]) == 0
    assert "KEK version 2 active; 1 data keys re-wrapped" in capsys.readouterr().out
    assert run(["keys", "retire", "2", "--yes", "-w", str(cli_ws)]) == 2
    assert "active" in one_line_error(capsys)
    # irreversible: without --yes (and no terminal to ask on) it is refused, nothing retired
    assert run(["keys", "retire", "1", "-w", str(cli_ws)]) == 2
    assert "--yes" in one_line_error(capsys)
    assert run(["keys", "retire", "1", "--yes", "-w", str(cli_ws)]) == 0
    assert run(["keys", "rotate", "--data", "-w", str(cli_ws)]) == 0
    assert "1 object versions re-encrypted" in capsys.readouterr().out
    assert run(["keys", "status", "-w", str(cli_ws)]) == 0
    out = capsys.readouterr().out
    assert "retired" in out and "active" in out
    assert run(["vault", "verify", "-w", str(cli_ws)]) == 0


def test_shred_cli(cli_ws: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.txt"
    src.write_text("x")
    run(["vault", "put", "doc", str(src), "-w", str(cli_ws)])
    assert run(["vault", "shred", "doc@1", "--yes", "-w", str(cli_ws)]) == 0
    capsys.readouterr()
    assert run(["vault", "get", "doc@1", "-o", str(tmp_path / "o"), "-w", str(cli_ws)]) == 4
    assert "crypto-shredded" in one_line_error(capsys)
