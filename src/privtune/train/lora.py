"""LoRA fine-tuning of a local causal LM with PEFT, in a plain, seeded PyTorch loop.

:func:`finetune_lora` loads the base model from a local directory, wraps it with
``peft.get_peft_model`` (before it is moved to a device, as PEFT requires), trains only the LoRA
matrices with AdamW under a warm-up + decay schedule (``transformers.get_scheduler``) and
gradient accumulation, evaluates the validation loss at step 0, every ``eval_every`` steps and
at the end, and writes into ``out_dir``:

* ``adapter_config.json`` + ``adapter_model.safetensors`` (``PeftModel.save_pretrained``);
* ``metrics.jsonl``: one JSON object per step (``step``, ``train_loss``, ``lr``,
  ``tokens_per_s``, and ``val_loss`` when evaluated; step 0 holds the initial ``val_loss``);
* ``train_spec.json``: the resolved :class:`~privtune.train.spec.TrainSpec`.

Training runs in float32 (no bf16 on CPU). With the same seed, data and machine it is
reproducible: identical losses (``tokens_per_s`` is a timing and varies). Only numbers are
logged or reported; example texts are never written anywhere (they may hold personal data).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import get_scheduler, set_seed

from privtune.errors import InputError, ResourceError
from privtune.models.loading import load_local_model
from privtune.models.tiny import count_params
from privtune.train.data import Encoded, collate, encode_examples
from privtune.train.evaluate import eval_encoded
from privtune.train.loss import sequence_mean_loss
from privtune.train.spec import LoraSpec, TrainSpec

ProgressFn = Callable[[int, int, dict[str, float]], None]

_SCHEDULES = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}


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
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["adapter_dir"] = str(self.adapter_dir)
        return d


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is a ResourceError."""
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ResourceError("device 'cuda' requested but no CUDA GPU is available")
        return torch.device("cuda")
    return torch.device("cpu")


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


def _batches(n: int, size: int, gen: torch.Generator) -> Iterator[list[int]]:
    """Endless micro-batches of indices: shuffled epochs, every batch full (wraps epochs)."""
    pending: list[int] = []
    while True:
        while len(pending) < size:
            pending.extend(torch.randperm(n, generator=gen).tolist())
        yield pending[:size]
        pending = pending[size:]


def _encode(tokenizer: Any, examples: list[dict[str, Any]], spec: TrainSpec,
            what: str) -> tuple[list[Encoded], int]:
    if not examples:
        raise InputError(f"no {what} examples given")
    encoded, dropped = encode_examples(tokenizer, examples, spec.max_seq_len)
    if not encoded:
        raise InputError(
            f"no {what} example keeps an answer token within max_seq_len={spec.max_seq_len}"
        )
    return encoded, dropped


def train_lora(
    model: torch.nn.Module,
    tokenizer: Any,
    train: list[dict[str, Any]],
    val: list[dict[str, Any]],
    spec: TrainSpec,
    out_dir: Path,
    progress: ProgressFn | None = None,
) -> tuple[TrainResult, PeftModel]:
    """Wrap the (CPU, unwrapped) ``model`` with LoRA, train it, save the adapter to ``out_dir``.

    PEFT injects the LoRA layers into ``model`` in place: use the returned model afterwards.
    Returns the result and the trained :class:`PeftModel` (on the training device).
    """
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    train_enc, dropped_train = _encode(tokenizer, train, spec, "training")
    val_enc, dropped_val = _encode(tokenizer, val, spec, "validation")
    device = resolve_device(spec.device)
    pad_id = tokenizer.pad_token_id

    set_seed(spec.seed)  # python, numpy and torch: LoRA init and dropout draw from them
    with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        peft_model = get_peft_model(model, lora_config(spec.lora))  # wrap BEFORE .to(device)
    peft_model.to(device=device, dtype=torch.float32)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)
    sched = get_scheduler(_SCHEDULES[spec.schedule], opt, num_warmup_steps=spec.warmup_steps,
                          num_training_steps=spec.steps)
    gen = torch.Generator().manual_seed(spec.seed)
    batches = _batches(len(train_enc), spec.batch_size, gen)

    def evaluate() -> float:
        return eval_encoded(peft_model, val_enc, pad_id, spec.eval_batch_size)

    out_dir.mkdir(parents=True, exist_ok=True)
    history: list[dict[str, float]] = []
    initial = evaluate()
    with (out_dir / "metrics.jsonl").open("w", encoding="utf-8") as log:

        def record(row: dict[str, float]) -> None:
            history.append(row)
            log.write(json.dumps(row) + "\n")
            log.flush()

        record({"step": 0, "val_loss": initial, "lr": sched.get_last_lr()[0]})
        if progress is not None:
            progress(0, spec.steps, {"val_loss": initial})
        final = initial
        peft_model.train()
        for step in range(1, spec.steps + 1):
            t0 = time.perf_counter()
            lr = sched.get_last_lr()[0]
            loss_sum, tokens = 0.0, 0
            for _ in range(spec.grad_accum):
                batch = collate([train_enc[i] for i in next(batches)], pad_id)
                batch = {k: v.to(device) for k, v in batch.items()}
                logits = peft_model(input_ids=batch["input_ids"],
                                    attention_mask=batch["attention_mask"],
                                    use_cache=False).logits
                loss = sequence_mean_loss(logits, batch["labels"]) / spec.grad_accum
                loss.backward()
                loss_sum += float(loss.detach())
                tokens += int(batch["attention_mask"].sum())
            if not math.isfinite(loss_sum):
                raise RuntimeError(f"fine-tuning diverged at step {step} (loss is not finite)")
            torch.nn.utils.clip_grad_norm_(params, spec.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            dt = time.perf_counter() - t0
            row: dict[str, float] = {"step": step, "train_loss": loss_sum, "lr": lr,
                                     "tokens_per_s": round(tokens / dt, 1)}
            if step == spec.steps or (spec.eval_every and step % spec.eval_every == 0):
                final = row["val_loss"] = evaluate()
            record(row)
            if progress is not None:
                progress(step, spec.steps, {k: v for k, v in row.items() if k != "step"})

    peft_model.eval()
    peft_model.save_pretrained(str(out_dir))
    (out_dir / "train_spec.json").write_text(json.dumps(spec.model_dump(mode="json"), indent=2),
                                             encoding="utf-8")
    result = TrainResult(
        history=history,
        initial_val_loss=initial,
        final_val_loss=final,
        steps=spec.steps,
        trainable_params=count_params(peft_model, trainable_only=True),
        total_params=count_params(peft_model),
        seconds=round(time.perf_counter() - t_start, 3),
        adapter_dir=out_dir,
        n_train=len(train_enc),
        n_val=len(val_enc),
        dropped_train=dropped_train,
        dropped_val=dropped_val,
        device=str(device),
    )
    return result, peft_model


def finetune_lora(
    base_dir: Path,
    train: list[dict[str, Any]],
    val: list[dict[str, Any]],
    spec: TrainSpec,
    out_dir: Path,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Fine-tune a LoRA adapter on the local base model in ``base_dir``; see the module doc.

    ``progress(step, total, {...})`` gets step 0 with ``val_loss``, then every step with
    ``train_loss``, ``lr``, ``tokens_per_s`` (and ``val_loss`` on evaluation steps).
    """
    model, tokenizer = load_local_model(base_dir)
    result, _ = train_lora(model, tokenizer, train, val, spec, out_dir, progress)
    return result
