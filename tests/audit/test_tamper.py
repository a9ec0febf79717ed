"""The audit-log tamper suite (issue 16, finding 3): every way to change, shorten or roll back the
log is detected, on a workspace used the way the CLI uses it (one session per command, each
sealed with a signed checkpoint that is also kept in the head file and, when configured, in an
external anchor).

Before the fix, truncating the tail (by 1, by 700, or all of it) verified as intact whenever no
checkpoint lay beyond the new end (checkpoints came only every 1,000 events).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

import privtune.audit.log as auditlog
from privtune.audit import api
from privtune.audit.anchor import FileAnchor, open_anchor
from privtune.audit.head import HEAD_FILE, read_head_file
from privtune.audit.verify import verify_log, verify_signing_key
from privtune.errors import ConfigError, IntegrityError, KeyMissing
from privtune.vault import wskeys
from privtune.workspace import CONFIG_FILE, Workspace

SESSIONS, EACH = 5, 4  # 5 "commands" of 4 events each, after init


def _session(root: Path, principal, n: int = EACH, tag: str = "s") -> None:
    """One CLI-like command: open, write ``n`` events, close (which seals the head)."""
    with Workspace.open(root, principal=principal) as w:
        for i in range(n):
            w.guard("metadata.read", f"{tag}-{i}")


@pytest.fixture()
def made(db_url, tmp_path, make_workspace):
    ws = make_workspace(tmp_path / "ws", db_url=db_url)
    principal = ws.principal
    ws.close()
    for k in range(SESSIONS):
        _session(ws.root, principal, tag=f"s{k}")
    return ws.root, principal, db_url


def _sql(root: Path, sql: str, **params) -> None:
    with Workspace.open(root) as w:
        with w.store.engine.begin() as c:
            c.execute(text(sql), params)
        w.audit._dirty = False  # the attacker's connection writes no event


def _last(root: Path) -> int:
    with Workspace.open(root) as w:
        return w.audit.last_seq()


def _verify(root: Path):
    """The library's full check, without the audit event: the log under the pinned key, and the
    signing key in keys/ against the pin."""
    with Workspace.open(root) as w:
        pinned = w.pinned_public_key()
        return verify_signing_key(verify_log(w.audit, pinned), pinned, w.keys.public_key)


def _cli_verify(root: Path, capsys, *extra: str) -> tuple[int, str]:
    from privtune.cli.main import run

    capsys.readouterr()
    code = run(["audit-log", "verify", "-w", str(root), *extra])
    cap = capsys.readouterr()
    return code, " ".join((cap.out + cap.err).split())


def _truncate(root: Path, keep: int, *, checkpoints: bool) -> None:
    _sql(root, "DELETE FROM audit_events WHERE seq > :k", k=keep)
    if checkpoints:  # the thorough attacker removes the checkpoints that would betray them
        _sql(root, "DELETE FROM audit_checkpoint_meta WHERE seq > :k", k=keep)
        _sql(root, "DELETE FROM audit_checkpoints WHERE seq > :k", k=keep)


def test_intact_log_verifies_and_compares_the_head_file(made, capsys) -> None:
    root, _, _ = made
    r = _verify(root)
    assert r.ok, r.line()
    assert r.checkpoints >= SESSIONS + 1  # init and every session sealed one
    head = read_head_file(root / HEAD_FILE)
    assert head is not None and head.seq == _last(root)
    assert (root / HEAD_FILE).stat().st_mode & 0o777 == 0o600
    code, out = _cli_verify(root, capsys)
    assert code == 0 and f"head file at event {head.seq} matches" in out


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 9, 20])
@pytest.mark.parametrize("checkpoints", [False, True], ids=["events", "events+checkpoints"])
def test_truncating_the_tail_by_k_is_detected(made, capsys, k: int, checkpoints: bool) -> None:
    root, _, _ = made
    last = _last(root)
    _truncate(root, last - k, checkpoints=checkpoints)
    r = _verify(root)
    assert not r.ok and r.bad_position == last - k + 1
    assert "truncated" in r.reason
    code, out = _cli_verify(root, capsys)
    assert code == 5 and f"position {last - k + 1}" in out


def test_deleting_every_event_is_detected(made, capsys) -> None:
    root, _, _ = made
    _truncate(root, 0, checkpoints=True)
    assert not _verify(root).ok
    code, out = _cli_verify(root, capsys)
    assert code == 5 and "truncated" in out


def test_truncating_700_of_a_long_log_is_detected(db_url, tmp_path, make_workspace) -> None:
    ws = make_workspace(tmp_path / "ws", db_url=db_url)
    for i in range(760):
        ws.audit.append(actor="u-1", role="admin", key_id="k", op="metadata.read", object=f"o{i}")
    ws.close()
    last = _last(ws.root)
    _truncate(ws.root, last - 700, checkpoints=True)
    r = _verify(ws.root)
    assert not r.ok and r.bad_position == last - 699 and "truncated" in r.reason


def test_verify_event_does_not_repair_a_truncated_log(made, capsys) -> None:
    """verify compares before its own event; no later session signs over the rollback."""
    root, principal, _ = made
    last = _last(root)
    head_before = (root / HEAD_FILE).read_bytes()
    _truncate(root, last - 1, checkpoints=True)
    code, out = _cli_verify(root, capsys)
    assert code == 5 and "truncated" in out
    code, out = _cli_verify(root, capsys)  # the first verify's event now sits at the old head
    assert code == 5 and f"event {last} differs" in out
    _session(root, principal, n=6, tag="later")  # more work: the log grows past the old head
    assert _last(root) > last
    code, out = _cli_verify(root, capsys)
    assert code == 5 and f"event {last} differs" in out
    assert (root / HEAD_FILE).read_bytes() == head_before  # the head file never moved onto it
    with Workspace.open(root, principal=principal) as w, pytest.raises(IntegrityError, match="refused"):
        w.audit.checkpoint()  # an explicit checkpoint says why


@pytest.mark.parametrize("which", ["latest", "middle", "all"])
def test_deleting_checkpoints_is_detected(made, which: str) -> None:
    root, _, _ = made
    with Workspace.open(root) as w:
        seqs = [c[0] for c in w.audit.checkpoints()]
    doomed = {"latest": seqs[-1:], "middle": seqs[2:3], "all": seqs}[which]
    for s in doomed:
        _sql(root, "DELETE FROM audit_checkpoints WHERE seq = :s", s=s)
        _sql(root, "DELETE FROM audit_checkpoint_meta WHERE seq = :s", s=s)
    r = _verify(root)
    assert not r.ok and "removed" in r.reason


def test_deleting_only_the_checkpoint_meta_is_detected(made) -> None:
    root, _, _ = made
    _sql(root, "DELETE FROM audit_checkpoint_meta")
    r = _verify(root)
    assert not r.ok and "signature" in r.reason  # signed as v2, cannot pass as v1


@pytest.mark.parametrize("attack", ["edit", "delete", "insert", "reorder"])
def test_edit_delete_insert_reorder_are_detected(made, capsys, attack: str) -> None:
    root, _, _ = made
    if attack == "edit":
        _sql(root, "UPDATE audit_events SET outcome = 'deny' WHERE seq = 7")
    elif attack == "delete":
        _sql(root, "DELETE FROM audit_events WHERE seq = 7")
    elif attack == "insert":
        _sql(root, "UPDATE audit_events SET seq = -seq WHERE seq >= 7")
        _sql(root, "UPDATE audit_events SET seq = -seq + 1 WHERE seq < 0")
        _sql(root, "INSERT INTO audit_events (seq, ts, actor, role, key_id, op, object, outcome, "
                   "reason, detail, prev_hash, hash) SELECT 7, ts, actor, role, key_id, op, "
                   "'forged', outcome, reason, detail, prev_hash, hash FROM audit_events WHERE seq = 8")
    else:
        _sql(root, "UPDATE audit_events SET seq = -1 WHERE seq = 7")
        _sql(root, "UPDATE audit_events SET seq = 7 WHERE seq = 8")
        _sql(root, "UPDATE audit_events SET seq = 8 WHERE seq = -1")
    r = _verify(root)
    assert not r.ok and r.bad_position == 7
    assert _cli_verify(root, capsys)[0] == 5


def test_swapped_signing_key_is_detected(made, capsys) -> None:
    """The signing key in keys/ is wrapped by the KEK (a clear key dropped there is not read):
    a swapped one is refused against the pin, and a head it signs fails the pin's check."""
    root, principal, _ = made
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (root / "keys" / "audit-signing.pem").write_bytes(pem)  # the pre-schema-3 file: ignored
    with Workspace.open(root) as w:
        wskeys._write_wrapped(root, w.vault.keyring, wskeys.SIGNING_FILE,
                              wskeys._raw_private(Ed25519PrivateKey.generate()))
    r = _verify(root)
    assert not r.ok and "not the pinned one" in r.reason
    assert _cli_verify(root, capsys)[0] == 5
    _session(root, principal, tag="swapped")  # sealed with the swapped key
    r = _verify(root)
    assert not r.ok and "signature" in r.reason
    assert _cli_verify(root, capsys)[0] == 5


