"""``privtune init`` and ``privtune status``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from privtune.cli.common import WorkspaceOpt, console, open_workspace
from privtune.workspace import init_workspace


def register(app: typer.Typer) -> None:
    @app.command("init")
    def init(
        directory: Path = typer.Argument(..., help="Directory to create the workspace in."),
        name: str = typer.Option(None, help="Workspace name (default: the directory name)."),
        db_url: str = typer.Option(
            None, "--db-url", help="SQLAlchemy URL of the metadata store (default: SQLite inside)."
        ),
    ) -> None:
        """Create a workspace: config, metadata database, vault, reports and runs folders."""
        ws = init_workspace(directory, name=name, db_url=db_url)
        console.print(f"initialised privtune workspace [bold]{ws.config.name}[/] at {ws.root}")
        console.print(f"use it with --workspace {ws.root} or PRIVTUNE_WORKSPACE={ws.root}")
        ws.close()

    @app.command("status")
    def status(workspace: Path = WorkspaceOpt) -> None:
        """Show what the workspace holds: vault objects and runs."""
        with open_workspace(workspace) as ws:
            objects = ws.vault.list()
            table = Table(title=f"workspace {ws.config.name} ({ws.root})")
            table.add_column("object")
            table.add_column("kind")
            table.add_column("size", justify="right")
            table.add_column("created (UTC)")
            latest: dict[str, object] = {}
            for row in objects:
                latest[row.name] = row
            for row in latest.values():
                table.add_row(row.ref, row.kind, f"{row.size:,}", row.created_at.strftime("%Y-%m-%d %H:%M"))
            console.print(table)
            console.print(f"{len(objects)} object versions in the vault")
