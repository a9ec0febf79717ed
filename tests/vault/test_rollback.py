"""Manifest rollback (issue 16, finding 8): the latest version of every name is signed into each
audit-log checkpoint, so deleting the rows of ``rb@2`` no longer makes ``vault get rb`` serve
``rb@1`` silently, nor ``vault verify`` exit 0.

Before the fix: ``vault get rb`` returned v1 and ``vault verify`` exited 0.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from privtune.cli.main import run
from privtune.errors import IntegrityError, NotFoundError
from privtune.workspace import Workspace


@pytest.fixture()
def rb(tmp_path: Path, capsys, make_workspace) -> Path:
    """A workspace where ``rb`` has two versions, each put by its own command."""
    root = tmp_path / "ws"
    make_workspace(root).close()
    for i in (1, 2):
        f = tmp_path / f"rb{i}.txt"
        f.write_bytes(f"version {i}".encode())
        assert run(["vault", "put", "rb", str(f), "--kind", "table", "-w", str(root)]) == 0
    capsys.readouterr()
    return root


def _sql(root: Path, *stmts: str) -> None:
    with Workspace.open(root) as w, w.store.engine.begin() as c:
        for sql in stmts:
            c.execute(text(sql))


DELETE_RB2 = ("DELETE FROM data_keys WHERE name = 'rb' AND version = 2",
              "DELETE FROM object_versions WHERE name = 'rb' AND version = 2")


def _get(root: Path, ref: str, out: Path, capsys) -> tuple[int, str]:
    code = run(["vault", "get", ref, "-o", str(out), "-w", str(root)])
    cap = capsys.readouterr()
    return code, " ".join((cap.out + cap.err).split())


def test_intact(rb: Path, tmp_path: Path, capsys) -> None:
    assert _get(rb, "rb", tmp_path / "o", capsys)[0] == 0
    assert (tmp_path / "o").read_bytes() == b"version 2"
    assert run(["vault", "verify", "-w", str(rb)]) == 0


def test_deleting_the_latest_version_is_detected(rb: Path, tmp_path: Path, capsys) -> None:
    _sql(rb, *DELETE_RB2)
    code, out = _get(rb, "rb", tmp_path / "o", capsys)
    assert code == 5 and "rolled back" in out and "signed version 2" in out
    assert not (tmp_path / "o").exists()
    code = run(["vault", "verify", "-w", str(rb)])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 5 and "rb@2" in out
    # the explicit older version is still what it says it is
    assert _get(rb, "rb@1", tmp_path / "o1", capsys)[0] == 0
    assert (tmp_path / "o1").read_bytes() == b"version 1"
    # and a new put cannot paper over the gap with a fresh rb@2
    f = tmp_path / "new.txt"
    f.write_bytes(b"other")
    assert run(["vault", "put", "rb", str(f), "--kind", "table", "-w", str(rb)]) == 5


def test_library_get_and_missing_explicit_version(rb: Path) -> None:
    _sql(rb, *DELETE_RB2)
    with Workspace.open(rb) as w:
        with pytest.raises(IntegrityError, match="rolled back"):
            w.vault.manifest("rb")
        with pytest.raises(IntegrityError, match="rolled back"):
            w.vault.manifest("rb@2")
        with pytest.raises(NotFoundError):
            w.vault.manifest("rb@3")  # never existed: not found, as before


def test_deleting_every_version_of_a_name_is_detected(rb: Path, tmp_path: Path, capsys) -> None:
    _sql(rb, "DELETE FROM data_keys WHERE name = 'rb'", "DELETE FROM object_versions WHERE name = 'rb'")
    assert _get(rb, "rb", tmp_path / "o", capsys)[0] == 5
    assert run(["vault", "verify", "-w", str(rb)]) == 5


def test_a_gap_in_the_versions_is_reported(rb: Path, capsys) -> None:
    _sql(rb, "DELETE FROM data_keys WHERE name = 'rb' AND version = 1",
         "DELETE FROM object_versions WHERE name = 'rb' AND version = 1")
    assert run(["vault", "verify", "-w", str(rb)]) == 5
    assert "rb@1" in capsys.readouterr().out


def test_rolling_back_the_signed_heads_too_is_detected(rb: Path, tmp_path: Path, capsys) -> None:
    """Deleting rb@2 and rewriting the map stored with the checkpoints breaks their signature;
    deleting those checkpoints leaves the head file, which still names rb@2."""
    _sql(rb, *DELETE_RB2, "UPDATE audit_checkpoint_meta SET heads = replace(heads, '\"rb\"\\:2', "
                             "'\"rb\"\\:1')")
    assert _get(rb, "rb", tmp_path / "o", capsys)[0] == 5
    _sql(rb, "DELETE FROM audit_checkpoint_meta", "DELETE FROM audit_checkpoints")
    code, out = _get(rb, "rb", tmp_path / "o", capsys)
    assert code == 5 and "head file" in out
    assert run(["audit-log", "verify", "-w", str(rb)]) == 5  # the checkpoints' removal, too


def test_sessions_after_a_rollback_never_sign_the_rolled_back_heads(rb: Path, tmp_path, capsys) -> None:
    _sql(rb, *DELETE_RB2)
    for _ in range(2):  # each command is audited and sealed: none may sign "rb: 1"
        assert _get(rb, "rb", tmp_path / "o", capsys)[0] == 5
        assert run(["audit-log", "show", "-w", str(rb)]) == 0
    assert _get(rb, "rb", tmp_path / "o", capsys)[0] == 5
    with Workspace.open(rb) as w:
        assert w.vault.signed_heads is not None and w.vault.signed_heads()[1]["rb"] == 2


def test_a_version_written_in_this_session_reads_before_its_checkpoint(
        tmp_path: Path, make_workspace) -> None:
    with make_workspace(tmp_path / "ws") as w:
        w.vault.put("fresh", b"a", kind="table")
        w.vault.put("fresh", b"b", kind="table")
        assert w.vault.get("fresh") == b"b"
        assert all(r.ok for r in w.vault.verify())
