"""``privtune init`` and ``privtune status``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from privtune.cli.common import WorkspaceOpt, console, open_workspace
from privtune.workspace import Workspace, init_workspace


def show_initial_key(ws: Workspace) -> None:
    """Print the first admin's API key once, and the audit log's pinned public key."""
    from privtune.vault.wskeys import fingerprint

    pub = ws.pinned_public_key()
    if pub is not None:
        console.print(f"audit-log public key (pinned in privtune.yaml): {ws.config.audit_public_key}",
                      highlight=False)
        console.print(f"audit-log key fingerprint: {fingerprint(pub)}  (keep a copy outside the "
                      "workspace)", highlight=False)
    if ws.initial_key is None:
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
        key_file: Path = typer.Option(
            None, "--key-file", help="Protect the vault with this key file (created if missing) "
            "instead of a passphrase."),
        transit_url: str = typer.Option(
            None, "--transit-url", help="Protect the vault with an OpenBao/Vault Transit key at this URL."),
        transit_key: str = typer.Option(None, "--transit-key", help="Transit key name (created if missing)."),
        transit_mount: str = typer.Option("transit", "--transit-mount", help="Transit mount path."),
        allow_weak_passphrase: bool = typer.Option(
            False, "--allow-weak-passphrase",
            help="Accept a passphrase that fails the strength check (12+ characters, hard to "
                 "guess); only for throwaway workspaces of synthetic data."),
    ) -> None:
        """Create a workspace: config, metadata database, encrypted vault, reports and runs folders.

        The vault key comes from a passphrase (PRIVTUNE_PASSPHRASE or a prompt) unless
        --key-file or --transit-url/--transit-key name another provider. A passphrase must be
        at least 12 characters and hard to guess (privtune.vault.strength).
        """
        from privtune.cli.keys_cmd import kek_spec
        from privtune.vault.kek import KekSpec, create_key_file

        if key_file is not None and not key_file.exists() and not (transit_url or transit_key):
            create_key_file(key_file)
            console.print(f"created key file {key_file}: back it up; without it the vault is unreadable")
        spec = kek_spec(key_file, transit_url, transit_key, transit_mount) or KekSpec()
        spec.allow_weak = allow_weak_passphrase
        ws = init_workspace(directory, name=name, db_url=db_url, kek=spec)
        root = ws.root.resolve()
        console.print(f"initialised privtune workspace [bold]{ws.config.name}[/] at {root}")
        console.print(f"use it with --workspace {root} or PRIVTUNE_WORKSPACE={root}")
        show_initial_key(ws)
        ws.close()

    @app.command("status")
    def status(
        runs: int = typer.Option(10, "--runs", help="How many of the latest runs to show."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Show what the workspace holds: the latest version of each vault object (crypto-shredded
        ones marked) and the latest runs."""
        from sqlalchemy import select

        from privtune.store import Run

        with open_workspace(workspace) as ws:
            objects = ws.vault.list()
            shredded = ws.vault.shredded()
            with ws.store.session() as s:
                latest_runs = list(s.scalars(select(Run).order_by(Run.started_at.desc()).limit(runs)))
            root = ws.root.resolve()
        table = Table(title=f"workspace {ws.config.name}")
        table.add_column("object", overflow="fold")
        table.add_column("kind")
        table.add_column("size", justify="right")
        table.add_column("created (UTC)", no_wrap=True)
        latest: dict[str, Any] = {}
        for row in objects:
            latest[row.name] = row
        for row in latest.values():
            gone = row.ref in shredded
            table.add_row(row.ref + (" (shredded)" if gone else ""), row.kind,
                          "—" if gone else f"{row.size:,}", row.created_at.strftime("%Y-%m-%d %H:%M"))
        console.print(table, highlight=False)
        n_shred = len(shredded)
        console.print(f"{len(objects)} object versions in the vault"
                      + (f", {n_shred} crypto-shredded (data key destroyed)" if n_shred else ""),
                      highlight=False)
        if latest_runs:
            rt = Table(title="runs (latest first)")
            rt.add_column("run", overflow="fold")
            rt.add_column("kind")
            rt.add_column("status")
            rt.add_column("started (UTC)", no_wrap=True)
            rt.add_column("outputs", overflow="fold")
            for r in latest_runs:
                rt.add_row(r.id, r.kind, r.status, r.started_at.strftime("%Y-%m-%d %H:%M"),
                           ", ".join(str(o) for o in (r.outputs or [])))
            console.print(rt, highlight=False)
        else:
            console.print("no runs yet", highlight=False)
        console.print(f"workspace: {root}", highlight=False)
