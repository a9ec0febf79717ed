"""The role x operation matrix, exhaustively: every operation for every role, no identity,
revoked and expired keys; each decision audited with its outcome and reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from privtune.access import admin
from privtune.access.roles import MATRIX, OPERATIONS, ROLES, vault_operation
from privtune.errors import PermissionDenied
from privtune.store.access_models import ApiKey
from privtune.store.audit_models import AuditEvent
from privtune.workspace import Workspace

# The specification, written out independently of the implementation's table.
Y = {
    "admin": set(OPERATIONS),
    "data-steward": {"data.read", "data.write", "training.read", "training.write", "key.read",
                     "metadata.read", "subject.lookup", "subject.index", "budget.write",
                     "synthetic.write"},  # issue 23
    "ml-engineer": {"training.read", "model.read", "model.write", "model.export", "model.query",
                    "metadata.read",
                    "federated.train", "federated.coordinate"},  # issue 21
    "auditor": {"model.read", "model.query", "metadata.read", "subject.lookup", "records.read",
                "audit.read",
                "alerts.manage"},  # issue 20
    "viewer": {"metadata.read"},
    # issue 16: the roles for what comes next
    "dpo": {"metadata.read", "subject.lookup", "subject.export", "subject.erase", "records.read",
            "policy.write", "release.approve", "audit.read",
            "incident.manage", "alerts.manage",  # issue 20
            "subject.approve",  # issue 19
            "retention.manage", "subject.rectify",
            "federated.gate"},  # issue 21: a site's gate on a federated adapter
    "app": {"model.query"},
    "break-glass": set(),  # everything during a lockdown only (tests/access/test_lockdown.py)
}
EXPECTED_OPERATIONS = {
    "data.read", "data.write", "training.read", "training.write", "key.read", "key.write",
    "model.read", "model.write", "metadata.read", "subject.lookup", "subject.index",
    "audit.read", "user.manage", "budget.write",
    # issue 16
    "model.query", "subject.export", "subject.erase", "records.read", "policy.write",
    "release.approve", "lockdown.set",
    # issue 15: the gate's exports
    "model.export", "model.export_unaudited",
    # issue 20: security operations
    "backup.write", "backup.restore", "incident.manage", "alerts.manage",
    # issue 19: four-eyes on erasure requests
    "subject.approve",
    "retention.manage",  # issue 19: retention and legal holds
    "subject.rectify",  # issue 19: rectification
    "console.serve",  # issue 22: the web console
    "synthetic.write",  # issue 23: DP synthetic data
    "federated.train", "federated.coordinate",  # issue 21: federated fine-tuning
    "federated.gate",  # issue 21: a site's gate on the global adapter
}


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, make_workspace):
    root = tmp_path_factory.mktemp("matrix") / "ws"
    ws = make_workspace(root)
    keys = {role: admin.add_user(ws.access, ws.store, f"u-{role}", role) for role in ROLES}
    keys["revoked"] = admin.add_user(ws.access, ws.store, "gone", "admin")
    admin.revoke_key(ws.access, ws.store, keys["revoked"].key_id)
    keys["expired"] = admin.add_user(ws.access, ws.store, "old", "admin")
    with ws.store.session() as s:
        s.get(ApiKey, keys["expired"].key_id).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    ws.close()
    return root, keys


def test_matrix_table_is_the_specification() -> None:
    assert set(OPERATIONS) == EXPECTED_OPERATIONS
    assert set(ROLES) == set(Y)
    for role in ROLES:
        assert set(MATRIX[role]) == Y[role], role


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_for_role(team, role: str) -> None:
    root, keys = team
    with Workspace.open(root, api_key=keys[role].secret) as ws:
        for op in sorted(OPERATIONS):
            before = _last_seq(ws)
            if op in Y[role]:
                assert ws.guard(op, "obj-x").role == role
                outcome, reason = "allow", ""
            else:
                with pytest.raises(PermissionDenied, match=f"role {role} may not {op}"):
                    ws.guard(op, "obj-x")
                outcome, reason = "deny", f"role {role} may not {op}"
            ev = _event(ws, before + 1)
            assert (ev.op, ev.object, ev.outcome, ev.reason, ev.role) == (op, "obj-x", outcome, reason, role)
            assert ev.actor == keys[role].user_id and ev.key_id == keys[role].key_id


def test_every_operation_without_identity_is_denied_and_audited(team) -> None:
    root, _ = team
    with Workspace.open(root) as ws:
        assert ws.principal is None
        for op in sorted(OPERATIONS):
            before = _last_seq(ws)
            with pytest.raises(PermissionDenied, match="no identity"):
                ws.guard(op, "obj-y")
            ev = _event(ws, before + 1)
            assert (ev.actor, ev.op, ev.outcome) == ("-", op, "deny")


@pytest.mark.parametrize("which,why", [("revoked", "revoked"), ("expired", "expired")])
def test_revoked_and_expired_keys_cannot_open(team, which: str, why: str) -> None:
    root, keys = team
    with pytest.raises(PermissionDenied, match=why):
        Workspace.open(root, api_key=keys[which].secret)
    with Workspace.open(root, api_key=keys["admin"].secret) as ws:
        ev = ws.store.session().__enter__().scalars(
            select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
        assert (ev.op, ev.outcome, ev.key_id) == ("auth", "deny", keys[which].key_id)
        assert why in ev.reason and keys[which].secret not in ev.reason


def test_an_expired_key_says_how_to_get_a_new_one(team) -> None:
    root, keys = team
    with pytest.raises(PermissionDenied) as err:
        Workspace.open(root, api_key=keys["expired"].secret)
    msg = str(err.value)
    assert "privtune access issue-key" in msg and "PRIVTUNE_API_KEY" in msg
    assert keys["expired"].secret not in msg


def test_wrong_secret_with_a_real_key_id_is_refused(team) -> None:
    root, keys = team
    real = keys["admin"].secret
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    with pytest.raises(PermissionDenied, match="invalid API key"):
        Workspace.open(root, api_key=forged)
    with pytest.raises(PermissionDenied, match="malformed"):
        Workspace.open(root, api_key="not-a-key")


@pytest.mark.parametrize("role", ROLES)
def test_vault_operations_follow_the_matrix(team, role: str) -> None:
    """The real vault calls, per object kind, for every role; a denied write changes nothing."""
    root, keys = team
    with Workspace.open(root, api_key=keys["admin"].secret) as ws:
        for kind in ("table", "examples", "key", "adapter"):
            if not ws.vault.exists(f"m-{kind}"):
                ws.vault.put(f"m-{kind}", b"payload", kind=kind)
    with Workspace.open(root, api_key=keys[role].secret) as ws:
        for kind in ("table", "examples", "key", "adapter"):
            read_op, write_op = vault_operation("read", kind), vault_operation("write", kind)
            if read_op in Y[role]:
                assert ws.vault.get(f"m-{kind}") in (b"payload", b"more")
            else:
                with pytest.raises(PermissionDenied):
                    ws.vault.get(f"m-{kind}")
            n_before = ws.vault.manifest(f"m-{kind}").version
            files_before = sorted((root / "vault").rglob("*"))
            if write_op in Y[role]:
                ws.vault.put(f"m-{kind}", b"more", kind=kind)
                assert ws.vault.manifest(f"m-{kind}").version == n_before + 1
            else:
                with pytest.raises(PermissionDenied):
                    ws.vault.put(f"m-{kind}", b"more", kind=kind)
                assert ws.vault.manifest(f"m-{kind}").version == n_before
                assert sorted((root / "vault").rglob("*")) == files_before
        if "metadata.read" in Y[role]:
            assert ws.vault.list()


def _last_seq(ws: Workspace) -> int:
    with ws.store.session() as s:
        return s.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)) or 0


def _event(ws: Workspace, seq: int) -> AuditEvent:
    with ws.store.session() as s:
        return s.get(AuditEvent, seq)


def test_cli_acts_as_the_key_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from privtune.cli.main import run

    assert run(["init", str(tmp_path / "w")]) == 0
    with Workspace.open(tmp_path / "w", api_key=_env_key()) as ws:
        viewer = admin.add_user(ws.access, ws.store, "vera", "viewer")
    capsys.readouterr()
    monkeypatch.setenv("PRIVTUNE_API_KEY", viewer.secret)
    assert run(["vault", "ls", "-w", str(tmp_path / "w")]) == 0
    assert run(["access", "add-user", "mallory", "--role", "admin", "-w", str(tmp_path / "w")]) == 7
    err = capsys.readouterr().err
    assert "permission denied" in err and "viewer may not user.manage" in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.delenv("PRIVTUNE_API_KEY")
    assert run(["vault", "ls", "-w", str(tmp_path / "w")]) == 7
    assert "no identity" in capsys.readouterr().err


def _env_key() -> str:
    import os

    return os.environ["PRIVTUNE_API_KEY"]
