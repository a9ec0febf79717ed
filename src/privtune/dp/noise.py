"""The Gaussian mechanism of DP-SGD: noisy average of the clipped unit gradients.

``grad = (sum_u clip(G_u) + N(0, (sigma * C)^2 I)) / expected_batch_size``. The divisor is the
*expected* number of units per step (``q * units``), never the sampled count: the sampled count
is itself private. The noise comes from a dedicated generator, seeded from the operating
system's randomness unless ``dp.noise_seed`` is set (tests); its state is checkpointed so a
resumed run continues the same stream.
"""

from __future__ import annotations

import secrets

import torch


def noise_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(secrets.randbits(63) if seed is None else int(seed))
    return gen


def add_noise(sums: list[torch.Tensor], std: float, denominator: float,
              gen: torch.Generator) -> list[torch.Tensor]:
    """``(s + N(0, std^2)) / denominator`` for each tensor (a new tensor; ``std`` may be 0)."""
    out = []
    for s in sums:
        noisy = s.clone()
        if std > 0:
            noisy.add_(torch.normal(0.0, std, size=s.shape, generator=gen, device=s.device,
                                    dtype=s.dtype))
        out.append(noisy.div_(denominator))
    return out
