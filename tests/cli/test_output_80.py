"""Issue 18: the CLI read at 80 columns. ``--help`` wraps at word boundaries and shows no
``<bool>`` next to a flag; ``status`` lists the latest objects (shredded ones marked) and runs;
``audit-log show`` names people by handle, filters by handle and wraps instead of truncating.
The outputs are compared with snapshots in tests/cli/snapshots/ (dates, ids and paths
normalised); ``PRIVTUNE_UPDATE_SNAPSHOTS=1`` rewrites them after an intended change."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from privtune.cli import common
from privtune.cli.main import get_command, run

SNAPSHOTS = Path(__file__).with_name("snapshots")
WIDTH = 80


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    monkeypatch.setenv("TERMINAL_WIDTH", str(WIDTH))
    for con in (common.console, common.err_console):
        monkeypatch.setattr(con, "width", WIDTH)


def _fits(text: str) -> None:
    wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not wide, f"lines wider than {WIDTH} columns: {wide}"


def _normalise(text: str, root: Path | None = None) -> str:
    if root is not None:
        # the temp path's length differs between runs and pytest-xdist workers, so where it
        # wraps does too: match it across line breaks and keep it on the label's line
        folded = "\n?".join(re.escape(c) for c in str(root.resolve()))
        text = re.sub(r"[ \n]*" + folded, " <WS>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?", "<DATE>", text)
    text = re.sub(r"\b\d\d-\d\d \d\d:\d\d:\d\d\b", "<TIME>", text)
    return text


def _snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("PRIVTUNE_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed: compare with {path} (PRIVTUNE_UPDATE_SNAPSHOTS=1 rewrites it)")


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["audit-log", "show", "--help"]],
                         ids=lambda a: "-".join(a[:-1]) or "root")
def test_help_at_80_columns(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv) == 0
    out = capsys.readouterr().out
    _fits(out)
    assert "<bool>" not in out
    _snapshot("help-" + ("-".join(argv[:-1]) or "root"), out)


def test_no_help_text_keeps_source_line_breaks() -> None:
    """Every docstring paragraph is one line (the help wraps it at the terminal's width), and
    no flag anywhere shows a ``<bool>`` type."""
    def walk(cmd):
        yield cmd
        for sub in getattr(cmd, "commands", {}).values():
            yield from walk(sub)

    for cmd in walk(get_command()):
        for para in (cmd.help or "").split("\n\n"):
            assert para.startswith("\b") or "\n" not in para, (cmd.name, para)


def test_status_marks_shredded_objects_and_lists_runs(workspace, monkeypatch, test_admin_key,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from privtune.access.apikeys import ENV_API_KEY
    from privtune.store import Run

    ws = workspace
    ws.vault.put("notes", b"first", kind="blob")
    ws.vault.put("notes", b"second", kind="blob")
    ws.vault.put("scratch-object-with-a-rather-long-name", b"x" * 10, kind="blob")
    ws.vault.shred("scratch-object-with-a-rather-long-name@1")
    with ws.store.session() as s:
        s.add(Run(id="run-20261201-0001", kind="train", status="finished",
                  outputs=["adapter@1"], config={}, metrics={}))
        s.commit()
    root = ws.root
    ws.close()
    monkeypatch.setenv(ENV_API_KEY, test_admin_key)
    assert run(["status", "-w", str(root)]) == 0
    out = capsys.readouterr().out
    _fits(out)
    assert "notes@2" in out and "notes@1" not in out  # the latest version of each object
    assert "(shredded)" in out and "crypto-shredded" in out
    assert "run-20261201-0001" in out and "adapter@1" in out
    assert str(root.resolve()) in out.replace("\n", "")  # the workspace's absolute path
    _snapshot("status", _normalise(out, root))


def test_audit_log_show_at_80_columns_by_handle(workspace, monkeypatch, test_admin_key,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from privtune.access import admin
    from privtune.access.apikeys import ENV_API_KEY

    ws = workspace
    issued = admin.add_user(ws.access, ws.store, "alice.martin", "ml-engineer")
    root = ws.root
    ws.close()
    from privtune.workspace import Workspace

    with Workspace.open(root, api_key=issued.secret) as as_alice:
        as_alice.vault.list()
        try:
            as_alice.vault.put("employees", b"x", kind="table")
        except Exception:  # refused or allowed: either way an event with a reason or a ref
            pass
    monkeypatch.setenv(ENV_API_KEY, test_admin_key)
    assert run(["audit-log", "show", "-w", str(root)]) == 0
    out = capsys.readouterr().out
    _fits(out)
    assert "…" not in out, "a column was truncated instead of wrapped"
    assert "alice.martin" in out and "u-" not in out  # handles, not ids
    _snapshot("audit-log-show", _normalise(out, root))

    assert run(["audit-log", "show", "--actor", "alice.martin", "-w", str(root)]) == 0
    mine = capsys.readouterr().out
    rows = [line for line in mine.splitlines() if re.match(r"^\s*\d+\s+\d\d-\d\d ", line)]
    assert rows and all("alice.martin" in line for line in rows)

    assert run(["audit-log", "show", "--actor", "nobody-here", "-w", str(root)]) == 4
    capsys.readouterr()

    assert run(["audit-log", "show", "--wide", "-n", "3", "-w", str(root)]) == 0
    wide = capsys.readouterr().out
    assert "user id" in wide and "u-" in wide
