"""Issue 16, finding 5: a DB writer without the KEK can no longer escalate or forge.

Each attack edits the metadata database directly (as anyone with write access to it could) and
checks that the next read of the row is refused with an IntegrityError naming the table and
the row id, never the row's values. Before the row MACs each edit was taken at face value.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from privtune.access import admin
from privtune.dp import ledger
from privtune.errors import IntegrityError, KeyMissing
from privtune.gate.release import latest_audit
from privtune.store import MetadataStore, rowmac
from privtune.store.access_models import ApiKey, User
from privtune.store.models import Audit
from privtune.vault.keyring import forget_unlocked
from privtune.workspace import Workspace


def _sql(ws: Workspace, sql: str, **params: object) -> None:
    """The attacker: one statement on the metadata database, outside privtune."""
    ws.audit.close()
    with ws.store.engine.begin() as c:
        c.execute(text(sql), params)


@pytest.fixture()
def team(db_url, tmp_path, make_workspace):
    ws = make_workspace(tmp_path / "ws", db_url=db_url)
    viewer = admin.add_user(ws.access, ws.store, "vic", "viewer")
    yield ws, viewer
    ws.close()


def test_role_flip_in_the_database_is_refused(team) -> None:
    ws, viewer = team
    with Workspace.open(ws.root, api_key=viewer.secret) as w:
        assert w.principal is not None and w.principal.role == "viewer"
    _sql(ws, "UPDATE users SET role = 'admin' WHERE handle = 'vic'")
    forget_unlocked()  # a fresh process, as it were
    with pytest.raises(IntegrityError) as exc:
        Workspace.open(ws.root, api_key=viewer.secret)
    msg = str(exc.value)
    assert "'users'" in msg and viewer.user_id in msg
    assert "admin" not in msg and "vic" not in msg  # names the row, never its values


def test_api_key_repointed_or_unrevoked_is_refused(team) -> None:
    ws, viewer = team
    admin_id = ws.principal.user_id  # type: ignore[union-attr]
    _sql(ws, "UPDATE api_keys SET user_id = :u WHERE key_id = :k", u=admin_id, k=viewer.key_id)
    with pytest.raises(IntegrityError, match="'api_keys'"):
        Workspace.open(ws.root, api_key=viewer.secret)
    _sql(ws, "UPDATE api_keys SET user_id = :u WHERE key_id = :k", u=viewer.user_id, k=viewer.key_id)
    admin.revoke_key(ws.access, ws.store, viewer.key_id)
    _sql(ws, "UPDATE api_keys SET revoked_at = NULL WHERE key_id = :k", k=viewer.key_id)
    with pytest.raises(IntegrityError, match="'api_keys'"):
        Workspace.open(ws.root, api_key=viewer.secret)


def test_forged_user_and_key_rows_are_refused(team) -> None:
    """A DB writer inserts an admin and a key whose Argon2 hash they made: no valid MAC."""
    from privtune.access.apikeys import hash_key, new_key

    ws, _ = team
    key = new_key()
    _sql(ws, "INSERT INTO users (id, handle, role, disabled, created_at, mac) "
             "VALUES ('u-evil', 'evil', 'admin', false, :t, '')", t=datetime.now(UTC))
    _sql(ws, "INSERT INTO api_keys (key_id, user_id, secret_hash, created_at, mac) "
             "VALUES (:k, 'u-evil', :h, :t, :m)", k=key.key_id, h=hash_key(key),
         t=datetime.now(UTC), m="0" * 64)
    with pytest.raises(IntegrityError, match="'api_keys'"):
        Workspace.open(ws.root, api_key=key.full)


def test_flipped_manifest_kind_is_refused(team) -> None:
    ws, _ = team
    ref = ws.vault.put("trainset", b"examples", kind="examples")
    assert ws.vault.manifest(ref).kind == "examples"
    _sql(ws, "UPDATE object_versions SET kind = 'adapter' WHERE name = 'trainset'")
    with pytest.raises(IntegrityError, match="'object_versions'"):
        ws.vault.manifest("trainset")
    with pytest.raises(IntegrityError, match="'object_versions'"):
        ws.vault.get("trainset")


def test_moved_data_key_row_is_refused(team) -> None:
    ws, _ = team
    ws.vault.put("a", b"one")
    _sql(ws, "UPDATE data_keys SET kek_version = 7 WHERE name = 'a'")
    with pytest.raises(IntegrityError, match="'data_keys'"):
        ws.vault.get("a")


def test_edited_verdict_is_refused(team) -> None:
    ws, _ = team
    with ws.store.session() as s:
        s.add(Audit(id="aud-1", model_name="m", model_ref="m@1", model_sha256="0" * 64,
                    passed=False, verdict_sha256="1" * 64, verdict={"passed": False}))
    row = latest_audit(ws.store, "m")
    assert row is not None and row.passed is False
    _sql(ws, "UPDATE audits SET passed = true WHERE id = 'aud-1'")
    with pytest.raises(IntegrityError, match="row aud-1 of table 'audits'"):
        latest_audit(ws.store, "m")


def _allow(op: str, obj: str = "", **detail: object) -> None:
    return None


def test_edited_budget_and_ledger_are_refused(team) -> None:
    ws, _ = team
    ws.vault.put("trainset", b"examples", kind="examples")
    ledger.set_budget(_allow, ws.store, "trainset", 1.0)
    ledger.admit(_allow, ws.store, "run-1", "trainset@1", 0.9, 1e-5, "employee", "rdp")
    assert [sp.budget for sp in ledger.spent(_allow, ws.store, "trainset")] == [1.0]
    _sql(ws, "UPDATE privacy_source_budgets SET epsilon = 1e300 WHERE source = 'trainset'")
    with pytest.raises(IntegrityError, match="'privacy_source_budgets'"):
        ledger.spent(_allow, ws.store, "trainset")
    ws.vault.put("other", b"examples", kind="examples")
    ledger.set_budget(_allow, ws.store, "other", 1.0)  # the other rows still read
    _sql(ws, "DELETE FROM privacy_source_budgets WHERE source = 'trainset'")
    _sql(ws, "UPDATE privacy_ledger SET epsilon = 0.0 WHERE run_id = 'run-1'")
    with pytest.raises(IntegrityError, match="'privacy_ledger'"):
        ledger.spent(_allow, ws.store, "trainset")
    _sql(ws, "UPDATE privacy_ledger SET epsilon = 0.9 WHERE run_id = 'run-1'")  # put back
    assert [sp.epsilon for sp in ledger.spent(_allow, ws.store, "trainset")] == [0.9]
    _sql(ws, "UPDATE privacy_charges SET entry_id = 999 WHERE source = 'trainset'")  # unhooked
    with pytest.raises(IntegrityError, match="'privacy_charges'"):
        ledger.spent(_allow, ws.store, "trainset")
    _sql(ws, "UPDATE object_versions SET parents = '[\"other@1\"]' WHERE name = 'trainset'")
    with pytest.raises(IntegrityError, match="'object_versions'"):
        ledger.admit(_allow, ws.store, "run-2", "trainset@1", 0.05, 1e-5)  # a lineage rerouted


def test_legitimate_updates_keep_rows_valid(team) -> None:
    ws, viewer = team
    admin.set_role(ws.access, ws.store, "vic", "auditor")
    admin.revoke_key(ws.access, ws.store, viewer.key_id)
    issued = admin.issue_key(ws.access, ws.store, "vic")
    ref = ws.vault.put("x", b"1")
    ws.vault.shred(ref)
    ws.vault.put("d", b"examples", kind="examples")
    ledger.set_budget(_allow, ws.store, "d", 2.0)
    ledger.set_budget(_allow, ws.store, "d", 3.0)
    assert [sp.budget for sp in ledger.spent(_allow, ws.store, "d")] == [3.0]
    forget_unlocked()
    with Workspace.open(ws.root, api_key=issued.secret) as w:
        assert w.principal is not None and w.principal.role == "auditor"
    rows = admin.list_users(ws.access, ws.store)
    assert {u.handle for u, _ in rows} == {"admin", "vic"}


def test_a_store_without_the_row_key_reads_nothing(team) -> None:
    ws, _ = team
    bare = MetadataStore(ws.store.db_url)
    try:
        with pytest.raises(KeyMissing, match="'users'"), bare.session() as s:
            s.scalars(select(User)).all()
        with pytest.raises(KeyMissing, match="'api_keys'"), bare.session() as s:
            s.add(ApiKey(key_id="abcabcabcabc", user_id="u-x", secret_hash="h"))
    finally:
        bare.dispose()


def test_every_listed_table_has_a_mac_and_new_columns_are_covered() -> None:
    from privtune.store.models import Base

    for name in rowmac.AUTHENTICATED_TABLES - rowmac.LEGACY_TABLES:
        assert rowmac.MAC_COLUMN in Base.metadata.tables[name].c, name
    for name in rowmac.LEGACY_TABLES:  # no model; the migration that drops it checks its MACs
        assert name not in Base.metadata.tables, name
    key = b"k" * 32
    row = {"id": 1, "role": "viewer"}
    assert rowmac.compute(key, "users", row) != rowmac.compute(key, "users", {**row, "added": None})
    assert rowmac.compute(key, "users", row) != rowmac.compute(key, "api_keys", row)
    assert rowmac.compute(key, "users", {"a": "1"}) != rowmac.compute(key, "users", {"a": 1})
    assert rowmac.compute(key, "users", {**row, "mac": "x"}) == rowmac.compute(key, "users", row)
