"""A DP training plan: units, sampling rate, delta and the calibrated noise, before any work.

:func:`make_plan` is called before the model is loaded, so a run whose privacy settings are
impossible (or whose budget is spent, :mod:`privtune.dp.ledger`) fails before it starts. The
plan's :meth:`DPPlan.record` is the ``privacy`` block every trained model carries (vault
metadata, run record, model card). It carries the unit-level epsilon and, next to it, the
person-level one (``epsilon_person``: group privacy over ``group_size``, the most units any one
person's data sits in; :mod:`privtune.dp.group`), which equals the unit-level figure when every
person is in one unit; its ``private`` is False for a
``dp.insecure_reproducible`` run, which the gate refuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from privtune.dp.accountant import calibrate, epsilon
from privtune.dp.config import DPSpec, default_delta
from privtune.dp.group import METHOD as GROUP_METHOD
from privtune.dp.group import group_epsilon
from privtune.dp.units import Units, build_units
from privtune.errors import ConfigError


@dataclass
class DPPlan:
    spec: DPSpec
    units: Units
    sampling_rate: float
    delta: float
    noise_multiplier: float
    steps: int
    epsilon: float  # for the planned steps
    epsilon_person: float  # for the planned steps, by group privacy over units.max_group_size

    @property
    def group_size(self) -> int:
        return self.units.max_group_size

    def epsilon_person_after(self, steps: int) -> float:
        """The person-level epsilon after ``steps`` steps."""
        if steps == self.steps:
            return self.epsilon_person
        return group_epsilon(self.noise_multiplier, self.sampling_rate, steps, self.delta,
                             self.group_size, self.spec.accountant)

    @property
    def noise_std(self) -> float:
        return self.noise_multiplier * self.spec.max_grad_norm

    def epsilon_after(self, steps: int) -> float:
        """Epsilon actually spent after ``steps`` steps (early stopping spends less)."""
        if steps == self.steps:
            return self.epsilon
        return epsilon(self.noise_multiplier, self.sampling_rate, steps, self.delta,
                       self.spec.accountant)

    def record(self, steps: int | None = None) -> dict[str, Any]:
        """The ``privacy`` block of a model's metadata."""
        steps = self.steps if steps is None else steps
        return {
            "dp": True,
            "epsilon": round(self.epsilon_after(steps), 4),
            "epsilon_person": round(self.epsilon_person_after(steps), 4),
            "group_size": self.group_size,
            "group_sizes": {str(g): n for g, n in self.units.group_sizes.items()},
            "group_method": GROUP_METHOD,
            "delta": self.delta,
            "unit": self.spec.unit,
            "accountant": self.spec.accountant,
            "noise_multiplier": round(self.noise_multiplier, 6),
            "max_grad_norm": self.spec.max_grad_norm,
            "sampling_rate": round(self.sampling_rate, 8),
            "steps": steps,
            "expected_batch_size": self.spec.expected_batch_size,
            "max_examples_per_unit": self.spec.max_examples_per_unit,
            "units": len(self.units),
            "employee_units": self.units.employee_units,
            "multi_employee": self.spec.multi_employee,
            "max_co_units": self.units.max_co_units,
            "target_epsilon": self.spec.epsilon_goal(),
            # sampling and noise: a CSPRNG keyed from the OS, or (tests) replayable from a seed
            "private": not self.spec.insecure_reproducible,
            "insecure_reproducible": self.spec.insecure_reproducible,
            "randomness": ("seeded torch generators (insecure_reproducible)"
                           if self.spec.insecure_reproducible else "ChaCha20 keyed from os.urandom"),
        }


def make_plan(spec: DPSpec, employee_ids: Sequence[Sequence[str]], steps: int,
              mentions: Sequence[Sequence[str]] | None = None) -> DPPlan:
    """Units from each training example's ``employee_ids``, then sampling rate, delta, sigma;
    ``mentions`` (third parties each example still names) count for the group sizes only."""
    units = build_units(employee_ids, spec.unit, spec.multi_employee, mentions)
    n = len(units)
    if n == 0:
        raise ConfigError("differential privacy needs at least one privacy unit", key="dp.unit")
    q = min(1.0, spec.expected_batch_size / n)
    delta = spec.delta if spec.delta is not None else default_delta(n)
    if delta >= 1.0 / n:
        raise ConfigError(f"dp.delta must be below 1 / number of units (1/{n})", key="dp.delta")
    goal = spec.epsilon_goal()
    if goal is None:
        assert spec.noise_multiplier is not None  # epsilon_goal() is None only when it is set
        sigma = float(spec.noise_multiplier)
    else:
        sigma = calibrate(goal, q, steps, delta, spec.accountant)
    eps = epsilon(sigma, q, steps, delta, spec.accountant)
    eps_person = (eps if units.max_group_size == 1 else
                  group_epsilon(sigma, q, steps, delta, units.max_group_size, spec.accountant))
    return DPPlan(spec, units, q, delta, sigma, steps, eps, eps_person)
