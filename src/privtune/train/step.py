"""One optimizer step: micro-batches with gradient accumulation, autocast, clipping, update.

The loss of a step is the mean over **all** labelled sequences of the step's micro-batches of
each sequence's mean answer-token loss, so ``grad_accum=k`` with batch ``b`` gives the same
gradient as one batch of ``k*b`` (up to float rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from privtune.train.data import IGNORE_INDEX
from privtune.train.hardware import Precision
from privtune.train.loss import labelled_per_sequence_loss


@dataclass
class StepStats:
    loss: float
    tokens: int  # real (non-padding) tokens processed
    grad_norm: float


def train_step(model: torch.nn.Module, micro_batches: list[dict[str, torch.Tensor]],
               params: list[torch.nn.Parameter], opt: torch.optim.Optimizer, sched: Any,
               precision: Precision, scaler: Any, max_grad_norm: float) -> StepStats:
    n_seq = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).any(dim=1).sum()) for b in micro_batches)
    n_seq = max(1, n_seq)
    loss_sum = torch.zeros(())
    tokens = 0
    for b in micro_batches:
        with precision.autocast():
            per_seq, has = labelled_per_sequence_loss(model, b["input_ids"], b["attention_mask"],
                                                      b["labels"])
        loss = (per_seq.float() * has).sum() / n_seq
        (scaler.scale(loss) if scaler is not None else loss).backward()
        loss_sum += loss.detach().float().cpu()
        tokens += int(b["attention_mask"].sum())
    if scaler is not None:
        scaler.unscale_(opt)
    norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return StepStats(float(loss_sum), tokens, float(norm))
