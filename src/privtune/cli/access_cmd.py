"""``privtune access ...``: users, roles and API keys; ``whoami``; the role matrix."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from privtune.access import admin
from privtune.access.roles import MATRIX, OPERATIONS, ROLES
from privtune.cli.common import WorkspaceOpt, YesOpt, confirm, console, open_workspace
from privtune.store.access_models import ApiKey

app = typer.Typer(help="Users, roles and API keys.", no_args_is_help=True)


def _show_key(issued) -> None:
    exp = issued.expires_at.isoformat(timespec="seconds") if issued.expires_at else "never"
    console.print(f"user {issued.handle} ({issued.role}), key id {issued.key_id}, expires {exp}")
    console.print(f"API key (shown once, store it now): [bold]{issued.secret}[/]")


@app.command("add-user")
def add_user(handle: str = typer.Argument(..., help="Login handle (a-z, 0-9, . _ -)."),
             role: str = typer.Option(..., "--role", "-r", help=f"One of: {', '.join(ROLES)}."),
             expires_days: float = typer.Option(None, "--expires-days", help="Key lifetime in days."),
             workspace: Path = WorkspaceOpt) -> None:
    """Create a user with a role and print its first API key once."""
    with open_workspace(workspace) as ws:
        _show_key(admin.add_user(ws.access, ws.store, handle, role, expires_days=expires_days))


@app.command("issue-key")
def issue_key(handle: str, expires_days: float = typer.Option(None, "--expires-days"),
              workspace: Path = WorkspaceOpt) -> None:
    """Issue another API key for a user (printed once)."""
    with open_workspace(workspace) as ws:
        _show_key(admin.issue_key(ws.access, ws.store, handle, expires_days=expires_days))


@app.command("revoke-key")
def revoke_key(key_id: str, yes: bool = YesOpt, workspace: Path = WorkspaceOpt) -> None:
    """Revoke an API key by its key id (the 12 hex characters after 'ptk_'); asks first unless
    --yes."""
    confirm(f"Revoking API key {key_id} is for good (issue a new one with `privtune access issue-key`).", yes)
    with open_workspace(workspace) as ws:
        admin.revoke_key(ws.access, ws.store, key_id)
        console.print(f"revoked key {key_id}")


@app.command("set-role")
def set_role(handle: str, role: str, workspace: Path = WorkspaceOpt) -> None:
    """Change a user's role."""
    with open_workspace(workspace) as ws:
        admin.set_role(ws.access, ws.store, handle, role)
        console.print(f"{handle} is now {role}")


@app.command("users")
def users(workspace: Path = WorkspaceOpt) -> None:
    """List users and their keys (ids, expiry, revocation; never secrets)."""
    with open_workspace(workspace) as ws:
        table = Table()
        for col in ("user", "id", "role", "key id", "expires", "revoked"):
            table.add_column(col)
        for user, keys in admin.list_users(ws.access, ws.store):
            shown: list[ApiKey | None] = [*keys] or [None]
            for k in shown:
                table.add_row(user.handle, user.id, user.role, k.key_id if k else "",
                              k.expires_at.strftime("%Y-%m-%d %H:%M") if k and k.expires_at else "",
                              "yes" if k and k.revoked_at else "")
        console.print(table)


@app.command("whoami")
def whoami(workspace: Path = WorkspaceOpt) -> None:
    """Show the identity the CLI acts as."""
    with open_workspace(workspace) as ws:
        p = ws.guard("metadata.read", "identity", action="whoami")  # refused with no identity
        console.print(f"{p.handle} ({p.role}), user {p.user_id}, key {p.key_id}")


@app.command("lockdown")
def lockdown(state: str = typer.Argument(..., help="on (admin) or off (break-glass admin)."),
             workspace: Path = WorkspaceOpt) -> None:
    """Enter or leave a lockdown: while on, only a break-glass admin may act; every other role
    keeps only metadata.read and audit.read."""
    from privtune.errors import InputError

    if state not in ("on", "off"):
        raise InputError("lockdown takes 'on' or 'off'", field="state")
    with open_workspace(workspace) as ws:
        admin.set_lockdown(ws.access, ws.store, state == "on")
    console.print(f"lockdown {state}")


@app.command("matrix")
def matrix() -> None:
    """Print the role x operation matrix."""
    table = Table(title="role x operation")
    table.add_column("operation")
    for r in ROLES:
        table.add_column(r, justify="center")
    for op in OPERATIONS:
        table.add_row(op, *("yes" if op in MATRIX[r] else "-" for r in ROLES))
    console.print(table)
    console.print("during a lockdown (`privtune access lockdown on`): break-glass holds every "
                  "operation; every other role keeps only metadata.read and audit.read")
