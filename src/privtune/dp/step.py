"""One DP-SGD optimizer step over a Poisson batch of units (the DP twin of
:func:`privtune.train.step.train_step`).

The batch's rows (``(example, unit slot)``) are grouped by unit and cut into micro-batches of
whole units with at most ``max_rows`` rows, by length (:func:`split_units`), so a unit's
gradient is complete at the end of its micro-batch and no unit is split. Per micro-batch the
loss is the **sum** of the rows' per-example losses (each the mean over its answer tokens), so
a row's gradient is its example's gradient and a unit's is the sum over its rows.
:class:`~privtune.dp.clip.UnitClipper` clips each unit; :func:`~privtune.dp.noise.add_noise`
adds ``N(0, (sigma C)^2)`` and divides by the expected batch size. An empty batch runs no
forward at all: the gradient is noise only and the step counts like any other.

In a process group (``train.nproc``) every rank gets the same rows (rank 0's Poisson sample),
clips only its share of the units (:func:`~privtune.train.distributed.shard`: whole units,
balanced by tokens), the clipped sums are summed across ranks, and rank 0 alone adds the noise
(from its own randomness) and broadcasts the noisy gradient: one noise draw per step, never
one per rank, and the same sensitivity (each unit is clipped once, on one rank).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.optim.lr_scheduler import LRScheduler

from privtune.dp.clip import UnitClipper
from privtune.dp.config import CALL_OVERHEAD_TOKENS
from privtune.dp.csprng import DPRandom
from privtune.dp.noise import add_noise
from privtune.train.data import Encoded, collate
from privtune.train.distributed import LOCAL, Comm, shard
from privtune.train.hardware import Precision
from privtune.train.loss import labelled_per_sequence_loss


@dataclass
class DPStepStats:
    loss: float  # mean example loss over the batch's rows (nan when empty); not private
    tokens: int
    grad_norm: float  # norm of the noisy gradient that was applied
    units: int  # sampled units
    rows: int
    clipped: int  # units whose norm exceeded the clipping bound


def split_units(unit_lengths: Sequence[Sequence[int]], max_rows: int,
                overhead: int = CALL_OVERHEAD_TOKENS) -> list[list[int]]:
    """Group units (each a list of its rows' lengths) into micro-batches of whole units with at
    most ``max_rows`` rows, minimising ``sum(rows * longest) + overhead * micro-batches`` over
    cuts of the units sorted by their longest row. Returns lists of unit positions."""
    order = sorted(range(len(unit_lengths)), key=lambda u: -max(unit_lengths[u]))
    n = len(order)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        rows = 0
        for i in range(j - 1, -1, -1):  # chunk = order[i:j], its longest is order[i]
            rows += len(unit_lengths[order[i]])
            if rows > max_rows and i < j - 1:
                break
            c = best[i] + rows * max(unit_lengths[order[i]]) + overhead
            if c < best[j]:
                best[j], cut[j] = c, i
    chunks: list[list[int]] = []
    j = n
    while j > 0:
        chunks.append(order[cut[j]:j])
        j = cut[j]
    return chunks[::-1]


@dataclass
class ClippedBatch:
    """One Poisson batch's clipped unit-gradient sum (before noise) and its numbers."""

    sums: list[torch.Tensor]  # sum_u clip(G_u) for each of the clipper's params
    loss_sum: float
    tokens: int
    units: int
    rows: int
    clipped: int


def clipped_batch_sum(model: torch.nn.Module, rows: Sequence[tuple[int, int]],
                      encoded: Sequence[Encoded], pad_id: int, device: torch.device,
                      clipper: UnitClipper, precision: Precision, max_rows: int,
                      comm: Comm = LOCAL) -> ClippedBatch:
    """``sum_u clip(G_u)`` over the batch's units (summed across the ranks of ``comm``): the
    part of a DP-SGD step before the noise. A federated site sends exactly this (or its masked
    form under secure aggregation) for one round; :func:`dp_train_step` adds the noise."""
    by_unit: dict[int, list[int]] = {}
    for ex, slot in rows:
        by_unit.setdefault(slot, []).append(ex)
    all_units = list(by_unit.values())
    units = shard(all_units, comm, lambda us: sum(len(encoded[e].input_ids) for e in us))
    clipper.reset()
    loss_sum, tokens, clipped = 0.0, 0, 0
    lengths = [[len(encoded[e].input_ids) for e in us] for us in units]
    for chunk in split_units(lengths, max_rows) if units else []:
        batch_rows, slots = [], []
        for local, u in enumerate(chunk):
            batch_rows += units[u]
            slots += [local] * len(units[u])
        b = collate([encoded[e] for e in batch_rows], pad_id)
        b = {k: v.to(device, non_blocking=True) for k, v in b.items()}
        clipper.begin(torch.tensor(slots, device=device), len(chunk))
        try:
            with precision.autocast():
                per_seq, has = labelled_per_sequence_loss(model, b["input_ids"],
                                                          b["attention_mask"], b["labels"])
            loss = (per_seq.float() * has).sum()
            loss.backward()
        finally:
            norms = clipper.end()
        clipped += int((norms > clipper.C).sum())
        loss_sum += float(loss.detach())
        tokens += int(b["attention_mask"].sum())
    sums = clipper.clipped_sum()
    clipper.reset()
    if comm.world > 1:
        comm.all_reduce_(sums)
        loss_sum, tok, clip = comm.sum_floats([loss_sum, tokens, clipped])
        tokens, clipped = int(tok), int(clip)
    return ClippedBatch(sums, loss_sum, tokens, len(all_units), len(rows), clipped)


def dp_train_step(model: torch.nn.Module, rows: Sequence[tuple[int, int]],
                  encoded: Sequence[Encoded], pad_id: int, device: torch.device,
                  clipper: UnitClipper, opt: torch.optim.Optimizer, sched: LRScheduler,
                  precision: Precision, noise_std: float, expected_batch: float,
                  rng: DPRandom, max_rows: int, comm: Comm = LOCAL) -> DPStepStats:
    cb = clipped_batch_sum(model, rows, encoded, pad_id, device, clipper, precision, max_rows,
                           comm)
    if comm.rank == 0:  # the step's one noise draw
        grads = add_noise(cb.sums, noise_std, expected_batch, rng)
    else:
        grads = [torch.empty_like(t) for t in cb.sums]
    comm.broadcast_(grads, 0)
    for p, g in zip(clipper.params, grads):
        p.grad = g
    norm = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)
    return DPStepStats(cb.loss_sum / cb.rows if cb.rows else float("nan"), cb.tokens, norm,
                       cb.units, cb.rows, cb.clipped)
