"""``privtune dp budget DATASET --epsilon E`` and ``privtune dp ledger [DATASET]``: privacy budgets
and the epsilon each training run spent (:mod:`privtune.dp.ledger`), and ``privtune dp epsilon``
to try accounting settings before a run."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from privtune.cli.common import WorkspaceOpt, console, open_workspace

app = typer.Typer(help="Differential privacy: budgets, the privacy ledger, accounting.",
                  no_args_is_help=True)


@app.command("budget")
def budget(
    dataset: str = typer.Argument(..., help="Dataset name in the vault, e.g. trainset."),
    epsilon: float = typer.Option(..., "--epsilon", help="Total epsilon all runs may spend."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Set the privacy budget of a dataset (every version of it counts towards it)."""
    from privtune.dp import ledger

    with open_workspace(workspace) as ws:
        ledger.set_budget(ws.store, dataset, epsilon)
        sp = ledger.spent(ws.store, dataset)
    console.print(f"budget of '{sp.dataset}': epsilon {epsilon:g} (spent so far: {sp.epsilon:.4g})")


@app.command("ledger")
def show_ledger(
    dataset: str = typer.Argument(None, help="Only this dataset."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Epsilon spent by every training run, per dataset version, and the budgets."""
    from privtune.dp import ledger

    with open_workspace(workspace) as ws:
        rows = ledger.entries(ws.store, dataset)
        names = sorted({r.dataset for r in rows} | ({dataset} if dataset else set()))
        totals = [ledger.spent(ws.store, n) for n in names]
    t = Table(title="privacy ledger")
    for col in ("run", "dataset", "epsilon", "delta", "unit", "accountant", "status"):
        t.add_column(col)
    for r in rows:
        t.add_row(r.run_id, r.dataset_ref, "inf (no DP)" if r.epsilon is None else f"{r.epsilon:.4g}",
                  f"{r.delta:.2g}", r.unit or "-", r.accountant or "-", r.status)
    console.print(t)
    for sp in totals:
        b = "none" if sp.budget is None else f"{sp.budget:g}"
        console.print(f"{sp.dataset}: epsilon spent {sp.epsilon:.4g} by {sp.runs} run(s), budget {b}")


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
