"""``privtune keys ...``: KEK status, rotation (re-wrap, or re-encrypt with --data), retirement."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from privtune.cli.common import WorkspaceOpt, YesOpt, confirm, console, open_workspace
from privtune.vault.kek import KekSpec

app = typer.Typer(help="Manage the vault's key-encryption keys.", no_args_is_help=True)


def kek_spec(key_file: Path | None, transit_url: str | None, transit_key: str | None,
             transit_mount: str, new_passphrase: bool = False) -> KekSpec | None:
    """The KekSpec the options ask for, or None (keep / default to a passphrase)."""
    if transit_url or transit_key:
        return KekSpec("transit", transit_url=transit_url, transit_key=transit_key, transit_mount=transit_mount)
    if key_file is not None:
        return KekSpec("keyfile", key_file=str(key_file))
    if new_passphrase:
        return KekSpec("passphrase", new_passphrase=True)
    return None


@app.command("status")
def status(workspace: Path = WorkspaceOpt) -> None:
    """List KEK versions: provider, state, how many data keys each wraps."""
    with open_workspace(workspace) as ws:
        ws.guard("metadata.read", "keyring", action="keys-status")
        infos = ws.vault.keyring.status()
    table = Table()
    for col in ("version", "provider", "status", "data keys", "created (UTC)", "parameters"):
        table.add_column(col)
    for i in infos:
        table.add_row(str(i.version), i.provider, i.status, str(i.data_keys),
                      i.created_at.strftime("%Y-%m-%d %H:%M"), i.detail)
    console.print(table)


@app.command("rotate")
def rotate(
    data: bool = typer.Option(False, "--data", help="Also re-encrypt every payload under fresh data keys."),
    new_passphrase: bool = typer.Option(
        False, "--new-passphrase", help="Switch to a new passphrase (PRIVTUNE_NEW_PASSPHRASE or a prompt)."),
    key_file: Path = typer.Option(None, "--key-file", help="Switch to this key file."),
    transit_url: str = typer.Option(None, "--transit-url", help="Switch to a Transit engine at this URL."),
    transit_key: str = typer.Option(None, "--transit-key", help="Transit key name."),
    transit_mount: str = typer.Option("transit", "--transit-mount", help="Transit mount path."),
    allow_weak_passphrase: bool = typer.Option(
        False, "--allow-weak-passphrase", help="Accept a new passphrase that fails the strength check."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Create a new KEK version and re-wrap every data key under it (payloads untouched)."""
    spec = kek_spec(key_file, transit_url, transit_key, transit_mount, new_passphrase)
    if spec is not None:
        spec.allow_weak = allow_weak_passphrase
    with open_workspace(workspace) as ws:
        ws.guard("key.write", "keyring", action="rotate-data" if data else "rotate")
        version, n = ws.vault.keyring.rotate(spec)
        console.print(f"KEK version {version} active; {n} data keys re-wrapped")
        if data:
            m = ws.vault.reencrypt_all()
            console.print(f"{m} object versions re-encrypted under fresh data keys")
    console.print("retire old versions with `privtune keys retire VERSION`")


@app.command("retire")
def retire(
    version: int = typer.Argument(..., help="KEK version to retire (not the active one)."),
    yes: bool = YesOpt,
    workspace: Path = WorkspaceOpt,
) -> None:
    """Erase an old KEK version's parameters so it can never unwrap anything again (asks first
    unless --yes)."""
    with open_workspace(workspace) as ws:
        ws.guard("key.write", "keyring", action="retire", kek_version=version)
        confirm(f"Retiring KEK version {version} erases its parameters for good.", yes)
        ws.vault.keyring.retire(version)
    console.print(f"KEK version {version} retired")
