"""The order in which training examples are seen: seeded, resumable, optionally by length.

:class:`BatchSampler` yields endless micro-batches of example indices. Each epoch is a seeded
permutation; batches are always full (the last batch of an epoch borrows from the next one).
With ``group_by_length`` each epoch is cut into mega-batches of ``MEGA`` batches, each sorted
by length, so a batch holds examples of similar length (less padding), and the batches are
then shuffled. ``state_dict()`` / ``load_state_dict()`` capture the generator and the pending
indices, so a resumed run sees exactly the data order of an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

MEGA = 50


class BatchSampler:
    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int,
                 group_by_length: bool = False) -> None:
        if not lengths:
            raise ValueError("no examples to sample from")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.group_by_length = group_by_length
        self.gen = torch.Generator().manual_seed(seed)
        self.pending: list[int] = []
        self.epochs = 0

    def _epoch(self) -> list[int]:
        order = torch.randperm(len(self.lengths), generator=self.gen).tolist()
        self.epochs += 1
        if not self.group_by_length:
            return order
        size = self.batch_size * MEGA
        batches: list[list[int]] = []
        for i in range(0, len(order), size):
            mega = sorted(order[i:i + size], key=lambda k: -self.lengths[k])
            batches += [mega[j:j + self.batch_size] for j in range(0, len(mega), self.batch_size)]
        perm = torch.randperm(len(batches), generator=self.gen).tolist()
        return [k for b in perm for k in batches[b]]

    def next_batch(self) -> list[int]:
        while len(self.pending) < self.batch_size:
            self.pending.extend(self._epoch())
        batch, self.pending = self.pending[:self.batch_size], self.pending[self.batch_size:]
        return batch

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "pending": list(self.pending), "epochs": self.epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.pending = [int(i) for i in state["pending"]]
        self.epochs = int(state["epochs"])


#: Cost of one extra forward/backward call, in padded tokens, for :func:`split_by_length`.
CALL_OVERHEAD_TOKENS = 64


def split_by_length(lengths: Sequence[int], overhead: int = CALL_OVERHEAD_TOKENS) -> list[list[int]]:
    """Cut one batch into sub-batches of similar length to avoid computing on padding.

    Returns lists of positions into ``lengths`` (every position exactly once), chosen by dynamic
    programming over the positions sorted by length to minimise ``sum(rows * longest) +
    overhead * sub-batches``. The batch's *content* is unchanged: the step's loss is a sum over
    sequences divided by their count, so the gradient is the same as for the unsplit batch;
    only the padding that would have been computed is saved.
    """
    order = sorted(range(len(lengths)), key=lambda k: -lengths[k])
    n = len(order)
    best = [0.0] + [float("inf")] * n  # best[j]: cost of the first j (longest) examples
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):  # chunk = order[i:j], its longest is order[i]
            c = best[i] + (j - i) * lengths[order[i]] + overhead
            if c < best[j]:
                best[j], cut[j] = c, i
    chunks: list[list[int]] = []
    j = n
    while j > 0:
        chunks.append(order[cut[j]:j])
        j = cut[j]
    return chunks[::-1]
