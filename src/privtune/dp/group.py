"""Person-level epsilon: group privacy over the units that carry one person's data.

A unit-level (epsilon, delta) guarantee covers adding or removing one privacy unit. A person
whose data sits in ``k`` units (:mod:`privtune.dp.units`, "group size") is covered only by group
privacy over ``k`` units. :func:`group_epsilon` gives an upper bound on epsilon at the same
delta for ``steps`` Poisson-subsampled Gaussian steps, as the smaller of two sound conversions
(both upper bounds, so their minimum is one too):

1. **RDP order scaling** (Mironov 2017, "Rényi Differential Privacy", Prop. 2): if a mechanism
   is ``(alpha, r)``-RDP for neighbouring datasets and ``alpha >= 2^(c+1)``, it is
   ``(alpha / 2^c, 3^c * r)``-RDP for datasets ``2^c`` apart. With ``c = ceil(log2 k)``:
   ``r_k(a) = 3^c * r(2^c * a)`` for every order ``a >= 2``, then the RDP -> (epsilon, delta)
   conversion of Balle et al. 2020 (Theorem 21, the one Opacus uses).
2. **(epsilon, delta) group privacy** (Dwork & Roth, Lemma 2.2 generalised; Vadhan 2017,
   Lemma 2.3): an ``(e, d)``-DP mechanism is ``(k e, k e^((k-1) e) d)``-DP for groups of ``k``.
   We find the smallest unit-level ``e`` for which the RDP curve gives
   ``(e, delta / (k e^((k-1) e)))``-DP, by bisection (the per-unit delta can be tiny, so the
   conversion is done in log space), and report ``k * e``.

For ``k = 1`` the figure is the run's own accountant's epsilon (PRV / PLD / RDP), so a person in
one unit has exactly the unit-level guarantee; for ``k >= 2`` the figure is never below it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from privtune.dp.accountant import epsilon

#: Orders of the group-size-``k`` RDP curve (route 1): ``2^c * a`` must be an order the
#: subsampled-Gaussian bound is computed at; integers keep Opacus on its exact integer path.
ROUTE1_ORDERS: tuple[float, ...] = tuple(float(a) for a in range(2, 129))
#: Orders of the unit-level RDP curve (route 2): fine near 1, far out for large groups.
ROUTE2_ORDERS: tuple[float, ...] = tuple(
    [1 + x / 10.0 for x in range(1, 100)] + [float(a) for a in range(11, 64)]
    + [64.0, 80.0, 96.0, 128.0, 192.0, 256.0, 384.0, 512.0, 1024.0])
#: Relative precision of the route-2 bisection.
BISECT_TOL = 1e-6
METHOD = "group privacy: min(RDP order scaling 3^c at 2^c, (k e, k e^((k-1)e) d))"


def rdp_curve(sigma: float, q: float, steps: int, orders: tuple[float, ...] | list[float]) -> np.ndarray:
    """RDP of ``steps`` Poisson-subsampled Gaussian steps at each order (Opacus's bound)."""
    from opacus.accountants.analysis.rdp import compute_rdp

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return np.atleast_1d(np.asarray(
            compute_rdp(q=q, noise_multiplier=sigma, steps=steps, orders=list(orders)), dtype=float))


def rdp_to_dp(orders: np.ndarray | list[float], rdp: np.ndarray | list[float], log_delta: float) -> float:
    """Epsilon at ``delta = exp(log_delta)`` from an RDP curve (Balle et al. 2020, Thm 21),
    in log space so that deltas far below float range work."""
    a = np.asarray(orders, dtype=float)
    r = np.asarray(rdp, dtype=float)
    with np.errstate(all="ignore"):
        eps = r - (log_delta + np.log(a)) / (a - 1) + np.log((a - 1) / a)
    eps = eps[np.isfinite(eps)]
    return max(0.0, float(eps.min())) if eps.size else math.inf


def group_rdp(sigma: float, q: float, steps: int, k: int,
              orders: tuple[float, ...] = ROUTE1_ORDERS) -> tuple[list[float], np.ndarray]:
    """Route 1: the orders ``a`` and RDP ``3^c * r(2^c * a)`` for groups of ``k <= 2^c``."""
    c = max(0, math.ceil(math.log2(k)))
    scaled = [a * 2**c for a in orders]
    return list(orders), 3.0**c * rdp_curve(sigma, q, steps, scaled)


def approx_dp_group(eps: float, delta: float, k: int) -> tuple[float, float]:
    """Route 2's lemma: ``(eps, delta)``-DP gives ``(k eps, k e^((k-1) eps) delta)`` for k."""
    return k * eps, k * math.exp((k - 1) * eps) * delta


def _route2(sigma: float, q: float, steps: int, delta: float, k: int) -> float:
    orders = list(ROUTE2_ORDERS)
    rdp = rdp_curve(sigma, q, steps, orders)
    base = math.log(delta) - math.log(k)

    def short(e: float) -> bool:  # is the mechanism (e, delta / (k e^((k-1)e)))-DP?
        return rdp_to_dp(orders, rdp, base - (k - 1) * e) <= e

    hi = max(1.0, rdp_to_dp(orders, rdp, base))
    while not short(hi):
        hi *= 2
        if hi > 1e7:
            return math.inf
    lo = 0.0
    while hi - lo > BISECT_TOL * hi:
        mid = (lo + hi) / 2
        if short(mid):
            hi = mid
        else:
            lo = mid
    return k * hi


def group_epsilon(sigma: float, q: float, steps: int, delta: float, k: int,
                  accountant: str = "prv") -> float:
    """Epsilon at ``delta`` for a person whose data sits in ``k`` units (module docstring)."""
    if k < 1:
        raise ValueError("group size must be at least 1")
    unit = epsilon(sigma, q, steps, delta, accountant)
    if k == 1 or steps == 0 or math.isinf(unit):
        return unit
    orders, rdp = group_rdp(sigma, q, steps, k)
    route1 = rdp_to_dp(orders, rdp, math.log(delta))
    return max(unit, min(route1, _route2(sigma, q, steps, delta, k)))