def test_removed_keys_are_a_failure_never_a_skip(made, capsys) -> None:
    root, _, _ = made
    (root / "keys" / wskeys.SIGNING_FILE).unlink()
    r = _verify(root)
    assert not r.ok and "signing key is missing" in r.reason
    code, out = _cli_verify(root, capsys)
    assert code == 5 and "intact" not in out and "signing key is missing" in out
    shutil.rmtree(root / "keys")
    r = _verify(root)
    assert not r.ok and "signing key is missing" in r.reason
    # Without keys/workspace.key no API key authenticates (its rows are MAC'd under a key
    # derived from it): the command stops at opening, naming the file, and says nothing intact.
    code, out = _cli_verify(root, capsys)
    assert code == KeyMissing.exit_code and "workspace.key" in out and "intact" not in out


def test_restoring_an_old_database_copy_is_detected(tmp_path, capsys, make_workspace) -> None:
    ws = make_workspace(tmp_path / "ws")
    principal = ws.principal
    ws.close()
    root = ws.root
    _session(root, principal)
    _backup(root / "metadata.db", tmp_path / "old.db")
    for k in range(3):
        _session(root, principal, tag=f"after{k}")
    _restore(tmp_path / "old.db", root / "metadata.db")
    r = _verify(root)
    assert not r.ok and "truncated" in r.reason
    assert _cli_verify(root, capsys)[0] == 5


