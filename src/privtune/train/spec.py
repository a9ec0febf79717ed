"""Settings of a LoRA fine-tuning run, as validated config sections.

:class:`LoraSpec` is the adapter (PEFT ``LoraConfig``); :class:`TrainSpec` the optimisation,
precision, evaluation, early stopping, checkpoints and metric sinks. Differential privacy has
its own top-level section, ``dp:`` (:class:`privtune.dp.config.DPSpec`). All forbid unknown keys (:class:`~privtune.config.StrictModel`),
so a typo in a YAML file or an override such as ``train.lora.rank=16`` is an error that names
the key and lists the allowed ones.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from privtune.config import StrictModel


class LoraSpec(StrictModel):
    """The LoRA adapter. ``target_modules="all-linear"`` adapts every linear projection of the
    transformer blocks (q/k/v/o and gate/up/down in Mistral), not the output head; a list names
    module suffixes instead (``[q_proj, v_proj]``)."""

    r: int = Field(default=8, ge=1, le=1024, description="rank of the update matrices")
    alpha: float = Field(default=16, gt=0, description="scaling numerator: update scale is alpha / r")
    dropout: float = Field(default=0.05, ge=0, lt=1, description="dropout on the LoRA input")
    target_modules: Literal["all-linear"] | list[str] = "all-linear"

    @field_validator("target_modules")
    @classmethod
    def _non_empty(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and (not v or any(not m.strip() for m in v)):
            raise ValueError("target_modules must be 'all-linear' or a non-empty list of names")
        return v


class MetricsSpec(StrictModel):
    """Where per-step metrics go. JSONL is always written; MLflow only when asked, and only to a
    local file store (``mlflow_dir``, relative to the run directory): never a tracking server."""

    mlflow: bool = False
    mlflow_dir: str = "mlruns"
    experiment: str = "privtune"


def written_spec(spec: TrainSpec, seeded: bool = True) -> dict[str, Any]:
    """The spec as a run writes it (``train_spec.json``, checkpoints, the adapter record):
    without ``seed`` when the run is not ``seeded`` (differential privacy with secure
    randomness ignores ``train.seed``, and no seed of such a run is stored)."""
    out = spec.model_dump(mode="json")
    if not seeded:
        out.pop("seed", None)
    return out


class TrainSpec(StrictModel):
    """One fine-tuning run. A step is one optimizer update over ``batch_size * grad_accum``
    examples. ``eval_every=0`` evaluates only at step 0 and at the end."""

    steps: int = Field(default=200, ge=1, description="optimizer steps")
    batch_size: int = Field(default=16, ge=1, description="examples per micro-batch")
    grad_accum: int = Field(default=1, ge=1, description="micro-batches per optimizer step")
    # 5e-3 suits the tiny CPU base; for a 7B model use ~1e-4..2e-4.
    lr: float = Field(default=5e-3, gt=0, le=1, description="peak learning rate")
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_steps: int = Field(default=10, ge=0)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    eval_every: int = Field(default=50, ge=0, description="evaluate validation loss every N steps")
    eval_batch_size: int = Field(default=32, ge=1)
    max_seq_len: int = Field(default=256, ge=8, description="examples are truncated to this many tokens")
    max_grad_norm: float = Field(default=1.0, gt=0)
    seed: int = Field(default=0, description="LoRA init, dropout and batch order; ignored (and "
                      "not stored) by a DP run unless dp.insecure_reproducible")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        default="auto", description="auto: bf16 (else fp16) autocast on CUDA, fp32 on CPU")
    quantization: Literal["none", "4bit"] = Field(
        default="none", description="4bit = QLoRA (bitsandbytes NF4 base weights; needs CUDA)")
    group_by_length: bool = Field(
        default=False, description="batch examples of similar length (less padding; see docs/training.md)")
    early_stopping_patience: int = Field(
        default=0, ge=0, description="stop after N evaluations without improvement (0 = off)")
    early_stopping_min_delta: float = Field(default=0.0, ge=0)
    checkpoint_every: int = Field(default=0, ge=0, description="save a resumable checkpoint every N steps (0 = off)")
    nproc: int = Field(default=1, ge=1, le=64, description="data-parallel processes on this "
                       "machine (torch.distributed; gloo on CPU, one GPU per process on CUDA)")
    resume_from: str | None = Field(default=None, description="checkpoint to resume: vault ref ckpt-<run>@N")
    lora: LoraSpec = Field(default_factory=LoraSpec)
    metrics: MetricsSpec = Field(default_factory=MetricsSpec)

    @model_validator(mode="after")
    def _check(self) -> TrainSpec:
        if self.warmup_steps >= self.steps and self.warmup_steps > 0:
            raise ValueError("warmup_steps must be smaller than steps")
        return self
