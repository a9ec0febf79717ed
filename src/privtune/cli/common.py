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

from privtune.progress import DEFAULT_EVERY, Lines, ProgressFn, fmt_metrics
from privtune.workspace import ENV_WORKSPACE, Workspace

#: Seconds between two progress lines when stderr is not a terminal.
ENV_PROGRESS_EVERY = "PRIVTUNE_PROGRESS_EVERY"

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


YesOpt = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")


def confirm(question: str, yes: bool) -> None:
    """Ask before something that cannot be undone, unless ``--yes``; without a terminal to ask
    on, refuse (exit 2) rather than go ahead."""
    import sys

    if yes:
        return
    if sys.stdin is None or not sys.stdin.isatty():
        from privtune.errors import InputError
        raise InputError(f"{question} This cannot be undone: pass --yes to confirm (no terminal "
                         "to ask on)")
    typer.confirm(f"{question} This cannot be undone. Go ahead?", abort=True)


def open_workspace(path: Path | None) -> Workspace:
    return Workspace.open(path, api_key=api_key_from_env_or_prompt())


#: Metrics shown next to a progress bar, with their short labels (the rest go to metrics files).
SHOWN_METRICS = {"loss": "loss", "train_loss": "loss", "val_loss": "val", "tokens_per_s": "tok/s",
                 "cache": "cache"}


def _fmt_metrics(metrics: dict[str, Any]) -> str:
    return fmt_metrics(metrics, SHOWN_METRICS)


def _progress_every() -> float:
    import os

    try:
        return max(0.0, float(os.environ.get(ENV_PROGRESS_EVERY, "") or DEFAULT_EVERY))
    except ValueError:
        return DEFAULT_EVERY


def line_reporter() -> Lines:
    """Progress as plain lines on stderr (logs, pipes, CI, nohup)."""
    return Lines(lambda text: err_console.print(text, highlight=False, markup=False, soft_wrap=True),
                 _progress_every(), SHOWN_METRICS)


@contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[ProgressFn]:
    """A rich progress bar on a terminal, else a line every few seconds with rate and ETA
    (:class:`privtune.progress.Lines`); yields ``update(step, total, metrics)``."""
    if not err_console.is_terminal:
        with line_reporter().stage(description, total) as update:
            yield update
        return
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
    """Pipeline reporter: one rich progress bar per stage on a terminal, progress lines
    otherwise; notes (estimates, warnings) on stderr."""

    def stage(self, description: str, total: int | None = None):
        return progress_bar(description, total)

    def note(self, message: str, *, warning: bool = False) -> None:
        show_note(message, warning=warning)


def show_note(message: str, *, warning: bool = False) -> None:
    """A note or a warning on stderr (one line, wrapped at word boundaries)."""
    from rich.markup import escape

    prefix = "[bold yellow]warning:[/] " if warning else ""
    err_console.print(prefix + escape(message), highlight=False)


#: Figures holding a path relative to the workspace: shown absolute.
PATH_KEYS = ("report", "path", "directory", "certificate")


def print_figures(title: str, figures: dict[str, Any], root: Path | None = None,
                  warnings: list[str] | tuple[str, ...] = ()) -> None:
    """A two-column table of a stage's figures (paths relative to the workspace ``root`` shown
    absolute), then its warnings."""
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for k, v in figures.items():
        if root is not None and k in PATH_KEYS and isinstance(v, str) and not Path(v).is_absolute():
            v = str((Path(root) / v).resolve())
        table.add_row(k, _fmt_value(v))
    console.print(table)
    for w in warnings:
        show_note(w, warning=True)


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt_value(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt_value(x) for x in v)
    return str(v)
