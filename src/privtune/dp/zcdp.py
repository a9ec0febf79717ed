"""Zero-concentrated DP (zCDP, Bun & Steinke 2016) for mechanisms built from Gaussian
measurements and exponential-mechanism selections: the marginal-based synthesisers (MST, AIM).

* A Gaussian measurement of a query with L2 sensitivity ``s`` and noise ``N(0, sigma^2)`` is
  ``rho = s^2 / (2 sigma^2)``-zCDP; zCDP composes by adding the rhos.
* The exponential mechanism with parameter ``eps`` (score sensitivity ``Delta``, selecting
  ``exp(eps * score / (2 Delta))``) is ``eps^2 / 8``-zCDP (Cesar & Rogers 2021, the bound MST and
  AIM use).
* rho-zCDP implies ``(eps, delta)``-DP with the conversion of Canonne, Kamath & Steinke (2020,
  Prop. 12 / Cor. 13): ``delta(eps) = inf_a exp((a-1)(a rho - eps)) / (a-1) *
  (1 - 1/a)^a``, tighter than ``rho + 2 sqrt(rho log 1/delta)``. :func:`rho_for` inverts it by
  bisection on the same function, so the rho a synthesiser spends is checked by the code that
  reports its epsilon (``tests/dp/test_zcdp.py`` checks it against Google's ``dp-accounting``
  RDP accountant).
"""

from __future__ import annotations

import math

import numpy as np

from privtune.errors import ConfigError

#: the orders searched: 1 + 10^x for x in [-4, 7] (the optimum is near (eps + rho) / (2 rho))
_ALPHAS = 1.0 + np.logspace(-4, 7, 5000)


def _delta(rho: float, eps: float) -> float:
    """The smallest delta rho-zCDP gives at ``eps`` (CKS20, minimised over the order)."""
    if rho <= 0:
        return 0.0
    a = _ALPHAS
    log_d = (a - 1) * (a * rho - eps) + (a - 1) * np.log1p(-1 / a) - np.log(a)
    return float(min(1.0, math.exp(min(0.0, float(log_d.min())))))


def epsilon(rho: float, delta: float) -> float:
    """The ``eps`` of ``(eps, delta)``-DP implied by ``rho``-zCDP (bisection on :func:`_delta`)."""
    if not 0 < delta < 1:
        raise ValueError("need 0 < delta < 1")
    if rho <= 0:
        return 0.0
    lo, hi = 0.0, rho + 2 * math.sqrt(rho * math.log(1 / delta)) + 1e-12  # the simple bound
    for _ in range(100):
        mid = (lo + hi) / 2
        if _delta(rho, mid) <= delta:
            hi = mid
        else:
            lo = mid
    return hi


def rho_for(eps: float, delta: float) -> float:
    """The largest rho whose :func:`epsilon` at ``delta`` is at most ``eps``."""
    if not (eps > 0 and math.isfinite(eps)):
        raise ConfigError("epsilon must be a positive number", key="epsilon")
    if not 0 < delta < 1:
        raise ConfigError("delta must be in (0, 1)", key="delta")
    lo, hi = 0.0, eps  # rho <= eps always (eps >= rho)
    for _ in range(100):
        mid = (lo + hi) / 2
        if _delta(mid, eps) <= delta:
            lo = mid
        else:
            hi = mid
    return lo


def gaussian_sigma(rho: float, sensitivity: float = 1.0) -> float:
    """The noise std of a Gaussian measurement that spends ``rho`` (L2 ``sensitivity``)."""
    if rho <= 0:
        raise ValueError("rho must be positive")
    return sensitivity / math.sqrt(2 * rho)


def gaussian_rho(sigma: float, sensitivity: float = 1.0) -> float:
    """The rho a Gaussian measurement with noise std ``sigma`` spends."""
    return sensitivity ** 2 / (2 * sigma ** 2)


def exponential_epsilon(rho: float) -> float:
    """The exponential mechanism's ``eps`` that spends ``rho`` (``rho = eps^2 / 8``)."""
    return math.sqrt(8 * rho)


def exponential_rho(eps: float) -> float:
    return eps ** 2 / 8


class ZCDPAccountant:
    """The rho spent so far by a synthesiser, against the budget it was given."""

    def __init__(self, budget_rho: float) -> None:
        self.budget = float(budget_rho)
        self.spent = 0.0
        self.gaussian = 0
        self.exponential = 0

    @property
    def left(self) -> float:
        return max(0.0, self.budget - self.spent)

    def _spend(self, rho: float) -> None:
        if self.spent + rho > self.budget * (1 + 1e-9):
            raise ValueError(f"zCDP budget exceeded: {self.spent + rho:.6g} > {self.budget:.6g}")
        self.spent += rho

    def gaussian_measurement(self, sigma: float, sensitivity: float = 1.0) -> None:
        self._spend(gaussian_rho(sigma, sensitivity))
        self.gaussian += 1

    def exponential_selection(self, eps: float) -> None:
        self._spend(exponential_rho(eps))
        self.exponential += 1
