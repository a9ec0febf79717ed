"""One optimizer step: micro-batches with gradient accumulation, autocast, clipping, update.

The loss of a step is the mean over **all** labelled sequences of the step's micro-batches of
each sequence's mean answer-token loss, so ``grad_accum=k`` with batch ``b`` gives the same
gradient as one batch of ``k*b`` (up to float rounding). :class:`PlainStep` is the training
loop's default :class:`~privtune.train.strategy.StepStrategy`: batches from the seeded
:class:`~privtune.train.sampler.BatchSampler`, split by length, then :func:`train_step`.

In a process group (``train.nproc``) every rank draws the same batches (same seed), keeps its
share of each (:func:`~privtune.train.distributed.shard`, balanced by length) and divides by
the step's **global** sequence count; the gradients are summed across ranks before clipping,
so the update is the one-process update on the same batches (up to float rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from privtune.train.data import IGNORE_INDEX, collate
from privtune.train.distributed import LOCAL, Comm, shard
from privtune.train.hardware import Precision
from privtune.train.loss import labelled_per_sequence_loss
from privtune.train.sampler import BatchSampler, split_by_length
from privtune.train.strategy import StepContext, StepOutcome


@dataclass
class StepStats:
    loss: float
    tokens: int  # real (non-padding) tokens processed
    grad_norm: float


def train_step(model: torch.nn.Module, micro_batches: list[dict[str, torch.Tensor]],
               params: list[torch.nn.Parameter], opt: torch.optim.Optimizer, sched: LRScheduler,
               precision: Precision, scaler: torch.amp.GradScaler | None,
               max_grad_norm: float, comm: Comm = LOCAL) -> StepStats:
    n_seq = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).any(dim=1).sum()) for b in micro_batches)
    if comm.world > 1:
        n_seq = int(comm.sum_floats([n_seq])[0])
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
    if comm.world > 1:  # every rank's share of the sum, then the same update everywhere
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        comm.all_reduce_([p.grad for p in params if p.grad is not None])
        total, tok = comm.sum_floats([float(loss_sum), tokens])
        loss_sum, tokens = torch.tensor(total), int(tok)
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


class PlainStep:
    """The non-private step strategy: ``grad_accum`` seeded batches, one clipped update."""

    seeded = True

    def __init__(self) -> None:
        self._ctx: StepContext | None = None
        self._sampler: BatchSampler | None = None

    def prepare(self, ctx: StepContext) -> None:
        self._ctx = ctx
        self._sampler = BatchSampler([len(e.input_ids) for e in ctx.encoded],
                                     ctx.spec.batch_size, ctx.spec.seed,
                                     ctx.spec.group_by_length)

    def _ready(self) -> tuple[StepContext, BatchSampler]:
        if self._ctx is None or self._sampler is None:
            raise RuntimeError("PlainStep.prepare() was not called")
        return self._ctx, self._sampler

    def step(self, opt: torch.optim.Optimizer, sched: LRScheduler) -> StepOutcome:
        ctx, sampler = self._ready()
        enc = ctx.encoded
        micro = []
        for _ in range(ctx.spec.grad_accum):
            idx = shard(sampler.next_batch(), ctx.comm, lambda i: len(enc[i].input_ids))
            for part in split_by_length([len(enc[i].input_ids) for i in idx]):
                b = collate([enc[idx[k]] for k in part], ctx.pad_id)
                micro.append({k: v.to(ctx.device, non_blocking=True) for k, v in b.items()})
        stats = train_step(ctx.model, micro, ctx.params, opt, sched, ctx.precision, ctx.scaler,
                           ctx.spec.max_grad_norm, ctx.comm)
        return StepOutcome(stats.loss, stats.tokens, stats.grad_norm)

    def state_dict(self) -> dict[str, Any]:
        return self._ready()[1].state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._ready()[1].load_state_dict(state)

    def close(self) -> None:
        pass

    def privacy(self, steps: int) -> dict[str, Any] | None:
        return None
