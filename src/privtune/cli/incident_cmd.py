"""``privtune incident ...``: open, lockdown, report (GDPR Art. 33 / 34 drafts), close, list."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace
from privtune.errors import InputError
from privtune.ops import incident as inc
from privtune.pipeline.site import ops_site

app = typer.Typer(help="Security incidents: open, lockdown, breach report, close.",
                  no_args_is_help=True)

IdArg = typer.Argument(None, help="Incident id (default: the newest open one).")


@app.command("open")
def open_(severity: str = typer.Option(..., "--severity", help=", ".join(inc.SEVERITIES)),
          aware_at: str = typer.Option(None, "--aware-at", help="When the controller became aware "
                                       "(ISO 8601; default now): the 72-hour clock starts here."),
          summary: str = typer.Option("", "--summary", help="What happened, one line, no personal "
                                      "data."),
          contact: str = typer.Option("", "--contact", help="The DPO's contact point (a role "
                                      "account)."),
          objects: list[str] = typer.Option([], "--object", help="Affected object (repeatable; "
                                            "default: the whole vault)."),
          workspace: Path = WorkspaceOpt) -> None:
    """Record a new incident (incident.manage)."""
    with open_workspace(workspace) as ws:
        when = None
        if aware_at:
            try:
                when = datetime.fromisoformat(aware_at)
            except ValueError:
                raise InputError("--aware-at must be an ISO 8601 date-time", field="aware_at") from None
        row = inc.open_incident(ops_site(ws), severity, summary=summary, contact=contact,
                                aware_at=when, objects=objects)
    console.print(f"opened {row.id} ({row.severity}), aware at {row.aware_at:%Y-%m-%d %H:%M} UTC",
                  highlight=False)


@app.command("lockdown")
def lockdown(incident_id: str = IdArg,
             new_passphrase: bool = typer.Option(False, "--new-passphrase", help="Rotate the KEK "
                                                 "to a new passphrase (PRIVTUNE_NEW_PASSPHRASE)."),
             workspace: Path = WorkspaceOpt) -> None:
    """Contain: revoke every API key but the break-glass admins', rotate the KEK, quarantine
    released models, freeze exports, enter the lockdown."""
    with open_workspace(workspace) as ws:
        m = inc.lockdown(ops_site(ws), incident_id, new_passphrase=new_passphrase)
    console.print(f"lockdown: {m['keys_revoked']} key(s) revoked, KEK now version "
                  f"{m['kek_version']} ({m['data_keys_rewrapped']} data keys re-wrapped), "
                  f"{len(m['releases_quarantined'])} release(s) quarantined, exports frozen; only "
                  f"break-glass ({m['break_glass_keys']} key(s)) may act", highlight=False)


@app.command("report")
def report(incident_id: str = IdArg, workspace: Path = WorkspaceOpt) -> None:
    """Write the GDPR Art. 33(3)(a-d) notification draft and the Art. 34 communication."""
    with open_workspace(workspace) as ws:
        path, text = inc.report(ops_site(ws), incident_id)
    console.print(text, markup=False, highlight=False)
    console.print(f"written to {path}", highlight=False)


@app.command("close")
def close(incident_id: str = IdArg,
          lessons: str = typer.Option(..., "--lessons", help="Lessons learned (no personal data)."),
          workspace: Path = WorkspaceOpt) -> None:
    """Close an incident with its lessons learned; exports thaw (the break-glass admin leaves the
    lockdown with `privtune access lockdown off`)."""
    with open_workspace(workspace) as ws:
        row = inc.close_incident(ops_site(ws), incident_id, lessons)
    console.print(f"closed {row.id}", highlight=False)


@app.command("list")
def list_(workspace: Path = WorkspaceOpt) -> None:
    """List incidents."""
    with open_workspace(workspace) as ws:
        for r in inc.list_incidents(ops_site(ws)):
            console.print(f"{r.id}  {r.severity:<8} {r.status:<9} aware {r.aware_at:%Y-%m-%d %H:%M}"
                          f"  {r.summary}", highlight=False, markup=False)
