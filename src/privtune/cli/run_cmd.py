"""``privtune run RECIPE``: the whole own-export path in one command, resumable;
``privtune evaluate MODEL``: the held-out evaluation of an adapter on its own."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import RichReporter, WorkspaceOpt, console, open_workspace, print_figures

STAGE_NAMES = "ingest, scan, deidentify, dataset, base_model, train, evaluate, audit, release, verify"


def _resolve_paths(cfg, recipe_path: Path, overrides: list[str]):
    """Relative ``export.dir`` / ``export.mapping`` from the recipe file are relative to that
    file; from the command line, to the current directory."""
    updates: dict[str, dict[str, str]] = {}
    for section, key in (("export", "dir"), ("export", "mapping"), ("run", "deid_policy")):
        value = getattr(getattr(cfg, section), key)
        if value is None or Path(value).is_absolute():
            continue
        on_cli = any(o.partition("=")[0].strip() == f"{section}.{key}" for o in overrides)
        base = Path.cwd() if on_cli else recipe_path.resolve().parent
        updates.setdefault(section, {})[key] = str((base / value).resolve())
    for section, values in updates.items():
        cfg = cfg.model_copy(update={section: getattr(cfg, section).model_copy(update=values)})
    return cfg


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: Path = typer.Argument(..., help="The recipe: a pipeline config YAML with an "
                                      "'export' section, or a shipped name (privtune config list)."),
        overrides: list[str] = typer.Argument(None, help="Overrides, e.g. export.dir=./export "
                                              "train.steps=60"),
        from_stage: str = typer.Option(None, "--from", help=f"Run again from this stage ({STAGE_NAMES})."),
        until: str = typer.Option("verify", "--until", help="Stop after this stage."),
        restart: bool = typer.Option(False, "--restart", help="Ignore what an earlier run did; "
                                     "run every stage."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Run the whole path on your export: ingest, scan, deidentify, dataset, base model,
        train, evaluate, audit, release, verify.

        Stages an earlier run of the same recipe on the same export finished are skipped.
        Writes summary.json and report.html under <workspace>/reports/run/. Exit code 8 when
        the privacy gate fails (nothing is released).
        """
        from privtune.cli.demo_cmd import print_gate, print_summary
        from privtune.config import load_config, resolve_config
        from privtune.errors import PrivacyPolicyError
        from privtune.pipeline.config import PipelineConfig
        from privtune.pipeline.recipe import run_recipe

        with open_workspace(workspace) as ws:
            # permission first (audited), before the recipe or the export is read
            ws.guard("data.write", "employees", action="run")
            path = resolve_config(config)
            cfg = _resolve_paths(load_config(PipelineConfig, path, overrides or []), path,
                                 overrides or [])
            console.print(f"privtune run: {path} on {cfg.export.dir}, workspace {ws.root.resolve()}",
                          highlight=False)
            result = run_recipe(ws, cfg, None, RichReporter(), resume=not restart,
                                from_stage=from_stage, stop=until)
        print_summary(result.summary, "privtune run summary")
        print_gate(result.summary)
        console.print(f"\nsummary:   {result.summary_path.resolve()}")
        console.print(f"report:    {result.report_path.resolve()}")
        if result.stages.verify is not None:
            d = result.stages.release.figures["directory"] if result.stages.release else ""
            console.print(f"release:   {d}  (chat with it: privtune chat {cfg.run.adapter_name})")
        if result.not_released is not None:
            gate = result.summary.get("gate") or {}
            raise PrivacyPolicyError(f"the model was not released: {result.not_released} "
                                     f"(audit report: {gate.get('report', '-')})")

    @app.command("evaluate")
    def evaluate(
        model: str = typer.Argument(..., help="The adapter: name or name@version."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Evaluate an adapter on the held-out employees: validation loss and ticket triage,
        base model vs tuned."""
        from privtune.cli.common import progress_bar
        from privtune.cli.demo_cmd import headline
        from privtune.pipeline.recipe import evaluate_model

        with open_workspace(workspace) as ws, progress_bar("evaluate") as p:
            res = evaluate_model(ws, model)
            p(1, 1, {})
        console.print(headline("evaluate", res.figures))
        print_figures("evaluation (held-out employees)", res.figures)
