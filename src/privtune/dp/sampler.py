"""Poisson sampling of privacy units, with a cap on each sampled unit's examples.

Each step every unit is taken independently with probability ``q`` (so the batch size varies
and may be zero: the step is still taken, with noise only). A sampled unit with more than
``cap`` examples contributes ``cap`` of them, chosen uniformly at random without replacement
(the ``cap`` smallest of one uniform key per example). A step's batch is a list of
``(example_index, slot)`` rows where ``slot`` numbers the sampled units ``0..k-1``: an example
in two sampled units appears in two rows.

The coins and keys come from a :class:`~privtune.dp.csprng.DPRandom`: by default the
cryptographic :class:`~privtune.dp.csprng.SecureRandom`, never a stored seed, so nobody who
reads the workspace can tell which units a step took (amplification by subsampling needs
that). It keeps no state of its own: a resumed run samples afresh, which Poisson sampling
allows (each step's coins are independent of every other step's).
"""

from __future__ import annotations

import torch

from privtune.dp.csprng import DPRandom
from privtune.dp.units import Units


class PoissonUnitSampler:
    def __init__(self, units: Units, sampling_rate: float, cap: int, rng: DPRandom) -> None:
        if not 0.0 < sampling_rate <= 1.0:
            raise ValueError("sampling rate must be in (0, 1]")
        if len(units) == 0:
            raise ValueError("no privacy units to sample from")
        if cap < 1:
            raise ValueError("cap must be >= 1")
        self.members = units.members
        self.q = sampling_rate
        self.cap = cap
        self.rng = rng

    def next_batch(self) -> list[tuple[int, int]]:
        coins = self.rng.uniform(len(self.members)) < self.q
        sampled = coins.nonzero().flatten().tolist()
        over = [u for u in sampled if len(self.members[u]) > self.cap]
        keys = self.rng.uniform(sum(len(self.members[u]) for u in over)) if over else None
        rows: list[tuple[int, int]] = []
        offset = 0
        for slot, u in enumerate(sampled):
            m = self.members[u]
            if len(m) > self.cap:
                assert keys is not None
                k = keys[offset:offset + len(m)]
                offset += len(m)
                pick = torch.topk(k, self.cap, largest=False).indices.tolist()
                m = [m[j] for j in sorted(pick)]
            rows.extend((i, slot) for i in m)
        return rows
