"""Schema 2 -> 3 (issue 16, findings 4-5): a workspace made before row MACs and wrapped keys is
migrated on its first open with the KEK: clear key files wrapped (the clear ones removed), the
audit public key pinned, every security row sealed; afterwards the attacks of
tests/access/test_row_integrity.py are refused there too."""

from __future__ import annotations

import json

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from sqlalchemy import inspect, select, text

from privtune.access import admin
from privtune.errors import IntegrityError
from privtune.store import rowmac
from privtune.store.audit_models import AuditEvent
from privtune.vault.keyring import forget_unlocked
from privtune.vault.wskeys import KEYS_DIR, LEGACY_SIGNING_FILE, SECRET_FILE, SIGNING_FILE
from privtune.workspace import CONFIG_FILE, Workspace

ADMIN_KEY = "ptk_0123456789ab_" + "T" * 43  # tests/conftest.py


def _downgrade(ws: Workspace) -> tuple[bytes, bytes]:
    """Turn a fresh workspace into what privtune wrote at schema 2."""
    secret = ws.keys.secret()
    signer = ws.keys.signing_key()
    pem = signer.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    keys = ws.root / KEYS_DIR
    (keys / SECRET_FILE).write_bytes(secret)
    (keys / LEGACY_SIGNING_FILE).write_bytes(pem)
    (keys / SIGNING_FILE).unlink()
    ws.audit.close()
    with ws.store.engine.begin() as c:
        for table in sorted(rowmac.AUTHENTICATED_TABLES):
            if ws.store.engine.dialect.has_table(c, table):
                c.execute(text(f'ALTER TABLE "{table}" DROP COLUMN mac'))
        c.execute(text("UPDATE store_meta SET value = '2' WHERE key = 'schema_version'"))
    cfg = yaml.safe_load((ws.root / CONFIG_FILE).read_text())
    cfg.pop("audit_public_key")
    cfg["schema_version"] = 2
    (ws.root / CONFIG_FILE).write_text(yaml.safe_dump(cfg))
    return secret, signer.public_key().public_bytes_raw()


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
def test_schema_2_workspace_is_migrated_on_open(db_url, tmp_path, make_workspace) -> None:
    ws = make_workspace(tmp_path / "ws", db_url=db_url)
    viewer = admin.add_user(ws.access, ws.store, "vic", "viewer")
    ref = ws.vault.put("a", b"payload", kind="table")
    secret, pub = _downgrade(ws)
    ws.close()
    forget_unlocked()

    with Workspace.open(tmp_path / "ws", api_key=viewer.secret) as w:
        assert w.principal is not None and w.principal.role == "viewer"
        assert w.config.schema_version == 3
        assert w.pinned_public_key().public_bytes_raw() == pub  # type: ignore[union-attr]
        assert w.keys.secret() == secret
        with w.store.session() as s:
            ops = list(s.scalars(select(AuditEvent.op)))
        assert "workspace.migrate" in ops
    keys = tmp_path / "ws" / KEYS_DIR
    assert not (keys / LEGACY_SIGNING_FILE).exists()
    for name in (SECRET_FILE, SIGNING_FILE):
        assert json.loads((keys / name).read_bytes())["format"] == "privtune-wrapped-key/1"
        assert secret not in (keys / name).read_bytes()
    assert yaml.safe_load((tmp_path / "ws" / CONFIG_FILE).read_text())["audit_public_key"]

    with Workspace.open(tmp_path / "ws", api_key=ADMIN_KEY) as w:
        assert w.vault.get(ref) == b"payload"
        w.audit.close()
        with w.store.engine.begin() as c:
            c.execute(text("UPDATE users SET role = 'admin' WHERE handle = 'vic'"))
    forget_unlocked()
    with pytest.raises(IntegrityError, match="'users'"):
        Workspace.open(tmp_path / "ws", api_key=viewer.secret)


def _allow(op: str, obj: str = "", **detail: object) -> None:
    return None


def test_rows_sealed_through_reflection_read_back_through_the_models(db_url, tmp_path,
                                                                     make_workspace) -> None:
    """The migration seals a table whose model is not imported (the privacy ledger lives above
    the store) through a reflected table: its MACs must match what the models read."""
    from privtune.dp import ledger
    from privtune.store.models import Audit, Base

    ws = make_workspace(tmp_path / "ws", db_url=db_url)
    admin.add_user(ws.access, ws.store, "vic", "viewer")
    ws.vault.put("a", b"x", kind="table", meta={"rows": 1, "nested": {"b": [1.5, None]}})
    with ws.store.session() as s:
        s.add(Audit(id="aud-1", model_name="m", model_ref="m@1", model_sha256="0" * 64,
                    passed=True, verdict_sha256="1" * 64, verdict={"passed": True, "eps": 0.5}))
    ws.vault.put("d", b"x", kind="table")
    ledger.set_budget(_allow, ws.store, "d", 2.5)
    ledger.admit(_allow, ws.store, "run-1", "d@1", 0.5, 1e-5, "employee", "rdp")
    with ws.store.session() as s:
        for table in ("privacy_ledger", "privacy_charges", "privacy_source_budgets"):
            s.execute(text(f"UPDATE {table} SET mac = ''"))  # only the reflected sealing counts
        n = rowmac.seal_all(s, Base, reflect_all=True)
    assert n >= 9
    assert not inspect(ws.store.engine).has_table("privacy_budgets")  # dropped, nothing to seal
    forget_unlocked()
    with Workspace.open(tmp_path / "ws", api_key=ADMIN_KEY) as w:
        assert [u.handle for u, _ in admin.list_users(w.access, w.store)] == ["admin", "vic"]
        assert w.vault.get("a") == b"x"
        (d,) = ledger.spent(_allow, w.store, "d")  # budget, charge and entry rows all read
        assert (d.budget, d.epsilon, d.runs) == (2.5, 0.5, 1)
        with w.store.session() as s:
            assert s.get(Audit, "aud-1").passed is True  # type: ignore[union-attr]
    ws.close()
