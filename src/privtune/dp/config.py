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
:func:`default_delta`: a power of ten at or below ``min(1e-5, 1 / (100 * units))``, far below
``1 / units`` (a delta near ``1 / units`` allows a mechanism that publishes one unit's data
outright); a configured delta at or above ``1 / units`` is refused (:func:`privtune.dp.plan.make_plan`).
``budget_epsilon`` caps, for this run, the epsilon the source exports of the training set may
spend over all runs (the workspace ledger, :mod:`privtune.dp.ledger`); a run that would exceed
it is refused before it starts.

``multi_employee`` decides what an example about several employees costs: ``drop`` (default)
leaves it out, so every person's data sits in one unit and the person-level epsilon equals the
unit-level one; ``each`` puts it in each one's unit, so the person-level epsilon is group
privacy over the most units one person's data sits in (far larger: docs/dp.md).

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
#: Default delta is at most ``1 / (DELTA_FACTOR * units)`` ...
DELTA_FACTOR = 100
#: ... and at most this, however few the units.
MAX_DEFAULT_DELTA = 1e-5
#: Cost of one extra forward/backward call in padded tokens (for the unit-grouped batches).
CALL_OVERHEAD_TOKENS = 64


def default_delta(num_units: int) -> float:
    """The largest power of ten at or below ``min(1e-5, 1 / (100 * num_units))``
    (``300 -> 1e-5``, ``3000 -> 1e-6``)."""
    if num_units < 1:
        raise ValueError("no privacy units")
    bound = min(MAX_DEFAULT_DELTA, 1.0 / (DELTA_FACTOR * num_units))
    # the small epsilon keeps an exact power of ten (1e-5) from rounding down to the next one
    return 10.0 ** math.floor(math.log10(bound) + 1e-9)


class DPSpec(StrictModel):
    """Differential privacy of the fine-tuning run (off by default)."""

    enabled: bool = False
    unit: Literal["employee", "example"] = Field(
        default="employee", description="privacy unit: every example about one employee, or one example")
    target_epsilon: float | None = Field(default=None, gt=0, le=1000)
    noise_multiplier: float | None = Field(default=None, ge=0, le=1000)
    delta: float | None = Field(default=None, gt=0, lt=1, description="default: <= min(1e-5, 1/(100*units))")
    max_grad_norm: float = Field(default=1.0, gt=0, description="clipping bound of a unit's gradient")
    expected_batch_size: int = Field(default=64, ge=1, description="expected units per step (Poisson)")
    max_examples_per_unit: int = Field(
        default=4, ge=1, description="examples of a sampled unit used in one step (chosen at random)")
    accountant: Literal["rdp", "prv", "pld"] = "prv"
    multi_employee: Literal["each", "drop"] = Field(
        default="drop", description=(
            "an example about several employees (a manager/report fact): dropped (default; "
            "every person stays in one unit, group size 1), or in each one's unit (costs group "
            "privacy: a manager with r reports has group size r + 1, see docs/dp.md)"))
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
