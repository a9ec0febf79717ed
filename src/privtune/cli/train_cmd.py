"""``privtune train CONFIG [key=value ...]``: LoRA fine-tuning of a local base model."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import (
    RichReporter,
    WorkspaceOpt,
    console,
    open_workspace,
    print_figures,
)


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        config: Path = typer.Argument(..., help="Pipeline config YAML, or a shipped config by name (privtune config list), e.g. tiny-demo."),
        overrides: list[str] = typer.Argument(None, help="Overrides, e.g. train.steps=300 train.lora.r=16"),
        name: str = typer.Option("adapter", "--name", help="Vault name of the adapter."),
        nproc: int = typer.Option(None, "--nproc", min=1, max=64,
                                  help="Data-parallel processes (torch.distributed; same as "
                                       "train.nproc=N)."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Fine-tune a LoRA adapter on the vault's training set, offline; register it in the vault.

        The adapter's record holds the base model's hash, the data versions, the resolved
        config, metrics and privacy settings. Outbound network access is blocked meanwhile.
        """
        from privtune.config import load_config
        from privtune.pipeline.config import PipelineConfig
        from privtune.pipeline.run import run_stages

        extra = [f"train.nproc={nproc}"] if nproc is not None else []
        cfg = load_config(PipelineConfig, config, [*(overrides or []), *extra])
        with open_workspace(workspace) as ws:
            stages = run_stages(ws, cfg, None, RichReporter(), start="base_model", stop="train",
                                adapter_name=name)
        assert stages.train is not None
        res = stages.train
        print_figures("training", {**res.outputs, **res.figures}, ws.root, res.warnings)
        console.print(f"metrics: {Path(ws.runs_dir) / res.figures['run_id'] / 'metrics.jsonl'}")
