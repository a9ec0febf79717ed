"""``privtune init`` makes the first admin and prints its key once; nothing on disk holds it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from privtune.cli.main import run


def test_init_prints_the_admin_key_once_and_stores_only_its_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from privtune import workspace as wsmod

    monkeypatch.setitem(wsmod.init_workspace.__kwdefaults__, "admin_key", None)  # production init
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

    with pytest.raises(InputError, match="ptk_"):
        init_workspace(tmp_path / "w", admin_key="short")
    assert not (tmp_path / "w").exists()  # refused before anything was created


def test_no_environment_variable_chooses_the_first_admin_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Attack (issue 16, finding 4): whoever could set PRIVTUNE_INIT_ADMIN_KEY chose the first
    admin's key. Now init generates it whatever the environment says, and prints it once."""
    from privtune import workspace as wsmod
    from privtune.errors import PermissionDenied
    from privtune.workspace import Workspace

    chosen = "ptk_aaaaaaaaaaaa_" + "A" * 43
    monkeypatch.setitem(wsmod.init_workspace.__kwdefaults__, "admin_key", None)
    monkeypatch.setenv("PRIVTUNE_INIT_ADMIN_KEY", chosen)
    assert run(["init", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out.replace("\n", "")
    assert chosen not in out and re.search(r"ptk_[0-9a-f]{12}_", out)
    with pytest.raises(PermissionDenied):
        Workspace.open(tmp_path / "w", api_key=chosen)
    import privtune

    src = Path(privtune.__file__).parent
    assert not [p for p in src.rglob("*.py") if "INIT_ADMIN" in p.read_text(encoding="utf-8")]
