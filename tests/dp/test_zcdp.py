"""zCDP accounting of the synthesisers' Gaussian measurements and exponential selections: the
conversion to (epsilon, delta) against Google's dp-accounting RDP accountant, its inverse, and
the accountant that refuses to overspend."""

from __future__ import annotations

import math

import pytest

from privtune.dp import zcdp
from privtune.errors import ConfigError


@pytest.mark.parametrize("eps", [0.5, 1.0, 3.0, 8.0])
@pytest.mark.parametrize("delta", [1e-5, 1e-8])
def test_rho_for_inverts_epsilon(eps: float, delta: float) -> None:
    rho = zcdp.rho_for(eps, delta)
    assert zcdp.epsilon(rho, delta) == pytest.approx(eps, rel=1e-6)
    # tighter than the simple bound rho + 2 sqrt(rho log 1/delta)
    assert rho + 2 * math.sqrt(rho * math.log(1 / delta)) > eps


@pytest.mark.slow  # importing dp-accounting takes seconds
@pytest.mark.parametrize("eps", [1.0, 3.0, 8.0])
def test_gaussian_measurements_agree_with_dp_accounting(eps: float) -> None:
    """k Gaussian measurements at the sigma that spends rho / k each: the RDP accountant
    (an independent implementation) gives the same epsilon, up to its grid of orders."""
    from dp_accounting import dp_event, rdp

    delta, k = 1e-6, 12
    rho = zcdp.rho_for(eps, delta)
    sigma = zcdp.gaussian_sigma(rho / k)
    acc = rdp.RdpAccountant(orders=[1 + x / 10 for x in range(1, 1000)])
    acc.compose(dp_event.GaussianDpEvent(sigma), k)
    assert acc.get_epsilon(delta) == pytest.approx(eps, rel=0.02)


def test_accountant_refuses_to_overspend() -> None:
    acc = zcdp.ZCDPAccountant(0.1)
    acc.gaussian_measurement(zcdp.gaussian_sigma(0.05))
    acc.exponential_selection(zcdp.exponential_epsilon(0.05))
    assert acc.spent == pytest.approx(0.1)
    assert (acc.gaussian, acc.exponential) == (1, 1)
    with pytest.raises(ValueError, match="budget exceeded"):
        acc.gaussian_measurement(10.0)


@pytest.mark.parametrize("eps,delta", [(0, 1e-5), (-1, 1e-5), (math.inf, 1e-5), (1, 0), (1, 1)])
def test_bad_parameters_are_typed_errors(eps: float, delta: float) -> None:
    with pytest.raises(ConfigError):
        zcdp.rho_for(eps, delta)
