"""KEK providers, unlocking, rotation (re-wrap and re-encrypt), retirement, wrong keys."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from privtune.errors import InputError, KeyMissing, NotFoundError, WrongKey
from privtune.store import DataKey
from privtune.vault import KekSpec
from privtune.vault import kek as kekmod
from privtune.vault.kek import create_key_file
from privtune.vault.keyring import _UNLOCKED, forget_unlocked
from privtune.workspace import Workspace, init_workspace

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions


def payload_hashes(ws) -> dict[str, str]:
    return {r.ref: hashlib.sha256((ws.vault.root / r.relpath).read_bytes()).hexdigest() for r in ws.vault.list()}


def wrapped_keys(ws) -> dict[tuple[str, int], bytes]:
    with ws.store.session() as s:
        return {(d.name, d.version): d.wrapped for d in s.query(DataKey).all()}


def test_rotate_rewraps_without_touching_payloads(small_ws) -> None:
    small_ws.vault.put("a", b"alpha" * 100)
    small_ws.vault.put("b", b"beta")
    before, keys_before = payload_hashes(small_ws), wrapped_keys(small_ws)
    version, n = small_ws.vault.keyring.rotate()
    assert version == 2 and n == 3
    assert payload_hashes(small_ws) == before
    after = wrapped_keys(small_ws)
    assert all(after[k] != keys_before[k] for k in after)
    small_ws.vault.keyring.retire(1)
    forget_unlocked()  # a new process: only KEK 2 can be unlocked and it opens everything
    with Workspace.open(small_ws.root, api_key=ADMIN_KEY) as ws:
        assert ws.vault.get("a") == b"alpha" * 100
        status = {i.version: (i.status, i.data_keys) for i in ws.vault.keyring.status()}
        assert status == {1: ("retired", 0), 2: ("active", 3)}
        with pytest.raises(NotFoundError):
            ws.vault.keyring.provider(1)


def test_retire_refuses_active_and_in_use(small_ws) -> None:
    with pytest.raises(InputError, match="active"):
        small_ws.vault.keyring.retire(1)


def test_rotate_data_reencrypts_payloads(small_ws) -> None:
    ref = small_ws.vault.put("a", b"alpha" * 100)
    before = payload_hashes(small_ws)
    old_file = small_ws.vault.root / small_ws.vault.manifest(ref).relpath
    small_ws.vault.keyring.rotate()
    assert small_ws.vault.reencrypt_all() == 2
    after = payload_hashes(small_ws)
    assert all(after[r] != before[r] for r in after)
    assert not old_file.exists()
    assert small_ws.vault.get(ref) == b"alpha" * 100
    assert all(r.ok for r in small_ws.vault.verify())
    assert small_ws.vault.stray_files() == []


def test_wrong_and_missing_passphrase(small_ws, locked, monkeypatch: pytest.MonkeyPatch) -> None:
    # Since row MACs (issue 16, finding 5) authentication itself needs the KEK: the users and
    # API-key rows are authenticated under a key only the unlocked vault gives. So a wrong or
    # missing passphrase is refused when the key is checked, before any metadata is read.
    monkeypatch.setenv("PRIVTUNE_PASSPHRASE", "not the passphrase")
    with pytest.raises(WrongKey, match="wrong vault passphrase"):
        Workspace.open(small_ws.root, api_key=ADMIN_KEY)
    monkeypatch.delenv("PRIVTUNE_PASSPHRASE")
    with pytest.raises(KeyMissing, match="PRIVTUNE_PASSPHRASE"):
        Workspace.open(small_ws.root, api_key=ADMIN_KEY)


def test_unlock_once_per_process(small_ws, locked, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = kekmod.argon2id
    monkeypatch.setattr(kekmod, "argon2id", lambda *a: calls.append(1) or real(*a))
    for _ in range(3):
        with Workspace.open(small_ws.root, api_key=ADMIN_KEY) as ws:
            ws.vault.get("pseudonym-key")
            ws.vault.put("x", b"1")
    assert len(calls) == 1


def test_kek_and_passphrase_never_on_disk(small_ws) -> None:
    import os

    from privtune.store import Kek

    assert (small_ws.vault.keyring.vault_id, 1) in _UNLOCKED
    with small_ws.store.session() as s:
        row = s.get(Kek, 1)
    derived = kekmod.argon2id(os.environ["PRIVTUNE_PASSPHRASE"].encode(), bytes.fromhex(row.params["salt"]), row.params)
    for p in small_ws.root.rglob("*"):
        if p.is_file():
            blob = p.read_bytes()
            assert derived not in blob and derived.hex().encode() not in blob
            assert os.environ["PRIVTUNE_PASSPHRASE"].encode() not in blob


def test_key_file_provider(tmp_path: Path, locked, monkeypatch: pytest.MonkeyPatch) -> None:
    key = create_key_file(tmp_path / "vault.key")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    monkeypatch.delenv("PRIVTUNE_PASSPHRASE")
    ws = init_workspace(tmp_path / "ws", kek=KekSpec("keyfile", key_file=str(key)))
    ws.vault.put("a", b"data")
    ws.close()
    forget_unlocked()
    with Workspace.open(tmp_path / "ws", api_key=ADMIN_KEY) as ws:
        assert ws.vault.get("a") == b"data"
    forget_unlocked()
    other = create_key_file(tmp_path / "other.key")
    monkeypatch.setenv("PRIVTUNE_KEY_FILE", str(other))
    # authentication needs the KEK (row MACs): refused at open
    with pytest.raises(WrongKey, match="does not open"):
        Workspace.open(tmp_path / "ws", api_key=ADMIN_KEY)
    forget_unlocked()
    monkeypatch.setenv("PRIVTUNE_KEY_FILE", str(tmp_path / "absent.key"))
    with pytest.raises(KeyMissing, match="not found"):
        Workspace.open(tmp_path / "ws", api_key=ADMIN_KEY)


def test_rotate_to_new_passphrase_and_to_key_file(small_ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small_ws.vault.put("a", b"data")
    monkeypatch.setenv("PRIVTUNE_NEW_PASSPHRASE", "a brand new passphrase")
    small_ws.vault.keyring.rotate(KekSpec("passphrase", new_passphrase=True))
    small_ws.vault.keyring.retire(1)
    forget_unlocked()
    with pytest.raises(WrongKey):  # the old passphrase no longer opens it (nor authenticates)
        Workspace.open(small_ws.root, api_key=ADMIN_KEY)
    forget_unlocked()
    monkeypatch.setenv("PRIVTUNE_PASSPHRASE", "a brand new passphrase")
    with Workspace.open(small_ws.root, api_key=ADMIN_KEY) as ws:
        assert ws.vault.get("a") == b"data"
        key = create_key_file(tmp_path / "k")
        ws.vault.keyring.rotate(KekSpec("keyfile", key_file=str(key)))
    forget_unlocked()
    monkeypatch.delenv("PRIVTUNE_PASSPHRASE")
    with Workspace.open(small_ws.root, api_key=ADMIN_KEY) as ws:
        assert ws.vault.get("a") == b"data"
    forget_unlocked()


def test_wrapped_key_moved_between_objects_is_refused(small_ws) -> None:
    from privtune.errors import IntegrityError

    small_ws.vault.put("a", b"AAAA")
    small_ws.vault.put("b", b"BBBB")
    with small_ws.store.session() as s:
        rows = {d.name: d for d in s.query(DataKey).filter(DataKey.name.in_(["a", "b"]))}
        rows["a"].wrapped, rows["b"].wrapped = rows["b"].wrapped, rows["a"].wrapped
    with pytest.raises(IntegrityError):
        small_ws.vault.get("a")


def test_kdf_cost_is_an_argument_stored_with_the_kek(tmp_path: Path, locked, monkeypatch) -> None:
    """Weak Argon2id only by an explicit argument; opening reads the cost from the KEK's row."""
    from privtune.store import Kek
    from privtune.vault import kdf

    cheap = kdf.Argon2Params(time_cost=1, memory_kib=32, parallelism=1)
    monkeypatch.setattr(kdf, "DEFAULT", kdf.RFC9106)  # production default while opening
    monkeypatch.setenv("PRIVTUNE_KDF_PROFILE", "test")  # ignored: no variable selects a cost
    ws = init_workspace(tmp_path / "ws", kdf=cheap)
    ref = ws.vault.put("obj", b"payload")
    with ws.store.session() as s:
        params = s.get(Kek, 1).params
    assert (params["kdf"], params["t"], params["m_kib"], params["p"]) == ("argon2id", 1, 32, 1)
    ws.close()
    forget_unlocked()
    with Workspace.open(tmp_path / "ws", api_key=ADMIN_KEY) as w2:
        assert w2.vault.get(ref) == b"payload"
    assert kekmod.kdf_params() == {"t": 3, "m_kib": 65536, "p": 4}
