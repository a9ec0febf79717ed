"""``privtune config list|show|copy``: the configs and policies shipped inside the package."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import console

app = typer.Typer(help="The configs and policies shipped with privtune: list, show, copy.",
                  no_args_is_help=True)


@app.command("list")
def list_cmd() -> None:
    """List the shipped configs (usable by name: privtune train tiny-demo)."""
    from privtune.config import shipped_configs

    for name, path in shipped_configs().items():
        first = path.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
        console.print(f"[bold]{name:<18}[/] {first}", highlight=False)


@app.command("show")
def show(name: str = typer.Argument(..., help="A shipped config's name, e.g. tiny-demo.")) -> None:
    """Print a shipped config."""
    from privtune.config import resolve_config

    typer.echo(resolve_config(name).read_text(encoding="utf-8"), nl=False)


@app.command("copy")
def copy(
    name: str = typer.Argument(..., help="A shipped config's name, e.g. own-export."),
    dest: Path = typer.Argument(..., help="The file to write (refused if it exists)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Copy a shipped config to a file you can edit."""
    from privtune.config import resolve_config
    from privtune.errors import InputError
    from privtune.fsutil import atomic_write_text

    src = resolve_config(name)
    if dest.is_dir():
        dest = dest / src.name
    if dest.exists() and not force:
        raise InputError("the file exists (pass --force to overwrite it)", path=dest)
    atomic_write_text(dest, src.read_text(encoding="utf-8"))
    console.print(f"wrote {dest.resolve()} (from the shipped {src.stem})", highlight=False)
