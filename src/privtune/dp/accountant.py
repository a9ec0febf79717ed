"""Privacy accounting for Poisson-subsampled Gaussian DP-SGD, through maintained libraries.

* ``rdp``: Opacus's Rényi-DP accountant (Mironov et al.; the conversion of Balle et al. 2020).
* ``prv``: Opacus's privacy-random-variable accountant (Gopi et al. 2021): tighter.
* ``pld``: Google's ``dp-accounting`` privacy-loss-distribution accountant: tight as well.

:func:`epsilon` gives epsilon for ``(sigma, q, steps, delta)``; :func:`calibrate` the smallest
noise multiplier (to :data:`SIGMA_TOL`) whose epsilon is at most the target, by bisection on
the accountant's own epsilon, so the returned sigma is checked by the same code that reports
the run's epsilon. ``sigma == 0`` means no privacy: epsilon is ``inf``. The PRV accountant
overflows its domain for tiny sigma (an allocation of tens of GiB): it is asked only when the
RDP bound is below :data:`PRV_MAX_EPS`; above it the RDP figure (an upper bound) is used.
"""

from __future__ import annotations

import math
import warnings

from privtune.errors import ConfigError

ACCOUNTANTS = ("rdp", "prv", "pld")
SIGMA_TOL = 2e-3
SIGMA_MAX = 500.0
#: PRV's epsilon error bound (Opacus's default is 0.01).
PRV_EPS_ERROR = 0.01
#: Above this RDP epsilon the PRV / PLD accountants are not asked (no privacy to speak of).
PRV_MAX_EPS = 100.0


def epsilon(sigma: float, q: float, steps: int, delta: float, accountant: str = "prv") -> float:
    """Epsilon of ``steps`` Poisson-subsampled Gaussian steps at rate ``q`` and ``delta``."""
    if accountant not in ACCOUNTANTS:
        raise ConfigError(f"unknown accountant '{accountant}'; one of {', '.join(ACCOUNTANTS)}",
                          key="dp.accountant")
    if not 0 < q <= 1 or steps < 0 or not 0 < delta < 1:
        raise ValueError("need 0 < q <= 1, steps >= 0, 0 < delta < 1")
    if steps == 0:
        return 0.0
    if sigma <= 0:
        return math.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if accountant == "rdp":
            from opacus.accountants import RDPAccountant

            acc = RDPAccountant()
            acc.history = [(sigma, q, steps)]
            return float(acc.get_epsilon(delta))
        bound = epsilon(sigma, q, steps, delta, "rdp")
        if bound > PRV_MAX_EPS:
            return bound
        if accountant == "prv":
            from opacus.accountants import PRVAccountant

            acc = PRVAccountant()
            acc.history = [(sigma, q, steps)]
            try:
                return float(acc.get_epsilon(delta, eps_error=PRV_EPS_ERROR))
            except (ValueError, OverflowError, FloatingPointError, MemoryError):
                return bound
        from dp_accounting import dp_event, pld

        event = dp_event.SelfComposedDpEvent(
            dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)
        acc = pld.PLDAccountant()
        acc.compose(event)
        return float(acc.get_epsilon(delta))


def calibrate(target_epsilon: float, q: float, steps: int, delta: float,
              accountant: str = "prv") -> float:
    """The smallest sigma (within :data:`SIGMA_TOL`) with ``epsilon(sigma) <= target``."""
    if target_epsilon <= 0:
        raise ConfigError("target epsilon must be positive", key="dp.target_epsilon")
    if accountant != "rdp":
        # RDP is an upper bound of PRV / PLD: its sigma is enough, theirs is not much smaller
        hi = calibrate(target_epsilon, q, steps, delta, "rdp")
        lo = hi / 2
        while lo > SIGMA_TOL and epsilon(lo, q, steps, delta, accountant) <= target_epsilon:
            lo, hi = lo / 2, lo
        return _bisect(target_epsilon, q, steps, delta, accountant, lo, hi)
    lo, hi = 0.0, 1.0
    while epsilon(hi, q, steps, delta, accountant) > target_epsilon:
        lo, hi = hi, hi * 2
        if hi > SIGMA_MAX:
            raise ConfigError(
                f"no noise multiplier up to {SIGMA_MAX:g} reaches epsilon {target_epsilon:g} "
                "with these steps and sampling rate; raise dp.target_epsilon or lower "
                "train.steps / dp.expected_batch_size", key="dp.target_epsilon")
    return _bisect(target_epsilon, q, steps, delta, accountant, lo, hi)


def _bisect(target: float, q: float, steps: int, delta: float, accountant: str, lo: float,
            hi: float) -> float:
    """Bisection on ``[lo, hi]`` where ``epsilon(hi) <= target`` (relative tolerance)."""
    while hi - lo > SIGMA_TOL * max(hi, 1.0):
        mid = (lo + hi) / 2
        if epsilon(mid, q, steps, delta, accountant) > target:
            lo = mid
        else:
            hi = mid
    return hi
