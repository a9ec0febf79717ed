"""The coordinator's side of a round: the noisy step on the global LoRA adapter.

:class:`GlobalAdapter` holds the global adapter (the trainable LoRA tensors, in the order of
:func:`lora_names`) and a server Adam optimiser. :meth:`GlobalAdapter.step` takes the **sum**
of the sites' clipped sums (what SecAgg+ reveals, or the plain sum of the sites' updates
without it), adds ``N(0, (sigma C)^2)`` once, from :class:`~privtune.dp.csprng.SecureRandom`
(:func:`~privtune.dp.noise.add_noise`: the same mechanism as single-site DP-SGD), divides by the
expected number of sampled units and applies the update. Everything after the noise is
post-processing. The coordinator is trusted for the noise only (docs/federated.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from privtune.dp.csprng import DPRandom, SecureRandom
from privtune.dp.noise import add_noise
from privtune.errors import InputError
from privtune.train.lora import wrap_with_lora
from privtune.train.spec import LoraSpec


def lora_names(model: torch.nn.Module) -> list[str]:
    """The trainable (LoRA) parameter names, in module order (the order of the arrays that
    cross the network, and of :class:`~privtune.dp.clip.UnitClipper`'s params)."""
    return [n for n, p in model.named_parameters() if p.requires_grad]


def build_lora_model(base_dir: Path, lora: LoraSpec, seed: int | None = None) -> tuple[Any, Any]:
    """The base model from ``base_dir`` wrapped with LoRA (fp32, CPU) and its tokenizer."""
    from privtune.models.loading import load_local_model
    from privtune.netguard import network_guard

    with network_guard():
        model, tokenizer = load_local_model(base_dir)
    if seed is None:
        torch.seed()
    else:
        torch.manual_seed(seed)
    peft = wrap_with_lora(model, lora)
    peft.to(dtype=torch.float32)
    return peft, tokenizer


def get_arrays(model: torch.nn.Module) -> list[np.ndarray]:
    return [p.detach().cpu().numpy().copy() for _, p in _trainable(model)]


def set_arrays(model: torch.nn.Module, arrays: Sequence[np.ndarray]) -> None:
    params = _trainable(model)
    if len(params) != len(arrays):
        raise InputError(f"the global adapter has {len(arrays)} tensors, this model {len(params)}")
    with torch.no_grad():
        for (name, p), a in zip(params, arrays):
            if tuple(a.shape) != tuple(p.shape):
                raise InputError(f"tensor {name}: shape {a.shape} != {tuple(p.shape)}")
            p.copy_(torch.from_numpy(np.asarray(a, dtype=np.float32)))


def _trainable(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


class GlobalAdapter:
    def __init__(self, arrays: Sequence[np.ndarray], noise_std: float, lr: float,
                 rng: DPRandom | None = None) -> None:
        self.params = [torch.nn.Parameter(torch.tensor(np.asarray(a, dtype=np.float32)))
                       for a in arrays]
        self.noise_std = float(noise_std)
        self.opt = torch.optim.Adam(self.params, lr=lr)
        self.rng = rng if rng is not None else SecureRandom()
        self.steps = 0

    def arrays(self) -> list[np.ndarray]:
        return [p.detach().numpy().copy() for p in self.params]

    def step(self, summed: Sequence[np.ndarray], expected_units: float) -> float:
        """One round's update from the sum of the sites' clipped sums; returns the noisy
        gradient's norm."""
        if len(summed) != len(self.params):
            raise InputError(f"a round's sum has {len(summed)} tensors, the adapter "
                             f"{len(self.params)}")
        sums = [torch.tensor(np.asarray(s, dtype=np.float32)) for s in summed]
        grads = add_noise(sums, self.noise_std, max(expected_units, 1e-9), self.rng)
        for p, g in zip(self.params, grads):
            p.grad = g.view_as(p)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.steps += 1
        return float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])))
