"""Exposure math, exactly, on toy likelihoods; extrapolation against the analytic normal tail."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.attacks.canaries import Canary
from privtune.attacks.exposure import (
    CanaryExposure,
    by_repetition,
    candidate_secrets,
    exact_exposure,
    extrapolated_exposure,
    fit_normal,
    log_normal_cdf,
    rank_of,
)


def test_exact_exposure_on_a_toy_model_with_known_likelihoods() -> None:
    # A toy "model" over a 16-member space: p(candidate k) proportional to 2**-k.
    probs = [2.0 ** -k for k in range(16)]
    z = sum(probs)
    bits = [-math.log2(p / z) for p in probs]          # log-perplexity of each candidate
    for k in range(16):
        others = bits[:k] + bits[k + 1:]
        assert rank_of(bits[k], others) == k + 1
        assert exact_exposure(bits[k], others) == pytest.approx(4.0 - math.log2(k + 1), abs=1e-12)
    assert exact_exposure(bits[0], bits[1:]) == 4.0        # memorised: log2 |R|
    assert exact_exposure(bits[15], bits[:15]) == 0.0       # least likely of all


def test_ties_count_in_the_secrets_favour() -> None:
    assert rank_of(5.0, [5.0, 5.0, 4.0, 6.0]) == 2
    assert exact_exposure(5.0, [5.0] * 7) == 3.0


def test_exact_exposure_with_a_declared_space() -> None:
    assert exact_exposure(1.0, [2.0, 3.0], space_size=1024) == 10.0


@given(st.floats(-50, 50), st.lists(st.floats(-50, 50), min_size=1, max_size=60))
def test_exact_exposure_bounds_and_definition(secret: float, others: list[float]) -> None:
    e = exact_exposure(secret, others)
    assert 0.0 <= e <= math.log2(len(others) + 1) + 1e-12
    r = 1 + sum(1 for x in others if x < secret)
    assert e == pytest.approx(math.log2(len(others) + 1) - math.log2(r))


def test_log_normal_cdf_matches_erfc_and_is_continuous_in_the_tail() -> None:
    for z in (-5.0, -1.0, 0.0, 2.0):
        assert log_normal_cdf(z) == pytest.approx(math.log(0.5 * math.erfc(-z / math.sqrt(2))))
    assert log_normal_cdf(-30.0 + 1e-9) == pytest.approx(log_normal_cdf(-30.0 - 1e-9), rel=1e-6)
    assert log_normal_cdf(-100.0) < log_normal_cdf(-50.0) < 0


def test_extrapolated_exposure_reads_the_normal_tail() -> None:
    sample = [float(x) for x in range(-50, 51)]            # mean 0
    mu, sigma = fit_normal(sample)
    assert mu == 0.0
    # a secret at the mean: P = 1/2 -> 1 bit
    assert extrapolated_exposure(0.0, sample, 10 ** 9) == pytest.approx(1.0)
    # two sigmas below: -log2 Phi(-2)
    want = -math.log2(0.5 * math.erfc(2 / math.sqrt(2)))
    assert extrapolated_exposure(-2 * sigma, sample, 10 ** 9) == pytest.approx(want)
    # far below: capped at log2 |R|
    assert extrapolated_exposure(-1e6, sample, 1000) == pytest.approx(math.log2(1000))
    assert extrapolated_exposure(1e6, sample, 1000) == 0.0


@settings(max_examples=40)
@given(st.floats(-20, 20), st.floats(-20, 20))
def test_extrapolated_exposure_is_monotone(a: float, b: float) -> None:
    sample = [random.Random(0).gauss(0, 3) for _ in range(200)]
    lo, hi = min(a, b), max(a, b)
    assert extrapolated_exposure(lo, sample, 10 ** 9) >= extrapolated_exposure(hi, sample, 10 ** 9)


def _canary(secret: str, space: list[str] | None) -> Canary:
    return Canary("CANARY-000", "employee_fact", "f", "EMP-0000000001", "sys", "q?", "is ",
                  secret, ".", space, 1, True)


def test_candidates_exact_space_and_sampled_space() -> None:
    small = _canary("B2", ["B1", "B2", "B3", "B10"])
    cands, how = candidate_secrets(small, 50, random.Random(0), exact_limit=1000)
    assert how == "exact" and cands == ["B1", "B3", "B10"]
    big = _canary("EMP-3fa9b2c471", None)
    cands, how = candidate_secrets(big, 300, random.Random(0), exact_limit=1000)
    assert how == "extrapolated" and len(set(cands)) == 300 and big.secret not in cands
    assert all(c.startswith("EMP-") and len(c) == 14 for c in cands)
    assert big.space_size == 16 ** 10


def test_by_repetition_groups() -> None:
    rs = [CanaryExposure("a", 1, 1.0, "exact", 9, 5, 3.0, 3.3),
          CanaryExposure("b", 1, 2.0, "exact", 9, 3, 3.0, 3.3),
          CanaryExposure("c", 16, 3.0, "exact", 9, 1, 3.0, 3.3),
          CanaryExposure("d", 16, 9.0, "exact", 9, 1, 3.0, 3.3, included=False)]  # not planted
    assert by_repetition(rs) == {1: {"mean": 1.5, "max": 2.0, "canaries": 2},
                                 16: {"mean": 3.0, "max": 3.0, "canaries": 1}}
