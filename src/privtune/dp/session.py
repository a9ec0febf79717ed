"""The DP side of a training run: what :class:`~privtune.dp.strategy.DPStepStrategy` runs when
``dp.enabled`` is on, in place of the plain batch sampler and step.

:class:`DPSession` owns the Poisson unit sampler, the per-unit clipper (hooked into the LoRA
layers) and the noise generator, checks the settings DP cannot run with, and runs one step at a
time through :func:`~privtune.dp.step.dp_train_step`. Sampling and noise draw from
:func:`dp_random`: the cryptographic :class:`~privtune.dp.csprng.SecureRandom` (no seed, nothing
to checkpoint: a resumed run draws fresh randomness, which Poisson sampling allows), or with
``dp.insecure_reproducible`` (tests only) torch generators seeded from ``train.seed``, whose
state ``state_dict`` / ``load_state_dict`` carry so a resumed test run continues exactly.

In a process group only rank 0 samples: it draws the step's Poisson sample and broadcasts the
rows, so the sample (and with it the sampling rate the accountant assumes) is one draw per step
whatever the number of processes; the other ranks' randomness is never used.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from privtune.dp.clip import UnitClipper
from privtune.dp.config import DPSpec
from privtune.dp.csprng import DPRandom, SecureRandom, SeededRandom
from privtune.dp.plan import DPPlan
from privtune.dp.sampler import PoissonUnitSampler
from privtune.dp.step import DPStepStats, dp_train_step
from privtune.errors import ConfigError
from privtune.train.data import Encoded
from privtune.train.distributed import LOCAL, Comm
from privtune.train.hardware import Precision
from privtune.train.spec import TrainSpec


def check_compatible(spec: TrainSpec, precision: Precision, quantized: bool) -> None:
    """Refuse training settings DP does not support (before any step)."""
    if spec.grad_accum != 1:
        raise ConfigError("with dp.enabled the batch is dp.expected_batch_size units; set "
                          "train.grad_accum to 1 (train.batch_size caps rows per forward)",
                          key="train.grad_accum")
    if precision.needs_scaler:
        raise ConfigError("dp.enabled needs fp32 or bf16 (fp16 loss scaling would scale the "
                          "clipping bound)", key="train.precision")
    if quantized:
        raise ConfigError("dp.enabled is not supported with 4-bit quantization yet",
                          key="train.quantization")


def dp_random(spec: DPSpec, train_seed: int, device: torch.device | str) -> DPRandom:
    """The run's randomness: secure unless ``dp.insecure_reproducible`` (then from ``train_seed``)."""
    if spec.insecure_reproducible:
        return SeededRandom(train_seed, device)
    return SecureRandom()


class DPSession:
    def __init__(self, plan: DPPlan, model: torch.nn.Module, encoded: list[Encoded],
                 batch_rows: int, device: torch.device, rng: DPRandom,
                 comm: Comm = LOCAL) -> None:
        if plan.spec.max_examples_per_unit > batch_rows:
            raise ConfigError("dp.max_examples_per_unit must not exceed train.batch_size (a "
                              "unit's examples share one forward)", key="dp.max_examples_per_unit")
        self.plan = plan
        self.encoded = encoded
        self.device = device
        self.batch_rows = batch_rows
        self.position = {e.index: k for k, e in enumerate(encoded)}  # raw index -> encoded
        if rng.private == plan.spec.insecure_reproducible:
            raise ConfigError("the DP run's randomness does not match dp.insecure_reproducible",
                              key="dp.insecure_reproducible")
        self.rng = rng
        self.sampler = PoissonUnitSampler(plan.units, plan.sampling_rate,
                                          plan.spec.max_examples_per_unit, rng)
        self.clipper = UnitClipper(model, plan.spec.max_grad_norm).attach()
        self.model = model
        self.comm = comm

    def step(self, opt: torch.optim.Optimizer, sched: LRScheduler, precision: Precision,
             pad_id: int) -> DPStepStats:
        rows = None
        if self.comm.rank == 0:
            rows = [(self.position[i], slot) for i, slot in self.sampler.next_batch()
                    if i in self.position]  # examples cut by max_seq_len are simply absent
        if self.comm.world > 1:
            rows = self.comm.broadcast_object(rows, 0)
        assert rows is not None
        return dp_train_step(self.model, rows, self.encoded, pad_id, self.device, self.clipper,
                             opt, sched, precision, self.plan.noise_std,
                             float(self.plan.spec.expected_batch_size), self.rng, self.batch_rows,
                             self.comm)

    def state_dict(self) -> dict[str, Any]:
        """Empty with secure randomness; the seeded generators' state otherwise."""
        return self.rng.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.load_state_dict(state)

    def close(self) -> None:
        self.clipper.detach()
