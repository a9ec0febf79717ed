"""Accountant figures against the libraries, calibration, delta default, PRV at sigma 0."""

from __future__ import annotations

import math

import pytest

from privtune.dp.accountant import calibrate, epsilon
from privtune.dp.config import DPSpec, default_delta
from privtune.errors import ConfigError


def test_rdp_matches_opacus_and_google_for_the_known_setting():
    from dp_accounting import dp_event, rdp
    from opacus.accountants import RDPAccountant

    eps = epsilon(1.0, 0.01, 1000, 1e-5, "rdp")
    assert eps == pytest.approx(2.10, abs=0.005)
    acc = RDPAccountant()
    acc.history = [(1.0, 0.01, 1000)]
    assert eps == pytest.approx(acc.get_epsilon(1e-5), rel=1e-9)
    g = rdp.RdpAccountant()
    g.compose(dp_event.SelfComposedDpEvent(
        dp_event.PoissonSampledDpEvent(0.01, dp_event.GaussianDpEvent(1.0)), 1000))
    assert eps == pytest.approx(g.get_epsilon(1e-5), rel=1e-3)


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
def test_prv_and_pld_are_tighter_and_agree():
    prv = epsilon(1.0, 0.01, 1000, 1e-5, "prv")
    pld = epsilon(1.0, 0.01, 1000, 1e-5, "pld")
    assert prv == pytest.approx(pld, abs=0.03)
    assert prv < epsilon(1.0, 0.01, 1000, 1e-5, "rdp")


@pytest.mark.parametrize("acc", ["rdp", "prv", "pld"])
def test_sigma_zero_is_no_privacy_and_never_crashes(acc):
    assert epsilon(0.0, 0.5, 100, 1e-5, acc) == math.inf
    assert math.isfinite(epsilon(0.05, 0.5, 100, 1e-5, acc))  # PRV would overflow: RDP bound


def test_zero_steps_spend_nothing():
    assert epsilon(1.0, 0.1, 0, 1e-5, "prv") == 0.0


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
@pytest.mark.parametrize("acc", ["rdp", "prv"])
def test_calibration_reaches_the_target_and_is_tight(acc):
    sigma = calibrate(3.0, 0.05, 200, 1e-5, acc)
    assert epsilon(sigma, 0.05, 200, 1e-5, acc) <= 3.0
    assert epsilon(sigma * 0.98, 0.05, 200, 1e-5, acc) > 3.0


def test_unreachable_target_is_a_config_error():
    with pytest.raises(ConfigError, match="target_epsilon"):
        calibrate(1e-4, 1.0, 10_000, 1e-5, "rdp")


@pytest.mark.parametrize("n,delta", [(1, 1e-5), (10, 1e-5), (300, 1e-5), (1000, 1e-5),
                                     (1001, 1e-6), (3000, 1e-6), (10**6, 1e-8)])
def test_default_delta_is_a_power_of_ten_at_most_min_1e5_and_one_over_100_n(n, delta):
    """Issue 14 finding 4: the default was 1e-4 for a few hundred people (1/(10 n))."""
    assert default_delta(n) == pytest.approx(delta)
    assert default_delta(n) <= min(1e-5, 1 / (100 * n)) * (1 + 1e-12)


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
def test_the_plan_computes_delta_from_the_units_and_refuses_one_at_or_above_one_over_n():
    from privtune.dp.plan import make_plan

    ids = [[f"E{i}"] for i in range(300)]
    plan = make_plan(DPSpec(enabled=True, noise_multiplier=1.0, expected_batch_size=30), ids, 5)
    assert plan.delta == pytest.approx(1e-5) and len(plan.units) == 300
    plan = make_plan(DPSpec(enabled=True, noise_multiplier=1.0, expected_batch_size=30),
                     [[f"E{i}"] for i in range(3000)], 5)
    assert plan.delta == pytest.approx(1e-6)
    with pytest.raises(ConfigError, match=r"dp\.delta must be below 1 / number of units"):
        make_plan(DPSpec(enabled=True, noise_multiplier=1.0, delta=0.01), ids, 5)
    assert make_plan(DPSpec(enabled=True, noise_multiplier=1.0, delta=1e-6), ids, 5).delta == 1e-6


def test_spec_rejects_both_epsilon_and_sigma():
    with pytest.raises(ValueError):
        DPSpec(enabled=True, target_epsilon=3.0, noise_multiplier=1.0)
    assert DPSpec(enabled=True).epsilon_goal() == 8.0
    assert DPSpec(enabled=True, noise_multiplier=1.0).epsilon_goal() is None


def test_cli_epsilon(capsys):
    from privtune.cli.main import run

    assert run(["dp", "epsilon", "--sigma", "1.0", "-q", "0.01", "--steps", "1000",
                "--delta", "1e-5", "--accountant", "rdp"]) == 0
    assert "epsilon 2.1014" in capsys.readouterr().out
    assert run(["dp", "epsilon", "--sigma", "1.0", "-q", "0.01", "--steps", "10",
                "--accountant", "gdp"]) == 2
    assert "accountant" in capsys.readouterr().err
