"""``privtune lineage OBJECT`` (upstream and downstream) and ``--subject EMPLOYEE_ID``."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace
from privtune.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command("lineage")
    def lineage(
        obj: str = typer.Argument(None, help="Object name or name@version."),
        subject: str = typer.Option(None, "--subject", help="Employee id: every object whose "
                                    "data included this employee (looked up by keyed hash)."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Show where an artefact came from and what was made from it."""
        from privtune.lineage import lineage_of

        if (obj is None) == (subject is None):
            raise InputError("give either an OBJECT or --subject EMPLOYEE_ID")
        with open_workspace(workspace) as ws:
            if subject is not None:
                hits = ws.subjects().find(subject)
                if not hits.direct:
                    console.print("no object holds data on this employee")
                    return
                console.print("holding the employee's data:")
                for r in hits.direct:
                    console.print(f"  {r}")
                console.print("derived from it:")
                for r in hits.derived:
                    console.print(f"  {r}")
                return
            g = lineage_of(ws.vault, obj)
        console.print(f"[bold]{g.ref}[/] ({g.kinds.get(g.ref, '?')})")
        console.print("upstream:")
        for r in g.upstream():
            console.print(f"  {r} ({g.kinds.get(r, '?')})")
        console.print("downstream:")
        for r in g.downstream():
            console.print(f"  {r} ({g.kinds.get(r, '?')})")
