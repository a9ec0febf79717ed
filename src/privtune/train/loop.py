"""The fine-tuning recipe: the components of :mod:`privtune.train` composed into one loop.

:func:`train_lora` encodes the examples (:mod:`~privtune.train.data`), wraps the model with
LoRA, resolves device and precision (:mod:`~privtune.train.hardware`), then repeats
:func:`~privtune.train.step.train_step` over micro-batches from the
:class:`~privtune.train.sampler.BatchSampler` under the warm-up schedule
(:mod:`~privtune.train.schedule`), evaluates every ``eval_every`` steps, stops early when
:class:`~privtune.train.early_stop.EarlyStopping` says so, saves resumable checkpoints
(:mod:`~privtune.train.checkpoint`) and logs metrics (:mod:`~privtune.train.metrics`). There is
no trainer class: each of those pieces is a small function or object a test can drive alone.

It writes into ``out_dir``: the adapter (``adapter_config.json`` +
``adapter_model.safetensors``), ``metrics.jsonl`` (step 0 holds the initial ``val_loss``; then
one row per step with ``train_loss``, ``lr``, ``tokens_per_s``, ``grad_norm`` and ``val_loss``
on evaluation steps) and ``train_spec.json``. Only numbers are logged; texts never leave memory.

With a :class:`~privtune.dp.plan.DPPlan` (``dp.enabled``), a :class:`~privtune.dp.session.DPSession`
takes the place of the batch sampler and step: Poisson batches of privacy units, per-unit
clipping and noise (:mod:`privtune.dp`); rows then also log ``units`` (sampled) and ``clipped``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from transformers import set_seed

from privtune.errors import InputError, TrainingError
from privtune.models.tiny import count_params
from privtune.progress import ProgressFn
from privtune.tmp import private_tempdir
from privtune.train.checkpoint import (
    Checkpoint,
    capture_rng,
    check_resumable,
    data_fingerprint,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from privtune.train.data import Encoded, collate, encode_examples
from privtune.train.early_stop import EarlyStopping
from privtune.train.evaluate import eval_encoded
from privtune.train.hardware import resolve_device, resolve_precision
from privtune.train.lora import wrap_with_lora
from privtune.train.metrics import MetricLogger
from privtune.train.sampler import BatchSampler, split_by_length
from privtune.train.schedule import make_scheduler
from privtune.train.spec import TrainSpec
from privtune.train.step import StepStats, train_step

#: ``sink(step, directory) -> reference``: stores a checkpoint directory (e.g. in the vault).
CheckpointSink = Callable[[int, Path], str]


@dataclass
class TrainResult:
    """What a fine-tuning run did (numbers only)."""

    history: list[dict[str, float]]
    initial_val_loss: float
    final_val_loss: float
    steps: int
    trainable_params: int
    total_params: int
    seconds: float
    adapter_dir: Path
    n_train: int = 0
    n_val: int = 0
    dropped_train: int = 0  # examples whose answer was cut off entirely by max_seq_len
    dropped_val: int = 0
    device: str = "cpu"
    precision: str = "fp32"
    stopped_early: bool = False
    resumed_from_step: int = 0
    tokens: int = 0
    tokens_per_s: float = 0.0
    checkpoints: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["adapter_dir"] = str(self.adapter_dir)
        return d


def _encode(tokenizer: Any, examples: list[dict[str, Any]], spec: TrainSpec,
            what: str) -> tuple[list[Encoded], int]:
    if not examples:
        raise InputError(f"no {what} examples given")
    encoded, dropped = encode_examples(tokenizer, examples, spec.max_seq_len)
    if not encoded:
        raise InputError(
            f"no {what} example keeps an answer token within max_seq_len={spec.max_seq_len}")
    return encoded, dropped


def _trainable(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


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
    dp_plan: Any = None,
) -> tuple[TrainResult, PeftModel]:
    """Wrap the (unwrapped) ``model`` with LoRA, train it, save the adapter to ``out_dir``.

    ``resume`` is a checkpoint directory to continue from; ``checkpoint_sink`` stores the
    checkpoints taken every ``spec.checkpoint_every`` steps (default: under
    ``out_dir/checkpoints/``). ``dp_plan`` (:class:`privtune.dp.plan.DPPlan`, made from the same
    ``train`` list) turns on differentially private training. PEFT injects the LoRA layers into ``model`` in place: use the
    returned model afterwards.
    """
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    train_enc, dropped_train = _encode(tokenizer, train, spec, "training")
    val_enc, dropped_val = _encode(tokenizer, val, spec, "validation")
    fingerprint = data_fingerprint([e.input_ids for e in train_enc])
    device = resolve_device(spec.device)
    precision = resolve_precision(spec.precision, device)
    pad_id = tokenizer.pad_token_id
    spec_dump = spec.model_dump(mode="json")
    ckpt = load_checkpoint(resume) if resume is not None else None
    if ckpt is not None:
        check_resumable(ckpt, spec_dump, fingerprint)

    set_seed(spec.seed)  # python, numpy and torch: LoRA init and dropout draw from them
    peft_model = wrap_with_lora(model, spec.lora, quantized=quantized)
    if not quantized:
        peft_model.to(device=device, dtype=torch.float32)
    named = _trainable(peft_model)
    params = list(named.values())
    if not params:
        raise TrainingError("LoRA found no module to adapt: check train.lora.target_modules")
    opt = torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
    sched = make_scheduler(opt, spec.schedule, spec.warmup_steps, spec.steps)
    dp = None
    if dp_plan is not None:
        from privtune.dp.session import DPSession, check_compatible

        check_compatible(spec, precision, quantized)
        dp = DPSession(dp_plan, peft_model, train_enc, spec.batch_size, spec.seed, device)
        sampler: Any = dp
    else:
        sampler = BatchSampler([len(e.input_ids) for e in train_enc], spec.batch_size,
                               spec.seed, spec.group_by_length)
    stopper = EarlyStopping(spec.early_stopping_patience, spec.early_stopping_min_delta)
    scaler = torch.amp.GradScaler("cuda") if precision.needs_scaler else None

    def evaluate() -> float:
        return eval_encoded(peft_model, val_enc, pad_id, spec.eval_batch_size, precision.autocast)

    history: list[dict[str, float]] = []
    start = 1
    if ckpt is not None:
        with torch.no_grad():
            for name, value in ckpt.adapter.items():
                if name not in named:
                    raise InputError("the checkpoint's adapter does not match the model")
                named[name].copy_(value.to(named[name].device))
        opt.load_state_dict(ckpt.state["optimizer"])
        sched.load_state_dict(ckpt.state["scheduler"])
        sampler.load_state_dict(ckpt.state["sampler"])
        stopper.load_state_dict(ckpt.state["early_stop"])
        if scaler is not None and ckpt.state.get("scaler"):
            scaler.load_state_dict(ckpt.state["scaler"])
        restore_rng(ckpt.state["rng"])
        history = [dict(r) for r in ckpt.history]
        start = ckpt.step + 1

    out_dir.mkdir(parents=True, exist_ok=True)
    jsonl = (out_dir / "metrics.jsonl").open("w", encoding="utf-8")
    sinks = list(loggers or [])

    def record(row: dict[str, float], log_only: bool = False) -> None:
        if not log_only:
            history.append(row)
        jsonl.write(json.dumps(row) + "\n")
        jsonl.flush()
        for lg in sinks:
            lg.log(row)

    def save(step: int) -> None:
        state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "sampler": sampler.state_dict(), "early_stop": stopper.state_dict(),
                 "scaler": scaler.state_dict() if scaler is not None else {},
                 "rng": capture_rng()}
        ck = Checkpoint(step, spec_dump, history, fingerprint,
                        {n: p.detach() for n, p in named.items()}, state, checkpoint_meta or {})
        if checkpoint_sink is None:
            result.checkpoints.append(str(save_checkpoint(out_dir / "checkpoints" / f"step-{step}", ck)))
        else:
            with private_tempdir("ckpt") as tmp:
                result.checkpoints.append(checkpoint_sink(step, save_checkpoint(tmp / "ckpt", ck)))

    result = TrainResult(history=history, initial_val_loss=math.nan, final_val_loss=math.nan,
                         steps=0, trainable_params=count_params(peft_model, trainable_only=True),
                         total_params=count_params(peft_model), seconds=0.0, adapter_dir=out_dir,
                         n_train=len(train_enc), n_val=len(val_enc), dropped_train=dropped_train,
                         dropped_val=dropped_val, device=str(device), precision=precision.name,
                         resumed_from_step=start - 1)
    tokens_total, train_seconds = 0, 0.0
    try:
        if ckpt is None:
            record({"step": 0, "val_loss": evaluate(), "lr": sched.get_last_lr()[0]})
        else:
            for row in history:
                record(row, log_only=True)
        initial = history[0]["val_loss"]
        last_val = next((r["val_loss"] for r in reversed(history) if "val_loss" in r), initial)
        if progress is not None:
            progress(start - 1, spec.steps, {"val_loss": last_val})
        peft_model.train()
        step = start - 1
        for step in range(start, spec.steps + 1):
            t0 = time.perf_counter()
            lr = sched.get_last_lr()[0]
            extra: dict[str, float] = {}
            if dp is not None:
                dstats = dp.step(opt, sched, precision, pad_id)
                stats = StepStats(dstats.loss if dstats.rows else 0.0, dstats.tokens,
                                  dstats.grad_norm)
                extra = {"units": dstats.units, "clipped": dstats.clipped}
            else:
                micro = []
                for _ in range(spec.grad_accum):
                    idx = sampler.next_batch()
                    for part in split_by_length([len(train_enc[i].input_ids) for i in idx]):
                        b = collate([train_enc[idx[k]] for k in part], pad_id)
                        micro.append({k: v.to(device, non_blocking=True) for k, v in b.items()})
                stats = train_step(peft_model, micro, params, opt, sched, precision, scaler,
                                   spec.max_grad_norm)
            if not math.isfinite(stats.loss) or not math.isfinite(stats.grad_norm):
                raise TrainingError(f"fine-tuning diverged at step {step} (loss is not finite); "
                                    "lower train.lr or raise train.warmup_steps")
            dt = time.perf_counter() - t0
            tokens_total += stats.tokens
            train_seconds += dt
            row: dict[str, float] = {"step": step, "train_loss": stats.loss, "lr": lr,
                                     "tokens_per_s": round(stats.tokens / dt, 1),
                                     "grad_norm": round(stats.grad_norm, 6), **extra}
            if dp is not None and not extra["units"]:
                del row["train_loss"]  # an empty Poisson batch: noise only, no loss
            stop = False
            if step == spec.steps or (spec.eval_every and step % spec.eval_every == 0):
                row["val_loss"] = last_val = evaluate()
                stop = stopper.update(last_val)
            record(row)
            if spec.checkpoint_every and step % spec.checkpoint_every == 0 and step < spec.steps:
                save(step)
            if progress is not None:
                progress(step, spec.steps, {k: v for k, v in row.items() if k != "step"})
            if stop:
                result.stopped_early = step < spec.steps
                if "val_loss" not in row:
                    last_val = evaluate()
                break
    finally:
        jsonl.close()
        for lg in sinks:
            lg.close()
        if dp is not None:
            dp.close()

    peft_model.eval()
    peft_model.save_pretrained(str(out_dir))
    (out_dir / "train_spec.json").write_text(json.dumps(spec_dump, indent=2), encoding="utf-8")
    result.initial_val_loss, result.final_val_loss = initial, last_val
    result.steps = step
    result.tokens = tokens_total
    result.tokens_per_s = round(tokens_total / train_seconds, 1) if train_seconds else 0.0
    result.seconds = round(time.perf_counter() - t_start, 3)
    if dp is not None:
        result.extra["privacy"] = dp_plan.record(step)
    return result, peft_model
