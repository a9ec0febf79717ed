"""Shared CLI helpers: consoles, the --workspace option, progress bars, tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from privtune.progress import ProgressFn
from privtune.workspace import ENV_WORKSPACE, Workspace

console = Console()
err_console = Console(stderr=True)


WorkspaceOpt = typer.Option(
    None,
    "--workspace",
    "-w",
    envvar=ENV_WORKSPACE,
    help=f"Workspace directory (default: ${ENV_WORKSPACE} or the current directory).",
    show_default=False,
)


def api_key_from_env_or_prompt() -> str | None:
    """The CLI's identity: $PRIVTUNE_API_KEY, else a hidden prompt on a terminal, else none."""
    import os
    import sys

    from privtune.access.apikeys import ENV_API_KEY

    key = os.environ.get(ENV_API_KEY, "").strip()
    if key:
        return key
    if sys.stdin is not None and sys.stdin.isatty():
        return typer.prompt("API key", hide_input=True, default="", show_default=False).strip() or None
    return None


def open_workspace(path: Path | None) -> Workspace:
    return Workspace.open(path, api_key=api_key_from_env_or_prompt())


#: Metrics shown next to a progress bar, with their short labels (the rest go to metrics files).
SHOWN_METRICS = {"loss": "loss", "train_loss": "loss", "val_loss": "val", "tokens_per_s": "tok/s",
                 "cache": "cache"}


def _fmt_metrics(metrics: dict[str, Any]) -> str:
    parts = []
    for k, v in metrics.items():
        label = SHOWN_METRICS.get(k)
        if label is None:
            continue
        if k == "tokens_per_s":
            parts.append(f"{label} {v:,.0f}")
        elif isinstance(v, float):
            parts.append(f"{label} {v:.3f}")
        else:
            parts.append(f"{label} {v}")
    return "  ".join(parts)


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[ProgressFn]:
    """A rich progress bar; yields ``update(step, total, metrics)`` for library callbacks."""
    with Progress(
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(compact=True),
        TextColumn("{task.fields[info]}"),
        console=err_console,
        transient=False,
    ) as prog:
        task = prog.add_task(description, total=total, info="")

        shown: dict[str, Any] = {}

        def update(step: int, tot: int, metrics: dict[str, Any]) -> None:
            shown.update(metrics)  # keep the last val loss visible between evaluations
            prog.update(task, completed=step, total=tot, info=_fmt_metrics(shown))

        yield update


class RichReporter:
    """Pipeline reporter showing one rich progress bar per stage."""

    def stage(self, description: str, total: int | None = None):
        return progress_bar(description, total)


def print_figures(title: str, figures: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for k, v in figures.items():
        table.add_row(k, _fmt_value(v))
    console.print(table)


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt_value(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt_value(x) for x in v)
    return str(v)
