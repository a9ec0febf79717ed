"""Issue 16, finding 1: a vault write is authorised by the object, not by the caller's ``--kind``.

The red team's attack: an ml-engineer ran ``privtune vault put pseudonym-key evil.key --kind
adapter`` (model.write, which they hold) and created ``pseudonym-key@2`` with a key of their
choosing; the same trick wrote ``trainset@2``. Now the first version fixes a name's kind and
reserved names hold only their own kind: the put is refused (exit 7), audited as a deny, and
nothing is written.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from privtune.access import admin
from privtune.access.apikeys import ENV_API_KEY
from privtune.attacks.canaries import VAULT_NAME as CANARY_NAME
from privtune.cli.main import run
from privtune.errors import IntegrityError, ObjectKindConflict, PermissionDenied
from privtune.gate.release import KEY_NAME as RELEASE_KEY
from privtune.pipeline.train import CKPT_PREFIX
from privtune.store import ObjectVersion
from privtune.store.audit_models import AuditEvent
from privtune.vault.names import kind_conflict, name_class
from privtune.workspace import PSEUDONYM_KEY, Workspace


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, make_workspace):
    root = tmp_path_factory.mktemp("kinds") / "ws"
    ws = make_workspace(root)
    keys = {role: admin.add_user(ws.access, ws.store, f"k-{role}", role).secret
            for role in ("ml-engineer", "data-steward", "viewer")}
    keys["admin"] = ws.initial_key.secret  # type: ignore[union-attr]
    ws.vault.put("trainset", b'{"messages": []}\n', kind="examples", schema="chat-jsonl")
    ws.close()
    return root, keys


def _state(root: Path, name: str) -> tuple[list[tuple[int, str]], list[Path]]:
    with Workspace.open(root) as ws, ws.store.session() as s:
        rows = s.execute(select(ObjectVersion.version, ObjectVersion.kind)
                         .where(ObjectVersion.name == name).order_by(ObjectVersion.version)).all()
    return [tuple(r) for r in rows], sorted((root / "vault" / "objects").rglob("*"))


def _last_event(root: Path) -> AuditEvent:
    with Workspace.open(root) as ws, ws.store.session() as s:
        return s.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()


@pytest.mark.parametrize("name", [PSEUDONYM_KEY, "trainset"])
@pytest.mark.parametrize("kind", ["adapter", "report", "blob"])
def test_ml_engineer_cannot_overwrite_a_reserved_object_by_claiming_a_kind(
        team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        name: str, kind: str) -> None:
    root, keys = team
    evil = tmp_path / "evil.key"
    evil.write_bytes(b"\x00" * 32)
    before = _state(root, name)
    monkeypatch.setenv(ENV_API_KEY, keys["ml-engineer"])
    capsys.readouterr()
    code = run(["vault", "put", name, str(evil), "--kind", kind, "-w", str(root)])
    err = capsys.readouterr().err
    assert code == PermissionDenied.exit_code, err
    assert "refused" in err and "Traceback" not in err
    assert _state(root, name) == before  # no manifest row, no file
    ev = _last_event(root)
    assert (ev.outcome, ev.role, ev.object) == ("deny", "ml-engineer", f"{name}@2")
    # decided by the object's kind (key.write / training.write), not by the claimed kind
    assert ev.op == ("key.write" if name == PSEUDONYM_KEY else "training.write")


@pytest.mark.parametrize("role,name,kind,op", [
    ("ml-engineer", PSEUDONYM_KEY, "key", "key.write"),
    ("data-steward", PSEUDONYM_KEY, "key", "key.write"),
    ("ml-engineer", "trainset", "examples", "training.write"),
    ("viewer", "trainset", "examples", "training.write"),
])
def test_the_right_kind_still_needs_the_owning_role(team, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    role: str, name: str, kind: str, op: str) -> None:
    root, keys = team
    src = tmp_path / "x.bin"
    src.write_bytes(b"\x01" * 32)
    before = _state(root, name)
    monkeypatch.setenv(ENV_API_KEY, keys[role])
    assert run(["vault", "put", name, str(src), "--kind", kind, "-w", str(root)]) == 7
    assert _state(root, name) == before
    ev = _last_event(root)
    assert (ev.op, ev.outcome, ev.reason) == (op, "deny", f"role {role} may not {op}")


def test_a_kind_change_is_refused_even_for_an_admin(team) -> None:
    root, keys = team
    with Workspace.open(root, api_key=keys["admin"]) as ws:
        assert ws.vault.put("notes", b"a") == "notes@1"  # a free name: blob
        for name, kind in (("notes", "adapter"), (PSEUDONYM_KEY, "adapter"), ("trainset", "key")):
            before = _state(root, name)
            with pytest.raises(ObjectKindConflict, match="refused"):
                ws.vault.put(name, b"b", kind=kind)
            assert _state(root, name) == before
            ev = _last_event(root)
            assert (ev.outcome, ev.role) == ("deny", "admin") and "refused" in ev.reason
        # the object's own kind (also the default when no kind is given) is fine for the owner
        assert ws.vault.put("notes", b"c") == "notes@2"
        assert ws.vault.put(PSEUDONYM_KEY, b"k" * 32, kind="key") == f"{PSEUDONYM_KEY}@2"


@pytest.mark.parametrize("name,bad,good", [
    (PSEUDONYM_KEY, "adapter", "key"), (RELEASE_KEY, "blob", "key"), ("other-key", "table", "key"),
    ("trainset", "adapter", "examples"), ("valset", "blob", "examples"),
    (CANARY_NAME, "examples", "blob"), (f"{CKPT_PREFIX}r1", "blob", "adapter"),
    ("employees", "adapter", "table"), ("reviews", "table", "texts"),
    ("employees-deid", "adapter", "table"), ("deid-policy", "key", "blob"),
    ("gate-report", "blob", "report"),
])
def test_reserved_names_hold_only_their_kind_from_the_first_version(tmp_path: Path, name: str,
                                                                    bad: str, good: str,
                                                                    make_workspace) -> None:
    assert name_class(name) is not None and good in name_class(name).kinds  # type: ignore[union-attr]
    assert kind_conflict(name, bad, None) and not kind_conflict(name, good, None)
    ws = make_workspace(tmp_path / "w")
    try:
        if not ws.vault.exists(name):
            with pytest.raises(ObjectKindConflict):
                ws.vault.put(name, b"x", kind=bad)
            assert not ws.vault.exists(name)
            assert ws.vault.put(name, b"x", kind=good) == f"{name}@1"
    finally:
        ws.close()


def test_a_bare_vault_refuses_a_kind_change_too(workspace) -> None:
    from privtune.vault import Vault

    bare = Vault(workspace.root / "vault", workspace.store)  # no guard hook
    bare.put("thing", b"1", kind="table")
    with pytest.raises(ObjectKindConflict):
        bare.put("thing", b"2", kind="adapter")
    with pytest.raises(ObjectKindConflict):
        bare.put(PSEUDONYM_KEY, b"2", kind="adapter")
    assert bare.manifest("thing").version == 1


def test_a_racing_first_writer_of_another_kind_is_caught_in_the_transaction(
        workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    workspace.vault.put("race", b"1", kind="table")
    # the pre-check saw no object yet (the other writer committed after it)
    monkeypatch.setattr(workspace.vault, "latest_kind", lambda name: None)
    with pytest.raises(ObjectKindConflict):
        workspace.vault.put("race", b"2", kind="adapter")
    assert workspace.vault.manifest("race").version == 1


def test_a_planted_key_version_of_another_kind_is_never_read(team) -> None:
    """A ``pseudonym-key@N`` of kind adapter written before this fix (or by editing the
    manifest) is not handed out as the pseudonym key, and an ml-engineer is refused by key.read."""
    root, keys = team
    with Workspace.open(root, api_key=keys["admin"]) as ws:
        ref = ws.vault.put(PSEUDONYM_KEY, b"p" * 32, kind="key")
        # Planted through the ORM, so the row MAC is valid (a version written before this fix
        # and sealed by the schema-3 migration); a raw SQL edit is caught by the row MAC first
        # (tests/access/test_row_integrity.py).
        with ws.store.session() as s:
            row = s.scalars(select(ObjectVersion).where(
                ObjectVersion.name == PSEUDONYM_KEY,
                ObjectVersion.version == int(ref.split("@")[1]))).one()
            row.kind = "adapter"
    with (Workspace.open(root, api_key=keys["ml-engineer"]) as ws,
          pytest.raises(PermissionDenied, match=r"may not key\.read")):
        ws.vault.get(PSEUDONYM_KEY)
    with (Workspace.open(root, api_key=keys["admin"]) as ws,
          pytest.raises(IntegrityError, match="reserved for the key object")):
        ws.pseudonym_key()
