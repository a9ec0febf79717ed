"""``privtune alerts ...``: access-anomaly alerts over the audit log (scan, list, explain, ack)."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace
from privtune.ops import alerts
from privtune.pipeline.site import alert_site

app = typer.Typer(help="Access-anomaly alerts over the audit log.", no_args_is_help=True)


def _line(r) -> str:
    return (f"{r.id}  {r.rule:<14} key {r.key:<14} events {r.first_seq}-{r.last_seq}  "
            f"{r.window_start:%Y-%m-%d %H:%M}  score {r.score:.1f}  {r.status}")


@app.command("scan")
def scan(syslog: bool = typer.Option(False, "--syslog", help="Also send new alerts to syslog."),
         workspace: Path = WorkspaceOpt) -> None:
    """Run the detector over the audit log; new alerts are stored and audited."""
    with open_workspace(workspace) as ws:
        new = alerts.scan(alert_site(ws), syslog=syslog)
    for r in new:
        console.print(_line(r), highlight=False, markup=False)
    console.print(f"{len(new)} new alert(s)")


@app.command("list")
def list_(all_: bool = typer.Option(False, "--all", help="Include acknowledged alerts."),
          workspace: Path = WorkspaceOpt) -> None:
    """List open (or all) alerts."""
    with open_workspace(workspace) as ws:
        rows = alerts.list_alerts(alert_site(ws), include_acked=all_)
    for r in rows:
        console.print(_line(r), highlight=False, markup=False)


@app.command("explain")
def explain(alert_id: str, workspace: Path = WorkspaceOpt) -> None:
    """Show why an alert was raised: the figures, the baseline, the threshold."""
    with open_workspace(workspace) as ws:
        _, text = alerts.explain(alert_site(ws), alert_id)
    console.print(text, highlight=False, markup=False)


@app.command("ack")
def ack(alert_id: str, note: str = typer.Option("", "--note", help="Why (one line, no personal "
                                                "data)."),
        workspace: Path = WorkspaceOpt) -> None:
    """Acknowledge an alert."""
    with open_workspace(workspace) as ws:
        r = alerts.ack(alert_site(ws), alert_id, note)
    console.print(f"acknowledged {r.id}", highlight=False)
