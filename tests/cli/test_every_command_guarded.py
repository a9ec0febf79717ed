"""Issue 16, finding 2: every command goes through the guard, so the next one cannot forget.

The commands are found by walking the typer app (groups and commands), never listed by hand.
A command whose code opens a workspace (``open_workspace``) is run, in a scratch workspace
holding one object of each kind, as a ``viewer`` and with no API key: it must either be refused
(exit 7) with a deny event, or succeed having been allowed only read-only operations
(``metadata.read``), each with its audit event. A command that opens no workspace must be
declared in ``WORKSPACE_FREE`` with the reason, and its code may not open an existing workspace.

The library entry points are enumerated the same way in tests/access/test_entry_points_guarded.py.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import func, select

from privtune.access.apikeys import ENV_API_KEY
from privtune.cli.main import app, run
from privtune.store import ObjectVersion
from privtune.store.audit_models import AuditEvent
from privtune.store.ledger_models import SourceBudget
from privtune.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]

#: Commands that open no workspace, and why that is safe. (The test fails on a stale entry and
#: on a command that opens no workspace without one.)
WORKSPACE_FREE = {
    "init": "creates a new workspace; its first event is the bootstrap admin's, in that workspace",
    "demo": "creates its own workspace (init) and acts there as that workspace's admin",
    "synth-company": "writes a synthetic company to a directory; touches no workspace",
    "pii detect": "detects PII in a file the caller gives and writes the spans; no workspace",
    "dp epsilon": "pure accounting arithmetic on the numbers given",
    "access matrix": "prints the static role matrix",
    # issue 20: a backup repository is opened with its own passphrase, not a workspace
    "backup verify": "reads a backup repository with its passphrase; no workspace",
    "backup list": "lists a backup repository's signed snapshots; no workspace",
    "backup restore": "creates a new workspace from a backup (like init); backup.restore is "
                      "checked and audited inside the restored copy before it is put in place",
    # issue 24: the CLI through a running server (--server mode)
    "ask": "talks to a running privtune serve with the caller's API key; the server "
           "authenticates, checks model.query and audits; opens no workspace",
    # issue 18: the configs shipped inside the package
    "config list": "lists the configs shipped inside the package; no workspace",
    "config show": "prints a shipped config; no workspace",
    "config copy": "copies a shipped config to a file the caller names; no workspace",
    # issue 21
    "federated simulate": "creates its own site and coordinator workspaces (init) and acts "
                          "there as their admins, like demo",
}

#: Operations a viewer (or anyone) may be allowed by a command that then succeeds.
READ_ONLY = {"metadata.read"}


def _commands() -> Iterator[tuple[str, Any]]:
    def walk(cmd: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        subs = getattr(cmd, "commands", None)
        if subs is not None:
            for name, sub in sorted(subs.items()):
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), cmd

    yield from walk(typer.main.get_command(app), [])


COMMANDS = dict(_commands())


def _opens_workspace(cmd: Any) -> bool:
    return "open_workspace(" in inspect.getsource(cmd.callback)


GUARDED = sorted(name for name, cmd in COMMANDS.items() if _opens_workspace(cmd))


def test_the_inventory_is_complete() -> None:
    assert len(COMMANDS) >= 36  # the red team's count; walking the app must find them all
    free = {name for name, cmd in COMMANDS.items() if not _opens_workspace(cmd)}
    assert free == set(WORKSPACE_FREE), (
        "a command opens no workspace: declare it in WORKSPACE_FREE with the reason, or open "
        f"the workspace (and so the guard): {sorted(free ^ set(WORKSPACE_FREE))}")
    for name in GUARDED:
        assert "workspace" in {p.name for p in COMMANDS[name].params}, name


# ---- the scratch workspace -------------------------------------------------------------------
@pytest.fixture(scope="module")
def scratch(guard_scratch: dict[str, Any]) -> dict[str, Any]:
    """The scratch workspace of tests/conftest.py (``guard_scratch``), and the values given to
    the commands' parameters."""
    base, export, root = guard_scratch["base"], guard_scratch["export"], guard_scratch["root"]
    (base / "in.bin").write_bytes(b"payload")
    (base / "prompts.txt").write_text("hello\n")
    values = {
        "export_dir": str(export), "config": str(REPO / "configs" / "tiny-demo.yaml"),
        "model": "adapter", "prompts": str(base / "prompts.txt"), "out": str(base / "out"),
        "name": "notes", "file": str(base / "in.bin"), "ref": "employees@1",
        "output": str(base / "plain.out"), "version": "1", "handle": "v", "role": "admin",
        "key_id": "0123456789ab", "state": "on", "dataset": "trainset", "epsilon": "1e300",
        "target": "employees",
        "obj": "employees", "refs": "employees@1",
        "repo": str(base / "backup-repo"), "severity": "high", "lessons": "none",  # issue 20
        "alert_id": "al-0", "directory": str(base / "release"),  # verify-release
        # issue 19: data-subject requests
        "subject": "E00001", "request": "erq-0123456789abcdef",
        "field": "department", "value": "Finance",  # subject rectify
    }
    return {"root": root, "viewer": guard_scratch["viewer"], "values": values}


