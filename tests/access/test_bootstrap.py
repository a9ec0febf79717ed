"""``privtune init`` makes the first admin and prints its key once; nothing on disk holds it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from privtune.cli.main import run


def test_init_prints_the_admin_key_once_and_stores_only_its_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PRIVTUNE_INIT_ADMIN_KEY")
    assert run(["init", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out
    keys = re.findall(r"ptk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", out.replace("\n", ""))
    assert len(keys) == 1
    key = keys[0]
    secret = key.split("_", 2)[2]
    for path in (tmp_path / "w").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path.name
    monkeypatch.setenv("PRIVTUNE_API_KEY", key)
    assert run(["access", "whoami", "-w", str(tmp_path / "w")]) == 0
    assert "admin (admin)" in capsys.readouterr().out
    assert run(["access", "add-user", "sam", "--role", "data-steward", "--expires-days", "7",
                "-w", str(tmp_path / "w")]) == 0
    assert run(["access", "users", "-w", str(tmp_path / "w")]) == 0
    listing = capsys.readouterr().out
    assert "sam" in listing and "data-steward" in listing and secret not in listing
    assert run(["access", "matrix"]) == 0


def test_keys_dir_is_private(workspace) -> None:
    keys = workspace.root / "keys"
    assert keys.stat().st_mode & 0o777 == 0o700
    for f in keys.iterdir():
        assert f.stat().st_mode & 0o777 == 0o600, f.name


def test_provisioned_key_must_have_the_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from privtune.errors import InputError
    from privtune.workspace import init_workspace

    monkeypatch.setenv("PRIVTUNE_INIT_ADMIN_KEY", "short")
    with pytest.raises(InputError, match="ptk_"):
        init_workspace(tmp_path / "w")
    assert not (tmp_path / "w").exists()  # refused before anything was created
