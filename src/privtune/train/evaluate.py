"""Validation loss of a (possibly LoRA-wrapped) causal LM on chat examples.

:func:`eval_loss` is the metric the fine-tuning reports: the mean over examples of each
example's mean loss on its assistant tokens (see :mod:`privtune.train.loss`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from privtune.train.data import Encoded, collate, encode_examples
from privtune.train.distributed import LOCAL, Comm
from privtune.train.loss import labelled_per_sequence_loss


def _null() -> contextlib.nullcontext:
    return contextlib.nullcontext()


@torch.no_grad()
def eval_encoded(model: Any, encoded: list[Encoded], pad_token_id: int, batch_size: int,
                 autocast: Any = None, comm: Comm = LOCAL) -> float:
    """Mean per-sequence loss over already encoded examples (``nan`` when there are none).
    In a process group each rank scores every ``world``-th example and the sums are reduced."""
    if not encoded:
        return float("nan")
    if comm.world > 1:
        encoded = encoded[comm.rank::comm.world]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, n = 0.0, 0
    try:
        for i in range(0, len(encoded), batch_size):
            batch = {k: v.to(device) for k, v in collate(encoded[i : i + batch_size], pad_token_id).items()}
            with autocast() if autocast is not None else _null():
                per_seq, has = labelled_per_sequence_loss(
                    model, batch["input_ids"], batch["attention_mask"], batch["labels"])
            total += float((per_seq.float() * has).sum())
            n += int(has.sum())
    finally:
        model.train(was_training)
    if comm.world > 1:
        total, n_all = comm.sum_floats([total, n])
        n = int(n_all)
    return total / n if n else float("nan")


def eval_loss(
    model: Any,
    tokenizer: Any,
    examples: list[dict[str, Any]],
    max_seq_len: int,
    batch_size: int = 32,
) -> float:
    """Mean of per-sequence mean assistant-token loss over ``examples`` (``nan`` if none)."""
    encoded, _dropped = encode_examples(tokenizer, examples, max_seq_len)
    return eval_encoded(model, encoded, tokenizer.pad_token_id, batch_size)
