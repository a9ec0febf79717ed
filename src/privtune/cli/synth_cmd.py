"""``privtune synth-company``: a seeded synthetic HR company to try privtune on; ``privtune
synthesize``: a differentially private synthetic version of a person table (docs/synthetic.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace


def register(app: typer.Typer) -> None:
    @app.command("synth-company")
    def synth_company(
        employees: int = typer.Option(300, "--employees", "-n", help="Number of employees."),
        seed: int = typer.Option(7, "--seed", help="Random seed (same seed, same files)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output directory."),
        fmt: str = typer.Option("csv", "--format", help="Table format: csv, json or parquet."),
    ) -> None:
        """Generate a synthetic HR export (tables, reviews, tickets, policies, PII ground truth)."""
        from privtune.synth import generate_company

        files = generate_company(employees, seed, out, fmt=fmt)
        console.print(f"wrote a synthetic company of {employees} employees to {out}")
        console.print(
            "[yellow]these files hold (synthetic) personal data in clear: treat them like a "
            "real HRIS export and ingest them into a workspace's vault[/]"
        )
        del files

    @app.command("synthesize")
    def synthesize_cmd(
        dataset: str = typer.Argument(..., help="Person table to synthesise (e.g. employees or "
                                                "employees@2)."),
        epsilon: float = typer.Option(..., "--epsilon", help="Epsilon charged to the people's "
                                                             "privacy budget."),
        method: str = typer.Option("mst", "--method", help="mst or aim."),
        rows: int = typer.Option(None, "--rows", "-n",
                                 help="Synthetic rows (default: the model's noisy count)."),
        delta: float = typer.Option(None, "--delta", help="Delta (default: as DP training's)."),
        domains: str = typer.Option(None, "--domains",
                                    help="YAML file of confirmed domains (departments, job "
                                         "titles, bounds), or 'demo' for the demo company's."),
        holdout: float = typer.Option(0.5, "--holdout",
                                      help="Share of the people held out of the synthesiser "
                                           "for the report's fresh-real-sample baseline."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """A differentially private synthetic table (MST / AIM) with its utility and privacy
        report; the epsilon is charged to the people's budget (docs/synthetic.md)."""
        from privtune.pipeline.synthesize import synthesize

        with open_workspace(workspace) as ws:
            res = synthesize(ws, dataset, epsilon, method=method, rows=rows, delta=delta,
                             domains=domains, holdout=holdout)
        f = res.figures
        console.print(f"synthetic table {res.outputs['synthetic']} ({f['rows']} rows, "
                      f"{f['columns']} columns; {f['left_out']} left out), report "
                      f"{res.outputs['report']}")
        console.print(f"{f['method']}: epsilon {f['epsilon']:g}, delta {f['delta']:.2g} "
                      "charged to the source exports' budget")
        for k, v in f["tvd"].items():
            base = v["fresh_real_sample"]
            console.print(f"  mean {k} TVD: synthetic {v['synthetic']:.4f}"
                          + ("" if base is None else f", fresh real sample {base:.4f}"))
        if "downstream" in f:
            d, p = f["downstream"], f["privacy"]
            console.print(f"  predict {d['target']}: train on synthetic "
                          f"{d['train_on_synthetic']:.3f}, on real {d['train_on_real']:.3f}, "
                          f"majority {d['majority_class']:.3f}")
            console.print(f"  membership inference AUC {p['membership_inference']['auc']:.3f}; "
                          "rare records reproduced: train "
                          f"{p['rare_combinations']['train_unique_in_synthetic']:.3f}, "
                          f"held-out {p['rare_combinations']['holdout_unique_in_synthetic']:.3f}")
