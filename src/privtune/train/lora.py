"""LoRA through PEFT: the adapter config, wrapping a model, and the entry points of a run.

:func:`train_lora` builds the trainable model (seeded LoRA wrapping, on the resolved device) and
hands it to the loop (:func:`privtune.train.loop.run_loop`); :func:`finetune_lora` first loads
the base model from a local directory (fp32, or 4-bit through :mod:`~privtune.train.qlora`
when ``quantization: 4bit``) inside the network guard. Both return the loop's
:class:`~privtune.train.loop.TrainResult`. A ``strategy``
(:class:`~privtune.train.strategy.StepStrategy`, e.g. DP's) replaces the plain step. With
``train.nproc > 1`` :func:`finetune_lora` runs the same training on that many processes
(:mod:`~privtune.train.distributed`): this process is rank 0 and writes every output.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import set_seed

from privtune.errors import ConfigError
from privtune.tmp import private_tempdir
from privtune.train.distributed import LOCAL, Comm, run_parallel
from privtune.train.inputs import prepare_inputs
from privtune.train.loop import CheckpointSink, ProgressFn, TrainResult, run_loop
from privtune.train.metrics import MetricLogger
from privtune.train.spec import LoraSpec, TrainSpec
from privtune.train.strategy import StepStrategy


def lora_config(spec: LoraSpec) -> LoraConfig:
    """The PEFT ``LoraConfig`` of ``spec`` (causal LM, no bias, output head not adapted)."""
    return LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,  # type: ignore[arg-type]  # peft annotates int; it scales by alpha / r as a float
        lora_dropout=spec.dropout,
        target_modules=spec.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )


def wrap_with_lora(model: torch.nn.Module, spec: LoraSpec, quantized: bool = False) -> PeftModel:
    """``get_peft_model`` (before the model moves to a device, as PEFT requires)."""
    with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        if quantized:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
        return get_peft_model(model, lora_config(spec))


def train_lora(
    model: torch.nn.Module,
    tokenizer: Any,
    train: list[dict[str, Any]],
    val: list[dict[str, Any]],
    spec: TrainSpec,
    out_dir: Path,
    progress: ProgressFn | None = None,
    *,
    resume: Path | None = None,
    checkpoint_sink: CheckpointSink | None = None,
    loggers: list[MetricLogger] | None = None,
    checkpoint_meta: dict[str, Any] | None = None,
    quantized: bool = False,
    strategy: StepStrategy | None = None,
    comm: Comm = LOCAL,
) -> tuple[TrainResult, PeftModel]:
    """Wrap the (unwrapped) ``model`` with LoRA, train it, save the adapter to ``out_dir``.

    ``resume`` is a checkpoint directory to continue from; ``checkpoint_sink`` stores the
    checkpoints taken every ``spec.checkpoint_every`` steps (default: under
    ``out_dir/checkpoints/``). ``strategy`` takes each step (default: the plain LoRA step;
    :class:`privtune.dp.strategy.DPStepStrategy` for differentially private training). PEFT
    injects the LoRA layers into ``model`` in place: use the returned model afterwards.
    """
    seeded = strategy is None or strategy.seeded
    inputs = prepare_inputs(tokenizer, train, val, spec, resume, seeded=seeded)
    if seeded:
        set_seed(spec.seed)  # python, numpy and torch: LoRA init and dropout draw from them
    else:
        torch.seed()  # DP: LoRA init and dropout from the OS too; train.seed is not used
    peft_model = wrap_with_lora(model, spec.lora, quantized=quantized)
    if not quantized:
        peft_model.to(device=inputs.device, dtype=torch.float32)
    result = run_loop(peft_model, inputs, spec, out_dir, progress,
                      checkpoint_sink=checkpoint_sink, loggers=loggers,
                      checkpoint_meta=checkpoint_meta, quantized=quantized, strategy=strategy,
                      comm=comm)
    return result, peft_model


def finetune_lora(
    base_dir: Path,
    train: list[dict[str, Any]],
    val: list[dict[str, Any]],
    spec: TrainSpec,
    out_dir: Path,
    progress: ProgressFn | None = None,
    *,
    resume: Path | None = None,
    checkpoint_sink: CheckpointSink | None = None,
    loggers: list[MetricLogger] | None = None,
    checkpoint_meta: dict[str, Any] | None = None,
    strategy: StepStrategy | None = None,
) -> TrainResult:
    """Fine-tune a LoRA adapter on the local base model in ``base_dir``; see
    :func:`train_lora` for the keyword arguments."""
    if spec.nproc > 1:
        if spec.quantization == "4bit":
            raise ConfigError("train.nproc > 1 is not supported with 4-bit quantization",
                              key="train.nproc")
        from privtune.train.hardware import resolve_device

        worker = functools.partial(_worker_rank, base_dir, train, val, spec, resume, strategy)
        return run_parallel(
            spec.nproc,
            lambda comm: _finetune(base_dir, train, val, spec, out_dir, progress, resume=resume,
                                   checkpoint_sink=checkpoint_sink, loggers=loggers,
                                   checkpoint_meta=checkpoint_meta, strategy=strategy,
                                   comm=comm),
            worker, resolve_device(spec.device).type)
    return _finetune(base_dir, train, val, spec, out_dir, progress, resume=resume,
                     checkpoint_sink=checkpoint_sink, loggers=loggers,
                     checkpoint_meta=checkpoint_meta, strategy=strategy)


def _worker_rank(base_dir: Path, train: list[dict[str, Any]], val: list[dict[str, Any]],
                 spec: TrainSpec, resume: Path | None, strategy: StepStrategy | None,
                 comm: Comm) -> None:
    """Ranks 1..N-1: the same training, writing only into a private directory that is removed
    (no checkpoints, no metrics sink, no progress)."""
    with private_tempdir("rank") as tmp:
        _finetune(base_dir, train, val, spec.model_copy(update={"checkpoint_every": 0}),
                  tmp / "adapter", None, resume=resume, strategy=strategy, comm=comm)


def _finetune(
    base_dir: Path,
    train: list[dict[str, Any]],
    val: list[dict[str, Any]],
    spec: TrainSpec,
    out_dir: Path,
    progress: ProgressFn | None,
    *,
    resume: Path | None = None,
    checkpoint_sink: CheckpointSink | None = None,
    loggers: list[MetricLogger] | None = None,
    checkpoint_meta: dict[str, Any] | None = None,
    strategy: StepStrategy | None = None,
    comm: Comm = LOCAL,
) -> TrainResult:
    from privtune.models.loading import load_local_model
    from privtune.netguard import network_guard
    from privtune.train.qlora import load_quantized

    with network_guard():
        if spec.quantization == "4bit":
            model, tokenizer = load_quantized(base_dir)
        else:
            model, tokenizer = load_local_model(base_dir)
        result, _ = train_lora(model, tokenizer, train, val, spec, out_dir, progress,
                               resume=resume, checkpoint_sink=checkpoint_sink, loggers=loggers,
                               checkpoint_meta=checkpoint_meta,
                               quantized=spec.quantization == "4bit", strategy=strategy,
                               comm=comm)
    return result


__all__ = ["finetune_lora", "lora_config", "train_lora", "wrap_with_lora"]
