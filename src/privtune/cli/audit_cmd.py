"""``privtune audit-log ...``: verify the chain, show events with filters, export, checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.table import Table

from privtune.audit import api
from privtune.audit.query import EventFilter
from privtune.cli.common import WorkspaceOpt, console, open_workspace
from privtune.errors import IntegrityError
from privtune.fsutil import atomic_write_text

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _filter(actor, op, obj, outcome, since, until, limit) -> EventFilter:
    return EventFilter(actor=actor, op=op, object=obj, outcome=outcome, since=since, until=until,
                       limit=limit)


ActorOpt = typer.Option(None, "--actor", help="User handle (or id u-...), or '-' for no identity.")
OpOpt = typer.Option(None, "--op", help="Operation, or a prefix like 'data.*'.")
ObjOpt = typer.Option(None, "--object", help="Object name or name@version.")
OutcomeOpt = typer.Option(None, "--outcome", help="allow or deny.")
SinceOpt = typer.Option(None, "--since", help="From this UTC date/time (ISO).")
UntilOpt = typer.Option(None, "--until", help="Before this UTC date/time (ISO).")


@app.command("verify")
def verify(anchor: str = typer.Option("", "--anchor", help="Compare with this anchor "
                                      "('file:/PATH') instead of the configured audit_anchor."),
           workspace: Path = WorkspaceOpt) -> None:
    """Check the hash chain, the signed checkpoints, the head file and the anchor; name the
    first bad position."""
    with open_workspace(workspace) as ws:
        report = api.verify(ws.guard, ws.audit, ws.pinned_public_key(), ws.keys.public_key,
                            anchor=anchor)
        if not report.ok:  # raised inside the block: the report, not a closing error, is shown
            raise IntegrityError(report.line())
    console.print(report.line())


def _handles(ws) -> dict[str, str]:
    """User id -> handle (handles are what people know each other by)."""
    from sqlalchemy import select

    from privtune.store.access_models import User

    with ws.store.session() as s:
        return {uid: handle for uid, handle in s.execute(select(User.id, User.handle))}


def _actor_id(ws, actor: str | None) -> str | None:
    """``--actor`` takes a handle, a user id (u-...) or '-'."""
    if actor is None or actor == "-" or actor.startswith("u-"):
        return actor
    ws.guard("audit.read", "audit-log", action="actor-handle")  # before the users are read
    by_handle = {h: uid for uid, h in _handles(ws).items()}
    if actor not in by_handle:
        from privtune.errors import NotFoundError
        raise NotFoundError(f"no user with the handle '{actor}' (privtune access list)")
    return by_handle[actor]


@app.command("show")
def show(actor: str = ActorOpt, op: str = OpOpt, obj: str = ObjOpt, outcome: str = OutcomeOpt,
         since: str = SinceOpt, until: str = UntilOpt,
         limit: int = typer.Option(50, "--limit", "-n", help="The last N matching events."),
         wide: bool = typer.Option(False, "--wide", help="One line per event with every column "
                                   "(role and user id too), for wide terminals and files."),
         workspace: Path = WorkspaceOpt) -> None:
    """Show events (the last --limit matching the filters): who (by handle) did what to which
    object, allowed or denied and why; long values wrap at 80 columns."""
    with open_workspace(workspace) as ws:
        events = api.show(ws.guard, ws.store, _filter(None, op, obj, outcome, since, until, limit)
                          if actor is None else
                          _filter(_actor_id(ws, actor), op, obj, outcome, since, until, limit))
        handles = _handles(ws)
    if wide:
        table = Table(box=None)
        for col in ("seq", "time (UTC)", "actor", "user id", "role", "op", "object", "outcome",
                    "reason"):
            table.add_column(col, no_wrap=True)
        for e in events:
            table.add_row(str(e.seq), e.ts[:19].replace("T", " "), handles.get(e.actor, e.actor),
                          e.actor, e.role, e.op, e.object, e.outcome, e.reason)
        console.width = max(console.width, 200)
        console.print(table, soft_wrap=True)
        return
    # 80 columns: no vertical rules, the short columns never wrap, the long ones wrap at words
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("seq", justify="right", no_wrap=True)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("who", no_wrap=True)
    table.add_column("op", no_wrap=True)
    table.add_column("object", overflow="fold", ratio=1)
    table.add_column("outcome", overflow="fold", ratio=1)
    for e in events:
        who = handles.get(e.actor, e.actor) + (f"\n({e.role})" if e.role and e.role != "-" else "")
        outcome = e.outcome + (f": {e.reason}" if e.reason else "")
        table.add_row(str(e.seq), e.ts[5:19].replace("T", " "), who, e.op, e.object, outcome)
    console.print(table, highlight=False)


@app.command("export")
def export(fmt: str = typer.Option("jsonl", "--format", "-f", help="jsonl or csv."),
           out: Path = typer.Option(None, "--out", "-o", help="File to write (default: stdout)."),
           actor: str = ActorOpt, op: str = OpOpt, obj: str = ObjOpt, outcome: str = OutcomeOpt,
           since: str = SinceOpt, until: str = UntilOpt, workspace: Path = WorkspaceOpt) -> None:
    """Export events (with their hashes) as JSON Lines or CSV."""
    with open_workspace(workspace) as ws:
        text = api.export(ws.guard, ws.store, fmt, _filter(None, op, obj, outcome, since, until, None)
                          if actor is None else
                          _filter(_actor_id(ws, actor), op, obj, outcome, since, until, None))
    if out is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_text(out, text)
        console.print(f"wrote {out}")


@app.command("checkpoint")
def checkpoint(workspace: Path = WorkspaceOpt) -> None:
    """Sign a checkpoint at the current head of the log now."""
    with open_workspace(workspace) as ws:
        seq = api.checkpoint(ws.guard, ws.audit)
    console.print(f"signed checkpoint at event {seq}")
