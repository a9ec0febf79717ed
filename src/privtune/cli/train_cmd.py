"""``privtune train CONFIG [key=value ...]``: LoRA fine-tuning of a local base model."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace, print_figures, progress_bar


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        config: Path = typer.Argument(..., help="Pipeline config YAML (see configs/tiny-demo.yaml)."),
        overrides: list[str] = typer.Argument(None, help="Overrides, e.g. train.steps=300 train.lora.r=16"),
        name: str = typer.Option("adapter", "--name", help="Vault name of the adapter."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Fine-tune a LoRA adapter on the vault's training set, offline; register it in the vault.

        The adapter's record holds the base model's hash, the data versions, the resolved
        config, metrics and privacy settings. Outbound network access is blocked meanwhile.
        """
        from privtune.config import load_config
        from privtune.pipeline.base_model import prepare_base
        from privtune.pipeline.config import PipelineConfig
        from privtune.pipeline.train import train_adapter

        cfg = load_config(PipelineConfig, config, overrides or [])
        with open_workspace(workspace) as ws:
            data = {"train": cfg.data.train, "val": cfg.data.val}
            for ref in data.values():
                ws.vault.resolve(ref)  # fail before any work if the data is missing
            pol = ws.vault.resolve("policies") if ws.vault.exists("policies") else None
            with progress_bar("base model", cfg.model.tiny.steps) as p:
                base = prepare_base(ws, cfg.model, policies_ref=pol, progress=p)
            with progress_bar("train (LoRA)", cfg.train.steps) as p:
                res = train_adapter(ws, base.extra["dir"], base.figures["sha256"], data, cfg.train, p,
                                    name=name, dp=cfg.dp)
        print_figures("training", {**res.outputs, **res.figures})
        console.print(f"metrics: {Path(ws.runs_dir) / res.figures['run_id'] / 'metrics.jsonl'}")
