"""``privtune demo``: the whole pipeline on a synthetic HR company."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from privtune.cli.common import RichReporter, _fmt_value, console
from privtune.config import load_config


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        overrides: list[str] = typer.Argument(None, help="Config overrides, e.g. train.steps=50."),
        out: Path = typer.Option(Path("demo-out"), "--out", "-o", help="Output directory."),
        config: Path = typer.Option(None, "--config", "-c", help="Pipeline config YAML."),
    ) -> None:
        """Run every pipeline stage on a synthetic company; write summary.json and report.html."""
        from privtune.demo import STAGES, run_demo
        from privtune.pipeline.config import PipelineConfig

        cfg = load_config(PipelineConfig, config, overrides or [])
        console.print(
            f"privtune demo: {cfg.company.employees} synthetic employees (seed "
            f"{cfg.company.seed}), tiny Mistral base, LoRA for {cfg.train.steps} steps"
        )
        result = run_demo(out, cfg, RichReporter())
        table = Table(title="privtune demo summary")
        table.add_column("stage", style="bold")
        table.add_column("figures")
        table.add_column("s", justify="right")
        for name in STAGES:
            figs = dict(result.summary["stages"].get(name, {}))
            secs = figs.pop("seconds", "")
            figs.pop("outputs", None)
            shown = {k: v for k, v in figs.items() if not isinstance(v, (dict, list)) or name == "scan"}
            table.add_row(name, _fmt_value(shown), f"{secs}")
        console.print(table)
        for check in result.summary["checks"]:
            mark = "[green]pass[/]" if check["ok"] else "[red]FAIL[/]"
            console.print(f"{mark}  {check['name']}: {check['detail']}")
        console.print(f"\nsummary:   {result.summary_path}")
        console.print(f"report:    {result.report_path}")
        console.print(f"workspace: {result.workspace_dir}  (try: privtune status -w {result.workspace_dir})")
