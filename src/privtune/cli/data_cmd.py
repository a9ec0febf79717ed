"""Data stages: ``privtune ingest``, ``scan``, ``deidentify`` and ``dataset build``."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, open_workspace, print_figures

dataset_app = typer.Typer(help="Training datasets built from de-identified data.", no_args_is_help=True)

RAW = ("employees", "leave", "reviews", "tickets", "policies", "schema-mapping")


def _latest(ws, names, suffix: str = "") -> dict[str, str]:
    refs = {}
    for n in names:
        if ws.vault.exists(n + suffix):
            refs[n] = ws.vault.resolve(n + suffix)
    return refs


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest(
        export_dir: Path = typer.Argument(..., help="HRIS export: employees.csv|jsonl|parquet, reviews.jsonl, tickets.jsonl, policies/*.md"),
        mapping: Path = typer.Option(None, "--mapping", "-m", help="Schema mapping YAML (`privtune schema infer`; default: EXPORT/privtune-mapping.yaml if present, else inferred)"),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Read an HRIS export into the vault as versioned objects, its columns found through the
        schema mapping; refused when no id or name column can be found."""
        from privtune.pipeline.ingest import ingest_export

        with open_workspace(workspace) as ws:
            res = ingest_export(ws, export_dir, mapping)
        print_figures("ingested", {**res.outputs, "seconds": round(res.seconds, 2)}, ws.root,
                      res.warnings)

    @app.command("scan")
    def scan_cmd(
        policy: Path = typer.Option(None, "--policy", help="De-identification policy YAML (default: the shipped policy)"),
        workers: int = typer.Option(None, "--workers", help="Worker processes for texts (default: all cores)"),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Find personal data in the latest ingested tables and texts; write an HTML report."""
        from privtune.cli.common import progress_bar
        from privtune.pipeline.deid import scan

        with open_workspace(workspace) as ws:
            refs = _latest(ws, RAW)
            if "employees" not in refs:
                from privtune.errors import NotFoundError
                raise NotFoundError("nothing ingested yet: run `privtune ingest EXPORT_DIR` first")
            with progress_bar("scanning texts") as p:
                res = scan(ws, refs, policy, workers=workers, progress=p)
        print_figures("PII scan", res.figures, ws.root, res.warnings)

    @app.command("deidentify")
    def deidentify_cmd(
        policy: Path = typer.Option(None, "--policy", help="De-identification policy YAML (default: the shipped policy, configs/deid-policy.yaml)"),
        workers: int = typer.Option(None, "--workers", help="Worker processes for texts (default: all cores)"),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Apply the policy to the latest tables and texts: new vault versions plus a report.

        Exit code 8 when the person table misses the policy's k (or l) even after the search."""
        from privtune.cli.common import progress_bar
        from privtune.pipeline.deid import deidentify

        with open_workspace(workspace) as ws:
            refs = _latest(ws, RAW)
            if "employees" not in refs:
                from privtune.errors import NotFoundError
                raise NotFoundError("nothing ingested yet: run `privtune ingest EXPORT_DIR` first")
            with progress_bar("de-identifying") as p:
                res = deidentify(ws, refs, policy, workers=workers, progress=p)
        print_figures("de-identified", {**res.outputs, **res.figures}, ws.root, res.warnings)

    @dataset_app.command("build")
    def build(
        overrides: list[str] = typer.Argument(None, help="Overrides of the dataset section, e.g. val_fraction=0.25"),
        employees: str = typer.Option(None, "--employees",
                                      help="Build from this person table only, e.g. a DP "
                                           "synthetic one (employees-synth@1; no texts)."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Build chat-format examples from the latest de-identified data, split by employee."""
        from privtune.config import load_config
        from privtune.errors import NotFoundError
        from privtune.pipeline.config import DatasetSpec
        from privtune.pipeline.dataset import build_dataset

        spec = load_config(DatasetSpec, None, overrides or [])
        with open_workspace(workspace) as ws:
            deid = _latest(ws, ("employees", "tickets", "reviews"), "-deid") if employees is None \
                else {"employees": ws.vault.resolve(employees)}
            if "employees" not in deid:
                raise NotFoundError("no de-identified data yet: run `privtune deidentify` first")
            # de-identified policy documents only (issue 17): the raw ones never reach a dataset
            pol = ws.vault.resolve("policies-deid") if ws.vault.exists("policies-deid") else None
            # the tasks follow the pipeline's DP recipe, as in `privtune run`
            res = build_dataset(ws, deid, pol, spec)
        print_figures("dataset", {**res.outputs, **res.figures}, ws.root, res.warnings)

    app.add_typer(dataset_app, name="dataset")
