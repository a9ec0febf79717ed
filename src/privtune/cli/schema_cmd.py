"""``privtune schema infer EXPORT``: propose which column of an HR export plays which role."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace

app = typer.Typer(help="Schema mapping of an HR export: which column is the id, the name, ...",
                  no_args_is_help=True)


@app.command("infer")
def infer(
    export_dir: Path = typer.Argument(..., help="HRIS export directory (employees.csv|jsonl|parquet, "
                                      "leave, reviews.jsonl, tickets.jsonl)"),
    out: Path = typer.Option(None, "--out", "-o", help="Mapping YAML to write (default: "
                             "EXPORT/privtune-mapping.yaml, which ingest reads)"),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Propose a role per column from its name (synonyms in five languages and the field names of
    Workday, SuccessFactors, BambooHR, Personio, ADP) and its values, with a confidence; write it
    as YAML to review before `privtune ingest EXPORT --mapping FILE`. Reading the export needs
    data.read (checked before any file is opened)."""
    from privtune.fsutil import atomic_write_text
    from privtune.pii.mapping import MAPPING_FILE, dump_mapping
    from privtune.pipeline.ingest import propose_mapping

    with open_workspace(workspace) as ws:
        mapping = propose_mapping(ws, export_dir)
    target = out if out is not None else export_dir / MAPPING_FILE
    atomic_write_text(target, dump_mapping(mapping))
    for table, tm in mapping.tables.items():
        for col, c in sorted(tm.columns.items(), key=lambda kv: kv[1].confidence):
            flag = "  <- review" if c.confidence < 0.7 else ""
            console.print(f"{table}.{col}: {c.role} ({c.confidence:.2f}){flag}", highlight=False,
                          markup=False)
    console.print(f"mapping written to {target}; review it, then: privtune ingest {export_dir} "
                  f"--mapping {target}", highlight=False, markup=False)
