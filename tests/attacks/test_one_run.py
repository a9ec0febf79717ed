"""The one-run epsilon lower bound (Steinke, Nasr, Jagielski 2023) against known values, and
the make-up matching and attribute-template reading of the real-employee attacks."""

from __future__ import annotations

import math
import secrets

import pytest

from privtune.attacks.attributes import fact_probes
from privtune.attacks.mia import matched_index
from privtune.attacks.one_run import (
    binom_sf,
    epsilon_lower_bound,
    guess_counts,
    one_run_audit,
    p_value,
)


def analytic(r: int, beta: float = 0.05) -> float:
    """r perfect guesses out of r, delta 0: P[Bin(r, q) >= r] = q^r = beta."""
    q = beta ** (1 / r)
    return math.log(q / (1 - q))


@pytest.mark.parametrize("r", [10, 20, 50, 100, 400])
def test_perfect_guesses_give_the_analytic_bound(r: int) -> None:
    assert epsilon_lower_bound(r, r, r, 0.0) == pytest.approx(analytic(r), abs=1e-6)
    # delta > 0 can only weaken the bound
    assert epsilon_lower_bound(r, r, r, 1e-5) <= analytic(r) + 1e-9


def test_binomial_tail_and_p_value() -> None:
    assert binom_sf(0, 10, 0.3) == 1.0
    assert binom_sf(10, 10, 0.5) == pytest.approx(0.5 ** 10)
    assert binom_sf(6, 10, 0.5) == pytest.approx(386 / 1024)
    assert p_value(100, 20, 10, 0.0, 0.0) == pytest.approx(binom_sf(10, 20, 0.5))
    assert p_value(100, 20, 15, 2.0, 1e-3) > p_value(100, 20, 15, 2.0, 0.0)
    with pytest.raises(ValueError):
        p_value(10, 20, 5, 1.0, 0.0)


def test_chance_level_guessing_bounds_nothing() -> None:
    assert epsilon_lower_bound(100, 100, 50, 0.0) == 0.0
    assert epsilon_lower_bound(100, 100, 57, 0.0) == 0.0          # P[Bin >= 57] ~ 0.097 > 0.05
    assert 0 < epsilon_lower_bound(100, 100, 60, 0.0) < 0.1       # P[Bin >= 60] ~ 0.028
    assert epsilon_lower_bound(100, 100, 70, 0.0) > 0.0


def test_one_run_audit_separable_scores_and_random_scores() -> None:
    m = 200
    inc = [bool(secrets.randbits(1)) for _ in range(m)]
    perfect = one_run_audit([1.0 if x else 0.0 for x in inc], inc, 0.0)
    # the best k is the largest, each k tested at beta / len(counts) (Bonferroni)
    k = max(guess_counts(m))
    assert perfect.correct == perfect.guesses == 2 * k
    assert perfect.epsilon_lb == pytest.approx(
        epsilon_lower_bound(m, 2 * k, 2 * k, 0.0, 0.05 / len(guess_counts(m))), abs=1e-9)
    rnd = one_run_audit([secrets.randbelow(10 ** 6) for _ in range(m)], inc, 0.0)
    assert rnd.epsilon_lb < perfect.epsilon_lb and rnd.epsilon_lb < 1.5


def _ex(kind: str, e: str, field: str = "", answer: str = "x") -> dict:
    return {"id": f"{kind}:{e}:{field}" if field else f"{kind}:{e}", "kind": kind,
            "employee_ids": [e], "messages": [{"role": "system", "content": "s"},
                                              {"role": "user", "content": f"q {e}"},
                                              {"role": "assistant", "content": answer}]}


