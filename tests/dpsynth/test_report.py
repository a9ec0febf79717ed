"""The report's measures on known inputs: TVD, Cramér's V, the naive-Bayes task, DCR, the
membership AUC, the rare-record match rate."""

from __future__ import annotations

import numpy as np
import pytest

from privtune.dpsynth import report


def _data(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, n)
    b = (a + (rng.random(n) < 0.1)) % 4       # b follows a
    c = rng.integers(0, 3, n)                  # independent
    return np.stack([a, b, c], 1)


SHAPE = (4, 4, 3)


def test_tvd() -> None:
    x = _data(500, 1)
    assert report.tvd(x, x, (0, 1), SHAPE) == 0.0
    y = x.copy()
    y[:, 2] = (y[:, 2] + 1) % 3  # every value moved
    assert report.tvd(x, y, (2,), SHAPE) == pytest.approx(
        0.5 * np.abs(np.bincount(x[:, 2], minlength=3) -
                     np.bincount(y[:, 2], minlength=3)).sum() / 500)
    assert report.mean_tvd(x, _data(500, 2), SHAPE, 2) < 0.1


def test_cramers_v_sees_the_dependence() -> None:
    x = _data(2000, 3)
    m = report.correlations(x, SHAPE)
    assert m[0][1] > 0.8 and m[0][2] < 0.1 and m[1][0] == m[0][1]


def test_naive_bayes_learns_b_from_a() -> None:
    train, test = _data(2000, 4), _data(500, 5)
    assert report.naive_bayes_accuracy(train, test, 1, SHAPE) > 0.85


def test_min_hamming_and_auc() -> None:
    x = _data(50, 6)
    assert (report.min_hamming(x, x) == 0).all()
    assert (report.min_hamming(x, x, exclude_self=True) >= 0).all()
    assert report.auc(np.array([3, 4, 5]), np.array([0, 1, 2])) == 1.0
    assert report.auc(np.array([1, 1]), np.array([1, 1])) == 0.5


def test_rare_match_rate() -> None:
    real = np.array([[0, 0, 0], [1, 1, 1], [1, 1, 1], [2, 2, 2]])
    syn = np.array([[0, 0, 0], [3, 3, 2]])
    rate, n = report.rare_match_rate(real, syn)
    assert n == 2 and rate == 0.5  # [0,0,0] and [2,2,2] are unique; one is in syn


def test_build_report_holds_numbers_and_names_only() -> None:
    train, hold, syn = _data(300, 7), _data(300, 8), _data(300, 9)
    rep = report.build_report(train, hold, syn, SHAPE, ("a", "b", "c"),
                              ("department", "performance_rating", "gender"))
    assert rep["downstream"]["target"] == "b"
    assert set(rep["tvd"]) == {"1way", "2way", "3way"}
    assert 0.3 < rep["privacy"]["membership_inference"]["auc"] < 0.7
