"""Poisson sampling of privacy units, with a cap on each sampled unit's examples.

Each step every unit is taken independently with probability ``q`` (so the batch size varies
and may be zero: the step is still taken, with noise only). A sampled unit with more than
``cap`` examples contributes ``cap`` of them, chosen uniformly at random without replacement.
A step's batch is a list of ``(example_index, slot)`` rows where ``slot`` numbers the sampled
units ``0..k-1``: an example in two sampled units appears in two rows. State is a torch
generator: ``state_dict`` / ``load_state_dict`` make resumed runs sample as uninterrupted ones.
"""

from __future__ import annotations

from typing import Any

import torch

from privtune.dp.units import Units


class PoissonUnitSampler:
    def __init__(self, units: Units, sampling_rate: float, cap: int, seed: int) -> None:
        if not 0.0 < sampling_rate <= 1.0:
            raise ValueError("sampling rate must be in (0, 1]")
        if len(units) == 0:
            raise ValueError("no privacy units to sample from")
        self.members = units.members
        self.q = sampling_rate
        self.cap = cap
        self.gen = torch.Generator().manual_seed(seed)

    def next_batch(self) -> list[tuple[int, int]]:
        coins = torch.rand(len(self.members), generator=self.gen) < self.q
        rows: list[tuple[int, int]] = []
        for slot, u in enumerate(coins.nonzero().flatten().tolist()):
            m = self.members[u]
            if len(m) > self.cap:
                pick = torch.randperm(len(m), generator=self.gen)[:self.cap].tolist()
                m = [m[k] for k in sorted(pick)]
            rows.extend((i, slot) for i in m)
        return rows

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
