"""``privtune vault ...``: put, get, list and verify the vault's encrypted object versions."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from privtune.cli.common import WorkspaceOpt, YesOpt, confirm, console, open_workspace
from privtune.errors import IntegrityError

app = typer.Typer(help="Store, read, list and verify the vault's encrypted objects.", no_args_is_help=True)


@app.command("put")
def put(
    name: str = typer.Argument(..., help="Object name (a new version is assigned)."),
    file: Path = typer.Argument(..., help="File to encrypt into the vault (streamed)."),
    kind: str = typer.Option(None, help="Object kind (dataset, table, texts, key, adapter, ...); "
                             "default: the existing object's kind (a new name: its reserved kind, "
                             "else blob). A kind other than the object's is refused."),
    schema: str = typer.Option("", help="Free-form schema label stored in the manifest."),
    parent: list[str] = typer.Option([], "--parent", help="Parent version (repeatable)."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Encrypt FILE into the vault as the next version of NAME; prints NAME@VERSION."""
    with open_workspace(workspace) as ws:
        ref = ws.vault.put_file(name, file, kind=kind, schema=schema, parents=parent)
    console.print(ref, highlight=False)


@app.command("get")
def get(
    ref: str = typer.Argument(..., help="NAME or NAME@VERSION (default: latest)."),
    output: Path = typer.Option(..., "--output", "-o", help="Plaintext output file (written only after the whole object verified; mode 0600)."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Decrypt a version to a file; nothing is written unless the whole object verifies."""
    with open_workspace(workspace) as ws:
        n = ws.vault.get_to(ref, output)
        resolved = ws.vault.resolve(ref)
    console.print(f"{resolved}: {n:,} bytes -> {output}", highlight=False)


@app.command("ls")
def ls(workspace: Path = WorkspaceOpt) -> None:
    """List every object version with its kind, size, hashes and parents."""
    with open_workspace(workspace) as ws:
        gone = ws.vault.shredded()
        table = Table()
        for col in ("object", "kind", "size", "sha256", "ct sha256", "parents"):
            table.add_column(col, justify="right" if col == "size" else "left")
        for row in ws.vault.list():
            label = row.ref + (" (shredded)" if row.ref in gone else "")
            table.add_row(label, row.kind, f"{row.size:,}", row.sha256[:16], row.ct_sha256[:16],
                          ", ".join(row.parents))
        console.print(table)


@app.command("verify")
def verify(
    refs: list[str] = typer.Argument(None, help="Versions to check (default: every version)."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Authenticate every chunk and check both hashes of each version; exit 5 on damage."""
    with open_workspace(workspace) as ws:
        results = ws.vault.verify(refs or None)
        stray = ws.vault.stray_files()
    bad = [r for r in results if not r.ok]
    for r in results:
        mark = "[green]ok[/]" if r.status == "ok" else ("[yellow]shredded[/]" if r.ok else "[red]FAILED[/]")
        console.print(f"{mark} {r.ref}" + (f": {r.message}" if r.message and not r.ok else ""))
    if stray:
        console.print(f"{len(stray)} stray file(s) under vault/objects not named by any manifest "
                      "(left by an interrupted write; never read)")
    console.print(f"{len(results) - len(bad)} of {len(results)} versions verified")
    if bad:
        raise IntegrityError(f"{len(bad)} vault object version(s) failed verification: "
                             + ", ".join(r.ref for r in bad))


@app.command("shred")
def shred(
    ref: str = typer.Argument(..., help="NAME@VERSION to destroy."),
    yes: bool = YesOpt,
    workspace: Path = WorkspaceOpt,
) -> None:
    """Crypto-shred a version: destroy its data key so no copy of it can ever be read (asks
    first unless --yes)."""
    confirm(f"Shredding {ref} destroys its data key for ever.", yes)
    with open_workspace(workspace) as ws:
        done = ws.vault.shred(ref)
    console.print(f"shredded {done}", highlight=False)
