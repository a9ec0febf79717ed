"""``privtune init`` and ``privtune status``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from privtune.cli.common import WorkspaceOpt, console, open_workspace
from privtune.workspace import Workspace, init_workspace


def show_initial_key(ws: Workspace) -> None:
    """Print the first admin's API key once (unless it was provisioned by the environment)."""
    import os

    from privtune.access.apikeys import ENV_BOOTSTRAP_KEY

    if ws.initial_key is None:
        return
    if os.environ.get(ENV_BOOTSTRAP_KEY):
        console.print(f"admin API key: provisioned from ${ENV_BOOTSTRAP_KEY} (key id {ws.initial_key.key_id})")
        return
    console.print(f"admin API key (shown once, store it now): [bold]{ws.initial_key.secret}[/]")
    console.print("act as admin with: export PRIVTUNE_API_KEY=<that key>")


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
        show_initial_key(ws)
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
