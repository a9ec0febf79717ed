"""The ``dp:`` section of the pipeline config: differentially private LoRA fine-tuning.

DP-SGD over **privacy units**: ``employee`` (default; all examples about one employee form one
unit) or ``example``. Each step samples units by Poisson sampling at rate
``q = expected_batch_size / number_of_units``, takes at most ``max_examples_per_unit`` of a
sampled unit's examples, clips each unit's *summed* gradient to ``max_grad_norm``, adds
Gaussian noise of standard deviation ``noise_multiplier * max_grad_norm`` and divides by
``expected_batch_size`` (see :mod:`privtune.dp.step`, docs/dp.md).

Give either ``target_epsilon`` (the noise multiplier is calibrated for the planned steps, the
sampling rate and ``delta``) or ``noise_multiplier`` (epsilon is then computed); with neither,
``target_epsilon`` is :data:`DEFAULT_TARGET_EPSILON`. ``delta`` defaults to
:func:`default_delta`: a power of ten at or below ``1 / (10 * units)``, so well below
``1 / units``. ``budget_epsilon`` caps the epsilon the training set may spend over all runs
(the workspace ledger, :mod:`privtune.dp.ledger`); a run that would exceed it is refused
before it starts.

Sampling and noise draw from a cryptographic generator keyed from the OS
(:mod:`privtune.dp.csprng`); no seed is accepted and none is stored. ``insecure_reproducible``
(tests only) swaps in generators seeded from ``train.seed``: the run is then reproducible and
**not private** (its privacy record says so, and the gate refuses it).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from privtune.config import StrictModel

#: Epsilon when DP is on and neither ``target_epsilon`` nor ``noise_multiplier`` is given.
DEFAULT_TARGET_EPSILON = 8.0
#: Delta is at most ``1 / (DELTA_FACTOR * units)``.
DELTA_FACTOR = 10
#: Cost of one extra forward/backward call in padded tokens (for the unit-grouped batches).
CALL_OVERHEAD_TOKENS = 64


def default_delta(num_units: int) -> float:
    """The largest power of ten at or below ``1 / (10 * num_units)`` (``300 -> 1e-4``)."""
    if num_units < 1:
        raise ValueError("no privacy units")
    return 10.0 ** math.floor(math.log10(1.0 / (DELTA_FACTOR * num_units)))


class DPSpec(StrictModel):
    """Differential privacy of the fine-tuning run (off by default)."""

    enabled: bool = False
    unit: Literal["employee", "example"] = Field(
        default="employee", description="privacy unit: every example about one employee, or one example")
    target_epsilon: float | None = Field(default=None, gt=0, le=1000)
    noise_multiplier: float | None = Field(default=None, ge=0, le=1000)
    delta: float | None = Field(default=None, gt=0, lt=1, description="default: <= 1/(10*units)")
    max_grad_norm: float = Field(default=1.0, gt=0, description="clipping bound of a unit's gradient")
    expected_batch_size: int = Field(default=64, ge=1, description="expected units per step (Poisson)")
    max_examples_per_unit: int = Field(
        default=4, ge=1, description="examples of a sampled unit used in one step (chosen at random)")
    accountant: Literal["rdp", "prv", "pld"] = "prv"
    multi_employee: Literal["each", "drop"] = Field(
        default="each", description="an example about several employees: in each one's unit, or dropped")
    budget_epsilon: float | None = Field(
        default=None, gt=0, description="refuse a run that would take the training set past this epsilon")
    insecure_reproducible: bool = Field(
        default=False, description="tests only: sampling and noise from torch generators seeded "
        "from train.seed; the model is marked not private and the gate refuses to release it")

    @model_validator(mode="after")
    def _check(self) -> DPSpec:
        if self.target_epsilon is not None and self.noise_multiplier is not None:
            raise ValueError("give target_epsilon or noise_multiplier, not both")
        return self

    def epsilon_goal(self) -> float | None:
        """The epsilon to calibrate for, or None when ``noise_multiplier`` is fixed."""
        if self.noise_multiplier is not None:
            return None
        return self.target_epsilon if self.target_epsilon is not None else DEFAULT_TARGET_EPSILON

    @property
    def secure(self) -> bool:
        """DP on with secure randomness: no seed and no generator state may be written."""
        return self.enabled and not self.insecure_reproducible