def _backup(db: Path, dest: Path) -> None:
    src, dst = sqlite3.connect(db), sqlite3.connect(dest)
    src.backup(dst)
    src.close()
    dst.close()


def _restore(copy: Path, db: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copyfile(copy, db)


def _set_anchor(root: Path, spec: str) -> None:
    cfg = yaml.safe_load((root / CONFIG_FILE).read_text())
    cfg["audit_anchor"] = spec
    (root / CONFIG_FILE).write_text(yaml.safe_dump(cfg))


def test_rolling_back_database_and_head_file_needs_the_anchor(tmp_path, capsys, make_workspace) -> None:
    """The threat model's limit: without an anchor, an old database copy restored together with
    the head file of its time verifies; with a file anchor it is detected."""
    anchor = tmp_path / "other-mount" / "privtune-anchor.log"
    anchor.parent.mkdir()
    results = {}
    for with_anchor in (False, True):
        ws = make_workspace(tmp_path / f"ws{with_anchor}")
        principal = ws.principal
        ws.close()
        root = ws.root
        if with_anchor:
            _set_anchor(root, f"file:{anchor}")
        _session(root, principal)
        _backup(root / "metadata.db", tmp_path / f"old{with_anchor}.db")
        old_head = (root / HEAD_FILE).read_bytes()
        for k in range(3):
            _session(root, principal, tag=f"after{k}")
        _restore(tmp_path / f"old{with_anchor}.db", root / "metadata.db")
        (root / HEAD_FILE).write_bytes(old_head)
        results[with_anchor] = _cli_verify(root, capsys)
    assert results[False][0] == 0  # undetectable without an external anchor (docs/access.md)
    code, out = results[True]
    assert code == 5 and "anchor" in out and "truncated" in out
    assert anchor.stat().st_mode & 0o777 == 0o600


def test_anchor_on_the_command_line_and_forged_anchor_lines(made, tmp_path, capsys) -> None:
    root, principal, _ = made
    anchor = tmp_path / "anchor.log"
    _set_anchor(root, f"file:{anchor}")
    _session(root, principal)
    code, out = _cli_verify(root, capsys)
    assert code == 0 and "anchor file:" in out and "matches" in out
    # an auditor keeping their own copy of the anchor compares with it, whatever the config says
    copy = tmp_path / "auditor-copy.log"
    shutil.copyfile(anchor, copy)
    _set_anchor(root, "")
    code, out = _cli_verify(root, capsys, "--anchor", f"file:{copy}")
    assert code == 0 and f"anchorfile:{copy}atevent" in out.replace(" ", "")  # rich wraps lines
    # a forged line (someone appends a head with a made-up signature) is itself a failure
    line = json.loads(copy.read_text().splitlines()[-1])
    line.update(seq=line["seq"] + 50, signature="00" * 64)
    with copy.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    code, out = _cli_verify(root, capsys, "--anchor", f"file:{copy}")
    assert code == 5 and "invalid signature" in out


def test_anchor_config_is_checked_and_syslog_is_write_only(made, monkeypatch) -> None:
    root, principal, _ = made
    for bad in ("file:relative/path", "http://x", "syslog:kern"):
        with pytest.raises(ConfigError, match="audit_anchor"):
            open_anchor(bad, "ws")
    assert isinstance(open_anchor(" file:/tmp/a.log ", "ws"), FileAnchor)
    import syslog

    sent: list[str] = []
    monkeypatch.setattr(syslog, "openlog", lambda *a: None)
    monkeypatch.setattr(syslog, "syslog", lambda prio, msg: sent.append(msg))
    _set_anchor(root, "syslog:local3")
    _session(root, principal)
    assert sent and json.loads(sent[-1])["seq"] == _last(root)
    with Workspace.open(root, principal=principal) as w:
        r = api.verify(w.guard, w.audit, w.pinned_public_key(), w.keys.public_key)
    assert r.ok and any("write-only" in n for n in r.notes)


def test_long_runs_sign_every_t_seconds(made, monkeypatch) -> None:
    root, principal, _ = made
    monkeypatch.setattr(auditlog, "CHECKPOINT_SECONDS", 0.0)
    with Workspace.open(root, principal=principal) as w:
        before = len(w.audit.checkpoints())
        for i in range(3):
            w.guard("metadata.read", f"long-{i}")
        assert len(w.audit.checkpoints()) == before + 3
        assert read_head_file(root / HEAD_FILE).seq == w.audit.last_seq()  # type: ignore[union-attr]
    assert _verify(root).ok


def test_a_damaged_or_forged_head_file_is_detected(made) -> None:
    root, _, _ = made
    path = root / HEAD_FILE
    d = json.loads(path.read_text())
    d["hash"] = "0" * 64
    path.write_text(json.dumps(d))
    r = _verify(root)
    assert not r.ok and "invalid signature" in r.reason
    path.write_text("{not json")
    assert not _verify(root).ok
    path.unlink()
    r = _verify(root)
    assert not r.ok and "head file" in r.reason and "missing" in r.reason


def test_wiping_checkpoints_and_head_file_is_caught_by_the_anchor(made, tmp_path, capsys) -> None:
    root, principal, _ = made
    _set_anchor(root, f"file:{tmp_path / 'anchor.log'}")
    _session(root, principal)
    _sql(root, "DELETE FROM audit_checkpoint_meta")
    _sql(root, "DELETE FROM audit_checkpoints")
    (root / HEAD_FILE).unlink()
    code, out = _cli_verify(root, capsys)
    assert code == 5 and "anchor" in out and "removed" in out
