"""Pre-train (and cache) the tiny Mistral base model that CPU fine-tuning starts from.

A LoRA adapter on a randomly initialised model has nothing to adapt, so privtune first gives the
tiny model some language: :func:`ensure_tiny_base` trains a byte-level BPE tokenizer on
``texts``, builds a :class:`~privtune.models.tiny.TinyModelSpec`-sized Mistral, pre-trains all
its parameters briefly as a causal LM on packed sequences and saves it with ``save_pretrained``
(safetensors) next to its tokenizer. The result is an ordinary local model directory that
:func:`~privtune.models.loading.load_local_model` opens like a real Mistral-7B directory.

.. important::
   ``texts`` must be NON-personal text only: policy documents and generic HR language, never
   employee records. The base model is cached on disk and reused across runs and datasets; it is
   outside the privacy accounting of fine-tuning. The caller guarantees this.

The directory is cached under ``cache_dir/<key>/``, where the key hashes the spec and the
texts. It is built in a temporary directory and renamed into place atomically, with
``privtune_base.json`` written last as the completeness marker; a complete directory is reused
without training.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from transformers import get_scheduler

from privtune.config import StrictModel
from privtune.errors import InputError
from privtune.models.loading import quiet_progress_bars
from privtune.models.tiny import TinyModelSpec, build_tiny_model, count_params
from privtune.models.tokenizer import train_tokenizer
from privtune.netguard import enable_offline_mode
from privtune.progress import ProgressFn

#: Bump when the on-disk layout or the training recipe changes: old cache entries are ignored.
CACHE_FORMAT = 2
MARKER = "privtune_base.json"


class TinyBaseSpec(StrictModel):
    """The tiny base model: its sizes and how long/how to pre-train it.

    The defaults take about 75 s on 2 CPU cores (~0.24 s per step).
    """

    model: TinyModelSpec = Field(default_factory=TinyModelSpec)
    steps: int = Field(default=300, ge=1, description="optimizer steps")
    batch_size: int = Field(default=16, ge=1)
    seq_len: int = Field(default=128, ge=8, description="tokens per packed sequence")
    lr: float = Field(default=3e-3, gt=0)
    warmup: int = Field(default=30, ge=0, description="linear warm-up steps, then cosine decay")
    weight_decay: float = Field(default=0.01, ge=0)
    copy_fraction: float = Field(
        default=0.25, ge=0, lt=1, description="share of each batch made of random-token copy rows"
    )
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> TinyBaseSpec:
        if self.seq_len > self.model.max_position_embeddings:
            raise ValueError("seq_len must not exceed model.max_position_embeddings")
        if self.warmup >= self.steps:
            raise ValueError("warmup must be smaller than steps")
        return self


def cache_key(texts: list[str], spec: TinyBaseSpec) -> str:
    """Hex key (24 chars) of the spec and the texts: the cache directory's name."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": CACHE_FORMAT, "spec": spec.model_dump(mode="json")},
                        sort_keys=True).encode())
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little") + b)
    return h.hexdigest()[:24]


def is_complete(d: Path) -> bool:
    """A cached base is complete when its marker, config, weights and tokenizer are there."""
    return all((d / n).is_file() for n in (MARKER, "config.json", "model.safetensors",
                                           "tokenizer.json", "tokenizer_config.json"))


def pack_tokens(texts: list[str], tokenizer: Any) -> torch.Tensor:
    """All texts as one stream ``<s> text </s> <s> text </s> ...`` (1-D int64 tensor)."""
    ids: list[int] = []
    enc = tokenizer(texts, add_special_tokens=False)["input_ids"]
    for row in enc:
        ids.append(tokenizer.bos_token_id)
        ids.extend(row)
        ids.append(tokenizer.eos_token_id)
    return torch.tensor(ids, dtype=torch.long)


