"""``privtune dp budget TARGET [--epsilon E [--force]]`` and ``privtune dp ledger [TARGET]``:
privacy budgets per source export and the epsilon each training run charged to them
(:mod:`privtune.dp.ledger`; TARGET is a source export such as ``employees``, or a dataset ref
resolved to its sources), and ``privtune dp epsilon`` to try accounting settings before a run.
Reading needs ``metadata.read``, setting a budget ``budget.write``; each call is audited."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from privtune.cli.common import WorkspaceOpt, console, err_console, open_workspace

app = typer.Typer(help="Differential privacy: budgets, the privacy ledger, accounting.",
                  no_args_is_help=True)


def _standing_line(sp) -> str:
    b = f"budget {sp.budget:g}" + ("" if sp.budget_set else " (workspace default)")
    extra = f", {sp.nonprivate_runs} run(s) without DP (never released)" if sp.nonprivate_runs else ""
    linked = f" (with {', '.join(sp.linked)}: same people)" if sp.linked else ""
    return (f"{sp.source}{linked}: epsilon spent {sp.epsilon:.4g} by {sp.runs} DP run(s), "
            f"{b}, {sp.left:.4g} left{extra}")


@app.command("budget")
def budget(
    target: str = typer.Argument(..., help="Source export (e.g. employees) or a dataset ref "
                                           "(e.g. trainset@2), resolved to its source exports."),
    epsilon: float = typer.Option(None, "--epsilon",
                                  help="Set the total epsilon all DP runs on it may spend "
                                       "(omit to show the budget)."),
    force: bool = typer.Option(False, "--force",
                               help="Set a budget below what was already spent."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Show or set the privacy budget of a source export (every DP run on its people counts)."""
    from privtune.dp import ledger

    with open_workspace(workspace) as ws:
        default = ws.config.dp_budget_epsilon
        if epsilon is None:
            for sp in ledger.spent(ws.access.check, ws.store, target, default):
                console.print(_standing_line(sp))
            return
        changes = ledger.set_budget(ws.access.check, ws.store, target, epsilon, force=force,
                                    default_budget=default)
    for c in changes:
        for w in c.warnings:
            err_console.print(f"[yellow]warning:[/yellow] {w}")
        console.print(f"budget of source export '{c.source}': epsilon {c.epsilon:g} "
                      f"(spent so far: {c.spent:.4g})")


@app.command("ledger")
def show_ledger(
    target: str = typer.Argument(None, help="Only the runs on this source export or dataset."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Epsilon charged by every training run to its source exports, and their budgets."""
    from privtune.dp import ledger

    with open_workspace(workspace) as ws:
        rows, totals = ledger.report(ws.access.check, ws.store, target, ws.config.dp_budget_epsilon)
    t = Table(title="privacy ledger")
    for col in ("run", "dataset", "sources", "epsilon"):
        t.add_column(col, no_wrap=True)  # ids stay whole; the other columns fold
    for col in ("delta", "unit", "accountant", "status"):
        t.add_column(col, overflow="fold")
    for r, srcs in rows:
        t.add_row(r.run_id, r.dataset_ref, ", ".join(srcs),
                  "inf (no DP)" if r.epsilon is None else f"{r.epsilon:.4g}",
                  f"{r.delta:.2g}", r.unit or "-", r.accountant or "-", r.status)
    console.print(t)
    for sp in totals:
        console.print(_standing_line(sp))


@app.command("epsilon")
def show_epsilon(
    noise_multiplier: float = typer.Option(..., "--noise-multiplier", "--sigma", min=0.0),
    sampling_rate: float = typer.Option(..., "--sampling-rate", "-q", min=0.0, max=1.0),
    steps: int = typer.Option(..., "--steps", min=0),
    delta: float = typer.Option(1e-5, "--delta"),
    accountant: str = typer.Option("prv", "--accountant", help="rdp | prv | pld"),
) -> None:
    """Epsilon of Poisson-subsampled Gaussian DP-SGD for the given settings."""
    from privtune.dp.accountant import epsilon

    eps = epsilon(noise_multiplier, sampling_rate, steps, delta, accountant)
    console.print(f"epsilon {eps:.4f} at delta {delta:g} ({accountant})")
