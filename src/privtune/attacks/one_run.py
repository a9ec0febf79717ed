"""An empirical epsilon lower bound from one training run (Steinke, Nasr and Jagielski 2023,
"Privacy auditing with one (1) training run", Theorem 3 and Appendix D).

``m`` candidate canaries are each included in training independently with probability 1/2.
After training the auditor scores every candidate, guesses "in" for the ``k_plus`` highest
scores and "out" for the ``k_minus`` lowest (abstaining on the rest): ``r = k_plus + k_minus``
guesses, ``v`` of them correct. For an (epsilon, delta)-DP training run

    P[W >= v] <= P[Binomial(r, q) >= v] + 2 m delta * max_{i=1..v} P[v - i <= Binomial(r, q) < v] / i,
    q = e^eps / (1 + e^eps),

so an epsilon at which the right side is below ``beta`` is rejected at confidence ``1 - beta``;
the lower bound is the largest rejected epsilon (bisection; the right side grows with epsilon).
Several guess counts are tried with a Bonferroni-corrected ``beta / len(guess_counts)``, so
picking the best of them keeps the confidence. Pure Python (log-space binomials), no SciPy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BETA = 0.05
EPS_MAX = 50.0
#: The guess counts tried (each side: k_plus = k_minus = k), as fractions of the candidates.
GUESS_FRACTIONS = (0.05, 0.1, 0.2, 0.5)


def _log_pmf(k: int, n: int, q: float) -> float:
    if q <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if q >= 1.0:
        return 0.0 if k == n else -math.inf
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(q) + (n - k) * math.log1p(-q))


def binom_pmf(k: int, n: int, q: float) -> float:
    return math.exp(_log_pmf(k, n, q)) if 0 <= k <= n else 0.0


def binom_sf(v: int, n: int, q: float) -> float:
    """``P[Binomial(n, q) >= v]``."""
    if v <= 0:
        return 1.0
    return min(1.0, math.fsum(binom_pmf(k, n, q) for k in range(v, n + 1)))


def p_value(m: int, r: int, v: int, eps: float, delta: float) -> float:
    """Probability of at least ``v`` correct guesses out of ``r`` under an (eps, delta)-DP run
    with ``m`` candidates (the right side above, capped at 1)."""
    if not (0 <= v <= r <= m) or eps < 0 or not 0 <= delta <= 1:
        raise ValueError("need 0 <= v <= r <= m, eps >= 0, 0 <= delta <= 1")
    q = 1.0 / (1.0 + math.exp(-eps))
    p = binom_sf(v, r, q)
    if delta > 0:
        alpha, acc = 0.0, 0.0
        for i in range(1, v + 1):
            acc += binom_pmf(v - i, r, q)
            alpha = max(alpha, acc / i)
        p += 2 * m * delta * alpha
    return min(p, 1.0)


def epsilon_lower_bound(m: int, r: int, v: int, delta: float, beta: float = BETA) -> float:
    """The largest epsilon rejected at confidence ``1 - beta`` (0 when none is)."""
    if p_value(m, r, v, 0.0, delta) >= beta:
        return 0.0
    lo, hi = 0.0, EPS_MAX
    if p_value(m, r, v, hi, delta) < beta:
        return hi
    for _ in range(60):
        mid = (lo + hi) / 2
        if p_value(m, r, v, mid, delta) < beta:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass
class OneRunResult:
    epsilon_lb: float
    candidates: int
    included: int
    guesses: int
    correct: int
    k: int
    delta: float
    beta: float

    def as_dict(self) -> dict[str, Any]:
        return {"epsilon_lower_bound": round(self.epsilon_lb, 4), "candidates": self.candidates,
                "included": self.included, "guesses": self.guesses, "correct": self.correct,
                "k_each_side": self.k, "delta": self.delta, "confidence": 1 - self.beta}


def guess_counts(m: int) -> list[int]:
    return sorted({max(1, int(f * m / 2)) for f in GUESS_FRACTIONS if m >= 2})


def one_run_audit(scores: Sequence[float], included: Sequence[bool], delta: float,
                  beta: float = BETA) -> OneRunResult:
    """Guess the top ``k`` scores "in" and the bottom ``k`` "out" for each ``k`` of
    :func:`guess_counts`; the best lower bound, each computed at ``beta / len(counts)``."""
    if len(scores) != len(included):
        raise ValueError("one score per candidate")
    m = len(scores)
    order = sorted(range(m), key=lambda i: scores[i])        # ascending: lowest = "out"
    best = OneRunResult(0.0, m, sum(map(bool, included)), 0, 0, 0, delta, beta)
    counts = guess_counts(m)
    for k in counts:
        outs, ins = order[:k], order[m - k:]
        v = sum(1 for i in ins if included[i]) + sum(1 for i in outs if not included[i])
        lb = epsilon_lower_bound(m, 2 * k, v, delta, beta / len(counts))
        if lb > best.epsilon_lb or best.guesses == 0:
            best = OneRunResult(lb, m, best.included, 2 * k, v, k, delta, beta)
    return best
