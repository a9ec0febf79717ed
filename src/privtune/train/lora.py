"""LoRA through PEFT: the adapter config, wrapping a model, and the one-call entry point.

:func:`finetune_lora` loads the base model from a local directory (fp32, or 4-bit through
:mod:`~privtune.train.qlora` when ``quantization: 4bit``), runs the recipe of
:mod:`~privtune.train.loop` inside the network guard, and returns its
:class:`~privtune.train.loop.TrainResult`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from privtune.train.spec import LoraSpec, TrainSpec


def lora_config(spec: LoraSpec) -> LoraConfig:
    """The PEFT ``LoraConfig`` of ``spec`` (causal LM, no bias, output head not adapted)."""
    return LoraConfig(
        r=spec.r,
        lora_alpha=spec.alpha,
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


def finetune_lora(
    base_dir: Path,
    train: list[dict[str, Any]],
    val: list[dict[str, Any]],
    spec: TrainSpec,
    out_dir: Path,
    progress: Any = None,
    **kw: Any,
) -> Any:
    """Fine-tune a LoRA adapter on the local base model in ``base_dir``; see
    :func:`privtune.train.loop.train_lora` for the keyword arguments."""
    from privtune.models.loading import load_local_model
    from privtune.netguard import network_guard
    from privtune.train.loop import train_lora
    from privtune.train.qlora import load_quantized

    with network_guard():
        if spec.quantization == "4bit":
            model, tokenizer = load_quantized(base_dir)
        else:
            model, tokenizer = load_local_model(base_dir)
        result, _ = train_lora(model, tokenizer, train, val, spec, out_dir, progress,
                               quantized=spec.quantization == "4bit", **kw)
    return result


__all__ = ["finetune_lora", "lora_config", "wrap_with_lora"]
