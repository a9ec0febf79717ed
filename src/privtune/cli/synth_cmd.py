"""``privtune synth-company``: a seeded synthetic HR company to try privtune on."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import console


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
