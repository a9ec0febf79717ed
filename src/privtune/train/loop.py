"""The fine-tuning loop: an already LoRA-wrapped model trained step by step.

:func:`run_loop` takes the model built by :func:`privtune.train.lora.train_lora` and the
:class:`~privtune.train.inputs.TrainInputs` prepared before it, then repeats the step of a
:class:`~privtune.train.strategy.StepStrategy` (default :class:`~privtune.train.step.PlainStep`)
under the warm-up schedule (:mod:`~privtune.train.schedule`), evaluates every ``eval_every``
steps, stops early when :class:`~privtune.train.early_stop.EarlyStopping` says so, saves
resumable checkpoints (:mod:`~privtune.train.checkpoint`) and logs metrics
(:mod:`~privtune.train.metrics`). There is no trainer class: each of those pieces is a small
function or object a test can drive alone.

It writes into ``out_dir``: the adapter (``adapter_config.json`` +
``adapter_model.safetensors``), ``metrics.jsonl`` (step 0 holds the initial ``val_loss``; then
one row per step with ``train_loss``, ``lr``, ``tokens_per_s``, ``grad_norm``, the strategy's
extra numbers (DP: ``units`` sampled and ``clipped``) and ``val_loss`` on evaluation steps) and
``train_spec.json``. Only numbers are logged; texts never leave memory. A step that saw no
example (an empty Poisson batch) logs no ``train_loss``. When the strategy is not ``seeded``
(DP with secure randomness) checkpoints hold no RNG state and a resumed run draws afresh.
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

from privtune.errors import InputError, TrainingError
from privtune.models.tiny import count_params
from privtune.progress import ProgressFn
from privtune.tmp import private_tempdir
from privtune.train.checkpoint import Checkpoint, capture_rng, restore_rng, save_checkpoint
from privtune.train.distributed import LOCAL, Comm
from privtune.train.early_stop import EarlyStopping
from privtune.train.evaluate import eval_encoded
from privtune.train.inputs import TrainInputs
from privtune.train.metrics import MetricLogger
from privtune.train.schedule import make_scheduler
from privtune.train.spec import TrainSpec
from privtune.train.step import PlainStep
from privtune.train.strategy import StepContext, StepStrategy

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


def _trainable(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def run_loop(
    peft_model: PeftModel,
    inputs: TrainInputs,
    spec: TrainSpec,
    out_dir: Path,
    progress: ProgressFn | None = None,
    *,
    checkpoint_sink: CheckpointSink | None = None,
    loggers: list[MetricLogger] | None = None,
    checkpoint_meta: dict[str, Any] | None = None,
    quantized: bool = False,
    strategy: StepStrategy | None = None,
    comm: Comm = LOCAL,
) -> TrainResult:
    """Train ``peft_model`` (wrapped, on ``inputs.device``) and save the adapter to ``out_dir``.

    ``checkpoint_sink`` stores the checkpoints taken every ``spec.checkpoint_every`` steps
    (default: under ``out_dir/checkpoints/``); ``strategy`` takes each step (default
    :class:`~privtune.train.step.PlainStep`) and gives the run's ``privacy`` block
    (``result.extra["privacy"]``). ``comm``: the process group of a multi-process run
    (:mod:`privtune.train.distributed`); every rank starts from rank 0's adapter weights.
    """
    out_dir = Path(out_dir)
    ckpt, precision = inputs.checkpoint, inputs.precision
    spec_dump, pad_id = inputs.spec_dump, inputs.pad_id
    named = _trainable(peft_model)
    params = list(named.values())
    if not params:
        raise TrainingError("LoRA found no module to adapt: check train.lora.target_modules")
    comm.broadcast_(params)  # one initial adapter for every rank (a DP run seeds each from the OS)
    opt = torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
    sched = make_scheduler(opt, spec.schedule, spec.warmup_steps, spec.steps)
    scaler = torch.amp.GradScaler("cuda") if precision.needs_scaler else None
    stepper: StepStrategy = strategy if strategy is not None else PlainStep()
    stepper.prepare(StepContext(peft_model, params, inputs.train, spec, inputs.device,
                                precision, pad_id, scaler, quantized, comm))
    stopper = EarlyStopping(spec.early_stopping_patience, spec.early_stopping_min_delta)

    def evaluate() -> float:
        return eval_encoded(peft_model, inputs.val, pad_id, spec.eval_batch_size,
                            precision.autocast, comm)

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
        stepper.load_state_dict(ckpt.state["sampler"])
        stopper.load_state_dict(ckpt.state["early_stop"])
        if scaler is not None and ckpt.state.get("scaler"):
            scaler.load_state_dict(ckpt.state["scaler"])
        if stepper.seeded:
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
                 "sampler": stepper.state_dict(), "early_stop": stopper.state_dict(),
                 "scaler": scaler.state_dict() if scaler is not None else {}}
        if stepper.seeded:  # a DP run with secure randomness stores no generator state
            state["rng"] = capture_rng()
        ck = Checkpoint(step, spec_dump, history, inputs.fingerprint,
                        {n: p.detach() for n, p in named.items()}, state, checkpoint_meta or {})
        if checkpoint_sink is None:
            result.checkpoints.append(str(save_checkpoint(out_dir / "checkpoints" / f"step-{step}", ck)))
        else:
            with private_tempdir("ckpt") as tmp:
                result.checkpoints.append(checkpoint_sink(step, save_checkpoint(tmp / "ckpt", ck)))

    result = TrainResult(history=history, initial_val_loss=math.nan, final_val_loss=math.nan,
                         steps=0, trainable_params=count_params(peft_model, trainable_only=True),
                         total_params=count_params(peft_model), seconds=0.0, adapter_dir=out_dir,
                         n_train=len(inputs.train), n_val=len(inputs.val),
                         dropped_train=inputs.dropped_train, dropped_val=inputs.dropped_val,
                         device=str(inputs.device), precision=precision.name,
                         resumed_from_step=start - 1)
    tokens_total, train_seconds = 0, 0.0
    try:
        if ckpt is None:
            record({"step": 0, "val_loss": evaluate(), "lr": float(sched.get_last_lr()[0])})
        else:
            for past in history:
                record(past, log_only=True)
        initial = history[0]["val_loss"]
        last_val = next((r["val_loss"] for r in reversed(history) if "val_loss" in r), initial)
        if progress is not None:
            progress(start - 1, spec.steps, {"val_loss": last_val})
        peft_model.train()
        step = start - 1
        for step in range(start, spec.steps + 1):
            t0 = time.perf_counter()
            lr = float(sched.get_last_lr()[0])
            out = stepper.step(opt, sched)
            if ((out.loss is not None and not math.isfinite(out.loss))
                    or not math.isfinite(out.grad_norm)):
                raise TrainingError(f"fine-tuning diverged at step {step} (loss is not finite); "
                                    "lower train.lr or raise train.warmup_steps")
            dt = time.perf_counter() - t0
            tokens_total += out.tokens
            train_seconds += dt
            row: dict[str, float] = {"step": step}
            if out.loss is not None:
                row["train_loss"] = out.loss
            row.update({"lr": lr, "tokens_per_s": round(out.tokens / dt, 1),
                        "grad_norm": round(out.grad_norm, 6), **out.extra})
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
        stepper.close()

    peft_model.eval()
    peft_model.save_pretrained(str(out_dir))
    (out_dir / "train_spec.json").write_text(json.dumps(spec_dump, indent=2), encoding="utf-8")
    result.initial_val_loss, result.final_val_loss = initial, last_val
    result.steps = step
    result.tokens = tokens_total
    result.tokens_per_s = round(tokens_total / train_seconds, 1) if train_seconds else 0.0
    result.seconds = round(time.perf_counter() - inputs.started, 3)
    privacy = stepper.privacy(step)
    if privacy is not None:
        result.extra["privacy"] = privacy
    return result
