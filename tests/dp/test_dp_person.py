"""Person-level accounting: group sizes (units that carry one person's data, third-party
mentions included) and the group-privacy epsilon, checked on known values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from privtune.dp.accountant import epsilon
from privtune.dp.config import DPSpec
from privtune.dp.group import approx_dp_group, group_epsilon, group_rdp, rdp_curve, rdp_to_dp
from privtune.dp.plan import make_plan
from privtune.dp.units import build_units

# The demo recipe: 310 units, expected batch 32, 40 steps, sigma 0.714, delta 1e-4 (docs/dp.md).
DEMO = dict(sigma=0.714, q=32 / 310, steps=40, delta=1e-4)


def test_rdp_order_scaling_on_the_plain_gaussian():
    # q = 1, one step: the Gaussian mechanism, RDP alpha / (2 sigma^2) exactly.
    sigma = 2.0
    orders, rdp = group_rdp(sigma, 1.0, 1, 1)
    assert np.allclose(rdp, [a / (2 * sigma**2) for a in orders])
    # k = 2 (c = 1): 3 * r(2a) = 3 * 2a / (2 sigma^2); k = 3 and 4 (c = 2): 9 * r(4a)
    orders, rdp = group_rdp(sigma, 1.0, 1, 2)
    assert np.allclose(rdp, [3 * 2 * a / (2 * sigma**2) for a in orders])
    for k in (3, 4):
        orders, rdp = group_rdp(sigma, 1.0, 1, k)
        assert np.allclose(rdp, [9 * 4 * a / (2 * sigma**2) for a in orders])
        # never below the exact group RDP (sensitivity k): k^2 a / (2 sigma^2)
        assert np.all(rdp >= np.array([k * k * a / (2 * sigma**2) for a in orders]) - 1e-12)


def test_approx_dp_group_lemma():
    assert approx_dp_group(1.0, 1e-6, 1) == (1.0, 1e-6)
    eps, delta = approx_dp_group(1.0, 1e-6, 3)
    assert eps == 3.0 and delta == pytest.approx(3 * math.e**2 * 1e-6)


def test_rdp_conversion_in_log_space_matches_opacus_and_goes_below_float_range():
    from opacus.accountants.analysis.rdp import get_privacy_spent

    orders = [1.5, 2.0, 4.0, 8.0, 16.0, 32.0]
    rdp = rdp_curve(1.0, 0.01, 1000, orders)
    want, _ = get_privacy_spent(orders=orders, rdp=list(rdp), delta=1e-5)
    assert rdp_to_dp(orders, rdp, math.log(1e-5)) == pytest.approx(want, rel=1e-12)
    tiny = rdp_to_dp(orders, rdp, -2000.0)  # delta = e^-2000 (0.0 as a float)
    assert math.isfinite(tiny) and tiny > want


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
@pytest.mark.parametrize("k", [2, 3, 5])
def test_group_epsilon_is_sound_for_the_gaussian_mechanism(k):
    # q = 1, one step: a group of k is exactly the Gaussian mechanism with sensitivity k, whose
    # tight epsilon Google's PLD accountant computes. The bound must never be below it.
    from dp_accounting import dp_event, pld

    sigma, delta = 4.0, 1e-5
    acc = pld.PLDAccountant()
    acc.compose(dp_event.GaussianDpEvent(sigma / k))
    exact = acc.get_epsilon(delta)
    bound = group_epsilon(sigma, 1.0, 1, delta, k, "pld")
    assert exact <= bound <= 4 * exact  # sound, and not absurdly loose


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
def test_group_of_one_is_the_unit_level_figure_and_larger_groups_cost_more():
    s, q, t, d = DEMO.values()
    unit = epsilon(s, q, t, d, "prv")
    assert group_epsilon(s, q, t, d, 1, "prv") == unit
    two = group_epsilon(s, q, t, d, 2, "prv")
    three = group_epsilon(s, q, t, d, 3, "prv")
    assert unit < 3 * unit < two < three
    with pytest.raises(ValueError):
        group_epsilon(s, q, t, d, 0)
    assert group_epsilon(0.0, q, t, d, 2) == math.inf


def test_group_sizes_count_relations_and_third_party_mentions():
    # 0: "a reports to m"; 1: a's ticket naming b (b's surrogate); 2, 3: facts of m and b
    ids = [["a", "m"], ["a"], ["m"], ["b"]]
    mentions = [[], ["b"], [], []]
    each = build_units(ids, "employee", "each", mentions)
    # units a = {0, 1}, b = {3}, m = {0, 2}: a in a, m; m in a, m; b in a (mentioned), b
    assert each.group_sizes == {2: 3} and each.max_group_size == 2
    drop = build_units(ids, "employee", "drop", mentions)
    assert drop.group_sizes == {1: 2, 2: 1}  # only the mention is left: b in 2 units
    clean = build_units(ids, "employee", "drop", [[], [], [], []])
    assert clean.group_sizes == {1: 3} and clean.max_group_size == 1
    # unit = example: a person's group is the number of examples carrying their data
    assert build_units(ids, "example", mentions=mentions).group_sizes == {2: 3}
    assert build_units([[], []], "employee").max_group_size == 1  # nobody: unit = person
    with pytest.raises(ValueError):
        build_units(ids, "employee", "each", [[]])


def _manager_with_reports(reports: int) -> list[list[str]]:
    ids = [[f"e{i}"] for i in range(40)] + [["m"]]
    return ids + [[f"e{i}", "m"] for i in range(reports)]


@pytest.mark.slow  # seconds of work (a training run, a subprocess, a property search or a big input)
def test_plan_reports_person_level_epsilon_next_to_the_unit_level_one():
    ids = _manager_with_reports(3)
    base = dict(enabled=True, target_epsilon=2.0, expected_batch_size=8, accountant="rdp")
    plan = make_plan(DPSpec(**base), ids, 10)  # default: multi_employee drop
    rec = plan.record()
    assert plan.units.dropped_shared == 3
    assert rec["group_size"] == 1 and rec["epsilon_person"] == rec["epsilon"]
    assert rec["group_sizes"] == {"1": 41}
    each = make_plan(DPSpec(**base, multi_employee="each"), ids, 10)
    r2 = each.record()
    assert r2["group_size"] == 4 and r2["epsilon_person"] > 2 * r2["epsilon"]
    assert r2["group_sizes"] == {"1": 37, "2": 3, "4": 1}  # m in 4 units, e0-e2 in 2
    assert r2["epsilon_person"] == pytest.approx(
        group_epsilon(each.noise_multiplier, each.sampling_rate, 10, each.delta, 4, "rdp"),
        abs=1e-4)
    # early stopping spends less, at the person level too
    assert each.record(5)["epsilon_person"] < r2["epsilon_person"]
    # a ticket that names a colleague puts the colleague's data in the author's unit
    named = make_plan(DPSpec(**base), ids[:41], 10, [[]] * 40 + [["e0"]])
    assert named.record()["group_size"] == 2


def test_gate_and_demo_check_the_person_level_figure():
    from privtune.gate.audit import _epsilon
    from privtune.pipeline.summary import dp_check as _dp_check

    assert _epsilon({"dp": True, "epsilon": 4.0, "epsilon_person": 31.5}) == 31.5
    assert _epsilon({"dp": True, "epsilon": 4.0}) == 4.0  # recorded before person-level
    assert _epsilon({"dp": False, "epsilon_person": 1.0}) == math.inf
    tr = {"epsilon": 7.98, "epsilon_person": 7.98, "group_size": 1, "target_epsilon": 8.0,
          "dp_unit": "employee", "delta": 1e-5, "private": True}
    ok = _dp_check(tr)
    assert ok["ok"] and "per person: epsilon 7.98 (group size 1; per employee: 7.98)" in ok["detail"]
    bad = _dp_check({**tr, "epsilon_person": 50.5, "group_size": 2})
    assert not bad["ok"] and "per person: epsilon 50.5" in bad["detail"] and "> target 8" in bad["detail"]
    assert not _dp_check({**tr, "private": False})["ok"]  # seeded (insecure_reproducible) DP