def _argv(name: str, values: dict[str, str], root: Path) -> list[str]:
    cmd = COMMANDS[name]
    argv = name.split()
    # optional but given: `refs`/`obj` reach the guarded path; `--epsilon` makes `dp budget` write
    for p in cmd.params:
        if p.name == "workspace" or (not p.required and p.name not in ("refs", "obj", "epsilon")):
            continue
        assert p.name in values, f"give the test a value for {name}'s parameter '{p.name}'"
        if p.param_type_name == "argument":
            argv.append(values[p.name])
        else:
            argv += [p.opts[0], values[p.name]]
    if any(p.name == "yes" for p in cmd.params):  # destructive commands confirm unless --yes
        argv.append("--yes")
    return [*argv, "-w", str(root)]


def _events(root: Path, after: int) -> list[AuditEvent]:
    with Workspace.open(root) as ws, ws.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.seq > after)
                              .order_by(AuditEvent.seq)))


def _head(root: Path) -> int:
    with Workspace.open(root) as ws, ws.store.session() as s:
        return s.scalar(select(func.max(AuditEvent.seq))) or 0


def _run_as(name: str, scratch: dict[str, Any], key: str | None,
            monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[AuditEvent]]:
    root = scratch["root"]
    if key is None:
        monkeypatch.delenv(ENV_API_KEY, raising=False)
    else:
        monkeypatch.setenv(ENV_API_KEY, key)
    before = _head(root)
    with open(os.devnull) as null:  # not a terminal: no key prompt; `chat` reads EOF
        monkeypatch.setattr("sys.stdin", null)
        code = run(_argv(name, scratch["values"], root))
    return code, _events(root, before)


def _judge(name: str, code: int, events: list[AuditEvent], role: str) -> None:
    mine = [e for e in events if e.op != "auth"]
    assert mine, f"`{name}` ran (exit {code}) without any audit event"
    assert all(e.role == role for e in mine), [(e.op, e.role) for e in mine]
    if code == 7:
        assert mine[-1].outcome == "deny", f"`{name}` refused without a deny event"
        assert all(e.outcome == "allow" and e.op in READ_ONLY for e in mine[:-1]), \
            [(e.op, e.outcome) for e in mine]
    else:
        assert code == 0, f"`{name}` failed with exit {code} instead of being refused (7)"
        assert all(e.outcome == "allow" and e.op in READ_ONLY for e in mine), \
            f"`{name}` succeeded after {[(e.op, e.outcome) for e in mine]}"


@pytest.mark.parametrize("name", GUARDED)
def test_every_command_as_a_viewer(name: str, scratch, monkeypatch: pytest.MonkeyPatch) -> None:
    code, events = _run_as(name, scratch, scratch["viewer"], monkeypatch)
    _judge(name, code, events, "viewer")


@pytest.mark.parametrize("name", GUARDED)
def test_every_command_without_a_key(name: str, scratch, monkeypatch: pytest.MonkeyPatch) -> None:
    code, events = _run_as(name, scratch, None, monkeypatch)
    _judge(name, code, events, "-")
    assert code == 7, f"`{name}` ran with no identity"


def test_the_viewer_changed_nothing(scratch) -> None:
    """After every command ran as a viewer and with no key: no object, user or budget more."""
    with Workspace.open(scratch["root"]) as ws, ws.store.session() as s:
        names = set(s.scalars(select(ObjectVersion.name)))
        budgets = s.scalars(select(SourceBudget)).all()
    assert names == {"pseudonym-key", "employees", "employees-deid", "trainset", "valset",
                     "adapter"}
    assert not list((scratch["root"] / "models").iterdir()), "a base model was built"
    assert not budgets, "a privacy budget was set"


@pytest.mark.parametrize("name", sorted(WORKSPACE_FREE))
def test_workspace_free_commands_open_no_workspace(name: str) -> None:
    """Their source never opens an existing workspace (``init``/``demo`` create their own)."""
    cmd = COMMANDS[name]
    assert not _opens_workspace(cmd)
    assert "Workspace.open(" not in inspect.getsource(cmd.callback)