def copy_rows(n: int, seq_len: int, pool: torch.Tensor, bos: int, eos: int,
              gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` synthetic rows ``<s> X </s> X`` with ``X`` random ids from ``pool``.

    Labels cover only the second ``X`` (the copy). These rows train every embedding row (a
    token that never occurs in the texts would otherwise end up indistinguishable from all the
    other unseen ones, and a LoRA adapter cannot fix embeddings) and teach the model to copy from
    its context, which answers that repeat names or numbers from the question need.
    """
    k = (seq_len - 2) // 2
    x = pool[torch.randint(0, pool.numel(), (n, k), generator=gen)]
    col = torch.full((n, 1), bos, dtype=torch.long)
    sep = torch.full((n, 1), eos, dtype=torch.long)
    rows = torch.cat([col, x, sep, x], dim=1)
    pad = seq_len - rows.size(1)
    if pad:
        rows = torch.cat([rows, torch.full((n, pad), eos, dtype=torch.long)], dim=1)
    labels = rows.clone()
    labels[:, : k + 2] = -100
    labels[:, 2 * k + 2 :] = -100
    return rows, labels


def token_pool(tokenizer: Any) -> torch.Tensor:
    """Every non-special token id of ``tokenizer`` (what the copy rows draw from)."""
    special = set(tokenizer.all_special_ids)
    return torch.tensor([i for i in range(len(tokenizer)) if i not in special], dtype=torch.long)


def pretrain(
    model: torch.nn.Module,
    stream: torch.Tensor,
    spec: TinyBaseSpec,
    progress: ProgressFn | None = None,
    *,
    pool: torch.Tensor | None = None,
    bos_id: int = 1,
    eos_id: int = 2,
) -> list[float]:
    """Full-parameter causal-LM training on random windows of ``stream`` (plus copy rows drawn
    from ``pool`` when ``spec.copy_fraction > 0``); returns the per-step text losses."""
    if stream.numel() < spec.seq_len + 1:
        raise InputError(
            f"pre-training texts are too short: {stream.numel()} tokens, "
            f"need at least {spec.seq_len + 1}"
        )
    n_copy = round(spec.batch_size * spec.copy_fraction) if pool is not None else 0
    n_text = spec.batch_size - n_copy
    gen = torch.Generator().manual_seed(spec.seed)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": spec.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=spec.lr, betas=(0.9, 0.95),
    )
    sched = get_scheduler("cosine", opt, num_warmup_steps=spec.warmup,
                          num_training_steps=spec.steps)
    offsets = torch.arange(spec.seq_len)
    high = stream.numel() - spec.seq_len
    losses: list[float] = []
    model.train()
    for step in range(1, spec.steps + 1):
        starts = torch.randint(0, high + 1, (n_text,), generator=gen)
        batch = stream[starts[:, None] + offsets[None, :]]
        labels = batch.clone()
        if n_copy and pool is not None:  # n_copy > 0 only with a pool
            rows, row_labels = copy_rows(n_copy, spec.seq_len, pool, bos_id, eos_id, gen)
            batch = torch.cat([batch, rows])
            labels = torch.cat([labels, row_labels])
        logits = model(input_ids=batch, use_cache=False).logits
        tok_loss = F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1),
            ignore_index=-100, reduction="none",
        ).view(labels.size(0), -1)
        mask = labels[:, 1:] != -100
        loss = (tok_loss * mask).sum() / mask.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        text_loss = float(tok_loss[:n_text].detach().mean())
        if not math.isfinite(text_loss):
            raise RuntimeError(f"pre-training diverged at step {step} (loss is not finite)")
        losses.append(text_loss)
        if progress is not None:
            info = {"loss": text_loss}
            if n_copy:
                m = mask[n_text:]
                info["copy_loss"] = float((tok_loss[n_text:] * m).sum().detach() / m.sum())
            progress(step, spec.steps, info)
    model.eval()
    return losses


def _build(texts: list[str], spec: TinyBaseSpec, out: Path, key: str,
           progress: ProgressFn | None) -> None:
    t0 = time.perf_counter()
    tokenizer = train_tokenizer(texts, spec.model.vocab_size, out)
    model = build_tiny_model(spec.model, tokenizer)
    stream = pack_tokens(texts, tokenizer)
    losses = pretrain(model, stream, spec, progress, pool=token_pool(tokenizer),
                      bos_id=tokenizer.bos_token_id, eos_id=tokenizer.eos_token_id)
    with quiet_progress_bars():
        model.save_pretrained(str(out))  # safetensors (the only format transformers 5 writes)
    tokenizer.save_pretrained(str(out), save_jinja_files=False)
    k = max(1, min(10, len(losses) // 10))
    meta = {
        "format": CACHE_FORMAT,
        "key": key,
        "spec": spec.model_dump(mode="json"),
        "n_texts": len(texts),
        "n_tokens": int(stream.numel()),
        "vocab_size": len(tokenizer),
        "params": count_params(model),
        "loss_start": sum(losses[:k]) / k,
        "loss_end": sum(losses[-k:]) / k,
        "seconds": round(time.perf_counter() - t0, 2),
        "torch_version": torch.__version__,
    }
    (out / MARKER).write_text(json.dumps(meta, indent=2), encoding="utf-8")


def ensure_tiny_base(
    texts: list[str],
    spec: TinyBaseSpec | None = None,
    cache_dir: Path = Path(".cache/privtune/bases"),
    progress: ProgressFn | None = None,
) -> Path:
    """Return the directory of the tiny base model for ``(texts, spec)``, building it if needed.

    ``texts`` are NON-personal texts (policies, generic HR language): see the module docstring.
    ``progress(step, total, {"loss": ...})`` is called once per pre-training step, and not at
    all when the cached directory is reused.
    """
    enable_offline_mode()
    spec = spec or TinyBaseSpec()
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        raise InputError("no pre-training texts given (need non-personal policy/HR text)")
    cache_dir = Path(cache_dir)
    key = cache_key(texts, spec)
    final = cache_dir / key
    if is_complete(final):
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".tmp-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _build(texts, spec, tmp, key, progress)
        if final.exists() and not is_complete(final):
            shutil.rmtree(final)
        try:
            os.rename(tmp, final)
        except OSError:
            if not is_complete(final):  # someone else's complete copy is fine; anything else not
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def base_metadata(base_dir: Path) -> dict[str, Any]:
    """The ``privtune_base.json`` of a cached base (spec, losses, timings)."""
    p = Path(base_dir) / MARKER
    if not p.is_file():
        raise InputError("not a privtune tiny base (metadata missing)", path=p)
    return json.loads(p.read_text(encoding="utf-8"))
