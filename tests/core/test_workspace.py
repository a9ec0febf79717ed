"""Workspace creation and opening; the versioned object store under it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from privtune.errors import InputError, IntegrityError, NotFoundError, WorkspaceError
from privtune.vault import parse_ref
from privtune.workspace import CONFIG_FILE, PSEUDONYM_KEY, Workspace, init_workspace


def test_init_creates_layout(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "w")
    for sub in ("vault", "models", "reports", "runs"):
        assert (ws.root / sub).is_dir()
    assert (ws.root / CONFIG_FILE).is_file()
    assert (ws.root / "metadata.db").is_file()
    key = ws.pseudonym_key()
    assert len(key) == 32
    ws.close()


def test_init_twice_refused(tmp_path: Path) -> None:
    init_workspace(tmp_path / "w").close()
    with pytest.raises(WorkspaceError, match="already"):
        init_workspace(tmp_path / "w")


def test_open_uninitialised_names_dir_and_fix(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError) as e:
        Workspace.open(tmp_path)
    assert str(tmp_path) in str(e.value) and "privtune init" in str(e.value)


def test_open_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    init_workspace(tmp_path / "w").close()
    monkeypatch.setenv("PRIVTUNE_WORKSPACE", str(tmp_path / "w"))
    with Workspace.open() as ws:
        assert ws.root == tmp_path / "w"


def test_db_url_setting_is_used(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/elsewhere.db"
    with init_workspace(tmp_path / "w", db_url=url) as ws:
        assert ws.store.db_url == url
    assert (tmp_path / "elsewhere.db").is_file()
    assert not (tmp_path / "w" / "metadata.db").exists()


def test_versions_are_immutable_and_addressable(workspace) -> None:
    v = workspace.vault
    assert v.put("employees", b"one", kind="table") == "employees@1"
    assert v.put("employees", b"two", kind="table", parents=["employees@1"]) == "employees@2"
    assert v.get("employees@1") == b"one"
    assert v.get("employees") == b"two"
    assert v.get("employees@latest") == b"two"
    m = v.manifest("employees@2")
    assert m.parents == ["employees@1"] and m.size == 3 and len(m.sha256) == 64


def test_object_files_are_private(workspace) -> None:
    workspace.vault.put("secret", b"x")
    path = workspace.root / "vault" / workspace.vault.manifest("secret").relpath
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_missing_and_bad_refs(workspace) -> None:
    with pytest.raises(NotFoundError):
        workspace.vault.get("nothing")
    with pytest.raises(NotFoundError):
        workspace.vault.put("x", b"", parents=["nothing@3"])
    for bad in ("Upper", "../etc", "a/b", "", "x@0", "x@-1", "x@one"):
        with pytest.raises(InputError):
            parse_ref(bad)


def test_tampered_payload_is_integrity_error(workspace) -> None:
    workspace.vault.put("t", b"hello world")
    path = workspace.root / "vault" / workspace.vault.manifest("t").relpath
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        workspace.vault.get("t")


def test_directory_objects_round_trip(workspace, tmp_path: Path) -> None:
    src = tmp_path / "adapter"
    (src / "sub").mkdir(parents=True)
    (src / "a.json").write_text("{}")
    (src / "sub" / "w.bin").write_bytes(os.urandom(1000))
    ref = workspace.vault.put_dir("adapter", src, kind="adapter")
    out = workspace.vault.get_dir(ref, tmp_path / "out")
    assert (out / "a.json").read_text() == "{}"
    assert (out / "sub" / "w.bin").read_bytes() == (src / "sub" / "w.bin").read_bytes()
    # Deterministic: the same directory gives the same bytes.
    ref2 = workspace.vault.put_dir("adapter", src, kind="adapter")
    assert workspace.vault.manifest(ref).sha256 == workspace.vault.manifest(ref2).sha256


def test_pseudonym_key_in_vault_not_config(workspace) -> None:
    assert workspace.vault.exists(PSEUDONYM_KEY)
    key = workspace.pseudonym_key()
    assert key not in (workspace.root / CONFIG_FILE).read_bytes()
