"""The Gaussian mechanism of DP-SGD: noisy average of the clipped unit gradients.

``grad = (sum_u clip(G_u) + N(0, (sigma * C)^2 I)) / expected_batch_size``. The divisor is the
*expected* number of units per step (``q * units``), never the sampled count: the sampled count
is itself private. The noise is drawn from a :class:`~privtune.dp.csprng.DPRandom` (by default
the cryptographic :class:`~privtune.dp.csprng.SecureRandom`: no seed, no stored state), for all
of a step's tensors at once.
"""

from __future__ import annotations

import torch

from privtune.dp.csprng import DPRandom


def add_noise(sums: list[torch.Tensor], std: float, denominator: float,
              rng: DPRandom) -> list[torch.Tensor]:
    """``(s + N(0, std^2)) / denominator`` for each tensor (a new tensor; ``std`` may be 0)."""
    out = [s.clone() for s in sums]
    if std > 0 and out:
        by_device: dict[torch.device, list[torch.Tensor]] = {}
        for t in out:
            by_device.setdefault(t.device, []).append(t)
        for device, ts in by_device.items():
            z = rng.normal(sum(t.numel() for t in ts), std, torch.float64, device)
            offset = 0
            for t in ts:
                t.add_(z[offset:offset + t.numel()].view_as(t).to(t.dtype))
                offset += t.numel()
    return [t.div_(denominator) for t in out]
