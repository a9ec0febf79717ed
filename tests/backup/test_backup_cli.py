"""The backup and incident commands end to end (in-process CLI): drill, verify, a flipped byte,
restore; incident open / report / list."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from privtune import backup
from privtune.backup.repo import Repo
from privtune.cli.main import run


@pytest.mark.slow  # a full backup, verify and two restores
def test_drill_verify_restore_from_the_cli(workspace, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(backup.ENV_BACKUP_PASSPHRASE, "backup passphrase for the tests")
    workspace.vault.put("employees", b"employee_id\nE00001\n", kind="table")
    root = str(workspace.root)
    workspace.close()
    repo, out = tmp_path / "repo", tmp_path / "drill.json"
    assert run(["backup", "drill", "--to", str(repo), "-w", root, "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["recovery_s"] > 0 and figures["chunks_verified"] > 0
    assert "drill passed" in capsys.readouterr().out
    assert run(["backup", "verify", str(repo)]) == 0
    assert run(["backup", "list", str(repo)]) == 0
    assert run(["backup", "restore", str(repo), str(tmp_path / "restored")]) == 0
    assert run(["vault", "verify", "-w", str(tmp_path / "restored")]) == 0
    assert run(["audit-log", "verify", "-w", str(tmp_path / "restored")]) == 0
    r = Repo.open(repo, b"backup passphrase for the tests")
    chunk = r.chunk_path(sorted(r.chunk_ids())[0])
    raw = bytearray(chunk.read_bytes())
    raw[20] ^= 0x10
    chunk.write_bytes(bytes(raw))
    assert run(["backup", "verify", str(repo)]) == 5  # IntegrityError's exit code
    assert "failed authentication" in capsys.readouterr().out


def test_incident_commands(workspace, capsys) -> None:
    root = str(workspace.root)
    workspace.close()
    aware = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0, tzinfo=None)
    assert run(["incident", "open", "--severity", "medium", "--aware-at", aware.isoformat(),
                "--summary", "suspicious export", "-w", root]) == 0
    assert run(["incident", "report", "-w", root]) == 0
    out = capsys.readouterr().out
    assert (aware + timedelta(hours=72)).isoformat() in out  # the deadline: aware_at + 72 h
    assert run(["incident", "list", "-w", root]) == 0
    assert run(["incident", "close", "--lessons", "none yet", "-w", root]) == 0
    assert run(["incident", "close", "--lessons", "again", "-w", root]) == 4  # no open incident
