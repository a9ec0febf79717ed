"""API keys: CSPRNG secrets of >= 128 bits, shown once, stored only as Argon2id hashes."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from privtune.access import admin
from privtune.access.apikeys import KEY_RE, SECRET_BYTES, hasher, new_key, parse_key, verify_key
from privtune.store.access_models import ApiKey
from privtune.vault import kdf
from privtune.vault.kdf import Argon2Params
from privtune.workspace import Workspace


def test_new_keys_have_at_least_128_bits_and_are_unique() -> None:
    assert SECRET_BYTES * 8 >= 128
    keys = [new_key() for _ in range(200)]
    assert len({k.full for k in keys}) == 200 and len({k.key_id for k in keys}) == 200
    for k in keys:
        m = KEY_RE.match(k.full)
        assert m and m.group(1) == k.key_id
        assert len(m.group(2)) * 6 >= 128 and math.log2(64) * len(m.group(2)) >= 256


def test_stored_only_as_argon2id_hash(workspace, tmp_path: Path) -> None:
    issued = admin.add_user(workspace.access, workspace.store, "dana", "viewer")
    with workspace.store.session() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.key_id == issued.key_id))
    assert row.secret_hash.startswith("$argon2id$")
    assert issued.secret not in row.secret_hash
    secret_part = issued.secret.split("_", 2)[2]
    db = (workspace.root / "metadata.db").read_bytes()
    wal = workspace.root / "metadata.db-wal"
    blob = db + (wal.read_bytes() if wal.exists() else b"")
    assert secret_part.encode() not in blob
    assert verify_key(row.secret_hash, parse_key(issued.secret))
    assert not verify_key(row.secret_hash, new_key())


def test_default_kdf_profile_is_rfc9106(monkeypatch) -> None:
    monkeypatch.setattr(kdf, "DEFAULT", kdf.RFC9106)  # undo the test suite's cheap default
    h = hasher()
    assert (h.time_cost, h.memory_cost, h.parallelism) == (3, 65536, 4)
    assert hasher(Argon2Params(1, 1024, 1)).memory_cost == 1024  # only by an explicit argument


def test_no_environment_variable_selects_a_weak_kdf(monkeypatch) -> None:
    monkeypatch.setattr(kdf, "DEFAULT", kdf.RFC9106)
    monkeypatch.setenv("PRIVTUNE_KDF_PROFILE", "test")
    h = hasher()
    assert (h.time_cost, h.memory_cost, h.parallelism) == (3, 65536, 4)
    from privtune.vault.kek import kdf_params

    assert kdf_params() == {"t": 3, "m_kib": 65536, "p": 4}
    assert kdf_params(Argon2Params(1, 64, 1)) == {"t": 1, "m_kib": 64, "p": 1}


def test_issue_and_revoke_second_key(workspace) -> None:
    first = admin.add_user(workspace.access, workspace.store, "erin", "auditor")
    second = admin.issue_key(workspace.access, workspace.store, "erin", expires_days=30)
    assert second.expires_at is not None
    admin.revoke_key(workspace.access, workspace.store, first.key_id)
    with Workspace.open(workspace.root, api_key=second.secret) as ws:
        assert ws.principal.handle == "erin" and ws.principal.role == "auditor"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_parse_key_accepts_only_the_format(text: str) -> None:
    parsed = parse_key(text)
    if parsed is not None:
        assert KEY_RE.match(text.strip())
