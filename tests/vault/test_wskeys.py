"""Issue 16, finding 4: the keys under ``DIR/keys/`` are wrapped by the KEK, never in clear.

The attacker reads every file of the workspace (no passphrase). Before: ``keys/workspace.key``
held the 32-byte secret in clear, so HMAC(derive(secret, 'subject-index'), employee id) found the
subject-index rows of a known employee, and ``audit-signing.pem`` was a clear private key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from privtune.errors import IntegrityError, KeyMissing
from privtune.store.audit_models import SubjectIndex
from privtune.vault.kek import KekSpec, create_key_file
from privtune.vault.keyring import forget_unlocked
from privtune.vault.wskeys import KEYS_DIR, SECRET_FILE, SIGNING_FILE
from privtune.workspace import Workspace, init_workspace

ADMIN_KEY = "ptk_0123456789ab_" + "T" * 43  # tests/conftest.py
EMPLOYEE = "E00042"


def _subject_hashes(ws: Workspace) -> set[str]:
    with ws.store.session() as s:
        return set(s.scalars(select(SubjectIndex.subject)))


def _file_attacker_candidates(root: Path) -> list[bytes]:
    """Every 32-byte secret a file reader could take from keys/: raw bytes, and any hex or
    base64 field of a JSON document."""
    out = []
    for f in (root / KEYS_DIR).iterdir():
        raw = f.read_bytes()
        out.append(raw[:32])
        try:
            doc = json.loads(raw)
        except ValueError:
            continue
        for v in doc.values() if isinstance(doc, dict) else []:
            if isinstance(v, str):
                for decode in (bytes.fromhex, base64.b64decode):
                    try:
                        b = decode(v)
                    except ValueError:
                        continue
                    out += [b[:32], b[-32:], b[12:44]]
    return out


def test_file_reader_cannot_compute_the_subject_index_hash(workspace) -> None:
    ref = workspace.vault.put("employees", b"employee_id\nE00042\n", kind="table")
    workspace.subjects().index(ref, [EMPLOYEE])
    stored = _subject_hashes(workspace)
    assert len(stored) == 1
    for candidate in _file_attacker_candidates(workspace.root):
        key = hmac.digest(candidate, b"privtune/subject-index", "sha256")
        guess = hmac.new(key, EMPLOYEE.encode(), hashlib.sha256).hexdigest()
        assert guess not in stored
    # and no form of the secret or of the signing key is anywhere on disk
    secret = workspace.keys.secret()
    from cryptography.hazmat.primitives import serialization

    signer = workspace.keys.signing_key().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    forms = [k for b in (secret, signer) for k in (b, b.hex().encode(), base64.b64encode(b))]
    for path in workspace.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(f in data for f in forms), path.name
            assert b"PRIVATE KEY" not in data, path.name


def test_key_files_are_wrapped_documents_and_need_the_kek(workspace, monkeypatch) -> None:
    for name in (SECRET_FILE, SIGNING_FILE):
        doc = json.loads((workspace.root / KEYS_DIR / name).read_bytes())
        assert doc["format"] == "privtune-wrapped-key/1" and doc["kek_version"] == 1
    assert not (workspace.root / KEYS_DIR / "audit-signing.pem").exists()
    forget_unlocked()
    monkeypatch.delenv("PRIVTUNE_PASSPHRASE")
    ws = Workspace.open(workspace.root)  # no identity, locked vault
    try:
        with pytest.raises(KeyMissing):
            ws.keys.secret()
    finally:
        ws.close()
        forget_unlocked()


def test_key_file_from_another_workspace_does_not_unwrap(tmp_path: Path, workspace) -> None:
    other = init_workspace(tmp_path / "other")
    other.close()
    shutil.copy(other.root / KEYS_DIR / SECRET_FILE, workspace.root / KEYS_DIR / SECRET_FILE)
    forget_unlocked()
    with pytest.raises(IntegrityError, match=r"workspace\.key"):
        Workspace.open(workspace.root, api_key=ADMIN_KEY)


def test_missing_key_file_is_a_clear_error(workspace) -> None:
    (workspace.root / KEYS_DIR / SECRET_FILE).unlink()
    with pytest.raises(KeyMissing, match=r"workspace\.key"):
        Workspace.open(workspace.root, api_key=ADMIN_KEY)


def test_rotation_rewraps_the_key_files_and_retire_needs_it(workspace, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from privtune.errors import InputError

    secret = workspace.keys.secret()
    pub = workspace.pinned_public_key()
    key = create_key_file(tmp_path / "k")
    workspace.vault.keyring.rotate(KekSpec("keyfile", key_file=str(key)))
    for name in (SECRET_FILE, SIGNING_FILE):
        assert json.loads((workspace.root / KEYS_DIR / name).read_bytes())["kek_version"] == 2
    workspace.vault.keyring.retire(1)
    forget_unlocked()
    monkeypatch.delenv("PRIVTUNE_PASSPHRASE")
    with Workspace.open(workspace.root, api_key=ADMIN_KEY) as ws:
        assert ws.keys.secret() == secret
        assert ws.keys.public_key().public_bytes_raw() == pub.public_bytes_raw()  # type: ignore[union-attr]
        # a key file still wrapped under a version blocks its retirement
        ws.vault.keyring.rotate()
        ws.vault.keyring.holders.append(type("Stale", (), {
            "kek_versions": lambda self: {2}, "rewrap": lambda self, k, v: 0})())
        with pytest.raises(InputError, match="key files"):
            ws.vault.keyring.retire(2)
    forget_unlocked()