def test_matched_index_gives_both_sides_the_same_task_mix() -> None:
    exs = []
    for e in ("A", "B", "C", "D"):                       # members: facts + a ticket
        exs += [_ex("employee_fact", e, "department"), _ex("ticket_triage", e)]
    exs += [_ex("employee_fact", "A", "manager_id")]     # one member has an extra slot
    for e in ("X", "Y"):                                 # non-members: facts + a ticket
        exs += [_ex("employee_fact", e, "department"), _ex("ticket_triage", e)]
    exs += [_ex("employee_fact", "Z", "department")]     # lacks the ticket: left out
    index, slots = matched_index(exs, {"A", "B", "C", "D"}, {"X", "Y", "Z"})
    assert slots == ["employee_fact:department", "ticket_triage"]
    assert set(index) == {"A", "B", "C", "D", "X", "Y"}
    assert all(len(v) == 2 for v in index.values())
    assert {exs[i]["kind"] for i in index["A"]} == {"employee_fact", "ticket_triage"}


def test_fact_probes_read_the_answer_template_off_the_examples() -> None:
    bands = ["B1", "B2", "B3", "B1"]
    exs = [_ex("employee_fact", f"EMP-{i:010x}", "salary_band",
               f"EMP-{i:010x} is in the {b} salary band.") for i, b in enumerate(bands)]
    probes, spaces = fact_probes(exs)
    assert spaces == {"salary_band": ["B1", "B2", "B3"]}
    p = probes[1]
    assert (p.prefix, p.value, p.suffix) == ("EMP-0000000001 is in the ", "B2", " salary band.")
    assert p.messages[-1]["role"] == "user"


def test_a_bound_above_the_accountants_epsilon_fails_the_gate() -> None:
    """A bound above the accountant's epsilon refutes the DP claim: the verdict row fails."""
    from privtune.attacks.one_run import epsilon_lower_bound
    from privtune.gate.requirements import empirical_epsilon_row

    lb = epsilon_lower_bound(200, 100, 100, 1e-5)      # 100 perfect guesses of 200 candidates
    assert lb > 3.0
    dp = {"dp": True, "epsilon": 1.0, "delta": 1e-6}
    row = empirical_epsilon_row(lb, dp)
    assert row["passed"] is False and row["threshold"] == 1.0
    assert empirical_epsilon_row(lb, dict(dp, epsilon=8.0))["passed"] is True
    # each canary is one unit: the unit-level epsilon is the claim (person-level is only larger)
    assert empirical_epsilon_row(lb, dict(dp, epsilon=2.0, person_epsilon=8.0))["passed"] is False
    assert empirical_epsilon_row(lb, {"dp": False})["passed"] is True     # nothing to refute
    assert empirical_epsilon_row(None, dp)["passed"] is True               # no canaries


def test_an_outsider_is_placed_among_the_held_out_and_the_members() -> None:
    """An erased person's score, placed among the audit's: percentile among the held-out
    employees (ties one half), among the members, and whether a threshold above every held-out
    employee (the lowest resolvable FPR) would call them a member."""
    from privtune.attacks.mia import own_slot_index, percentile, place_outsider

    assert percentile(5.0, []) is None
    assert percentile(2.0, [1.0, 2.0, 3.0, 4.0]) == 37.5
    scores = {"A": 9.0, "B": 8.0, "X": 1.0, "Y": 2.0, "Z": 3.0, "W": 4.0}
    members, out = {"A", "B"}, {"X", "Y", "Z", "W"}
    low = place_outsider("loss", 2.5, scores, members, out)
    assert low == {"attack": "loss", "non_member_percentile": 50.0, "member_percentile": 0.0,
                   "non_members": 4, "members": 2, "flagged_as_member": False}
    high = place_outsider("loss", 8.5, scores, members, out)
    assert (high["non_member_percentile"], high["member_percentile"],
            high["flagged_as_member"]) == (100.0, 50.0, True)
    # scored on the same make-up slots as everyone else; a missing slot is said
    exs = [_ex("employee_fact", "Q", "department"), _ex("ticket_triage", "Q"),
           _ex("employee_fact", "Q", "title")]
    assert own_slot_index(exs, ["employee_fact:department", "ticket_triage"]) == ([0, 1], True)
    idx, matched = own_slot_index(exs[:1], ["employee_fact:department", "ticket_triage"])
    assert (idx, matched) == ([0], False)
    assert own_slot_index([], ["ticket_triage"]) == ([], False)
