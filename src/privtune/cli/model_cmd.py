"""``privtune model ...``: base models (the tiny built-in Mistral, local checkpoints)."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, open_workspace, print_figures, progress_bar

model_app = typer.Typer(help="Base models: build the tiny Mistral, inspect local checkpoints.",
                        no_args_is_help=True)


@model_app.command("build-tiny")
def build_tiny(
    overrides: list[str] = typer.Argument(None, help="Overrides of the model section, e.g. tiny.steps=100"),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Build (or reuse from the cache) the tiny Mistral base, pre-trained on non-personal text."""
    from privtune.config import load_config
    from privtune.pipeline.base_model import prepare_base
    from privtune.pipeline.config import ModelSection

    section = load_config(ModelSection, None, overrides or [])
    with open_workspace(workspace) as ws:
        # de-identified policy documents only (issue 17): the raw ones never reach the base
        pol = ws.vault.resolve("policies-deid") if ws.vault.exists("policies-deid") else None
        with progress_bar("pre-train tiny base", section.tiny.steps) as p:
            res = prepare_base(ws, section, policies_ref=pol, progress=p)
    print_figures("base model", res.figures, ws.root)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
