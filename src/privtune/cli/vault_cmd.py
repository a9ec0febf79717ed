"""``privtune vault ...``: list the versioned objects of the vault."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from privtune.cli.common import WorkspaceOpt, console, open_workspace

app = typer.Typer(help="Inspect the vault's versioned objects.", no_args_is_help=True)


@app.command("ls")
def ls(workspace: Path = WorkspaceOpt) -> None:
    """List every object version with its kind, size, hash and parents."""
    with open_workspace(workspace) as ws:
        table = Table()
        for col in ("object", "kind", "size", "sha256", "parents"):
            table.add_column(col, justify="right" if col == "size" else "left")
        for row in ws.vault.list():
            table.add_row(row.ref, row.kind, f"{row.size:,}", row.sha256[:16], ", ".join(row.parents))
        console.print(table)
