"""AUC, ROC and TPR at low FPR: exact on synthetic scores, and against brute force."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privtune.attacks.mia import (
    employee_examples,
    employee_losses,
    evaluate_attack,
    lira_scores,
    loss_scores,
    reference_scores,
)
from privtune.attacks.roc import auc, roc_curve, tpr_at_fpr


def test_auc_exact_on_synthetic_scores() -> None:
    assert auc([3, 4, 5], [0, 1, 2]) == 1.0
    assert auc([0, 1, 2], [3, 4, 5]) == 0.0
    # members 2, 4 vs non-members 1, 3: pairs won (2>1), (4>1), (4>3) = 3 of 4
    assert auc([2, 4], [1, 3]) == 0.75
    # ties count one half
    assert auc([1, 1], [1, 1]) == 0.5
    assert auc([2, 1], [1]) == 0.75


scores = st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=30)


@given(scores, scores)
def test_auc_equals_the_pair_count_and_is_antisymmetric(a: list[float], b: list[float]) -> None:
    brute = sum((x > y) + 0.5 * (x == y) for x in a for y in b) / (len(a) * len(b))
    assert auc(a, b) == pytest.approx(brute)
    assert auc(a, b) + auc(b, a) == pytest.approx(1.0)


@given(scores, scores)
def test_roc_is_monotone_from_origin_to_corner(a: list[float], b: list[float]) -> None:
    pts = roc_curve(a, b)
    assert pts[0] == (0.0, 0.0) and pts[-1] == (1.0, 1.0)
    assert all(x0 <= x1 and y0 <= y1 for (x0, y0), (x1, y1) in itertools.pairwise(pts))


def test_tpr_at_fpr_with_honest_resolution() -> None:
    members = [10, 9, 8, 2]
    non_members = [9.5, 1, 0, -1]                      # 4 non-members: FPR steps of 1/4
    assert tpr_at_fpr(members, non_members, 0.0) == 0.25     # only 10 beats every non-member
    assert tpr_at_fpr(members, non_members, 0.01) == 0.25    # 1% < 1/4: still zero FPs
    assert tpr_at_fpr(members, non_members, 0.2) == 0.25
    assert tpr_at_fpr(members, non_members, 0.25) == 1.0     # threshold 2: one FP (9.5)
    assert tpr_at_fpr(members, non_members, 1.0) == 1.0
    r = evaluate_attack("x", {f"m{i}": v for i, v in enumerate(members)}
                        | {f"n{i}": v for i, v in enumerate(non_members)},
                        {f"m{i}" for i in range(4)}, {f"n{i}" for i in range(4)})
    assert r.auc == pytest.approx(auc(members, non_members))
    assert r.tpr_at_1pct_fpr == 0.25 and r.fpr_resolution == 0.25
    assert r.as_dict()["members"] == 4 and r.as_dict()["non_members"] == 4


def test_employee_losses_and_attack_scores() -> None:
    examples = [{"employee_ids": ["E1"]}, {"employee_ids": ["E1", "E2"]},
                {"employee_ids": []}, {"employee_ids": ["CANARY-000"]}, {"employee_ids": ["E2"]}]
    idx = employee_examples(examples)
    assert idx == {"E1": [0, 1], "E2": [1, 4]}
    losses = employee_losses([1.0, 3.0, 9.0, 9.0, 5.0], idx)
    assert losses == {"E1": 2.0, "E2": 4.0}
    assert loss_scores(losses) == {"E1": -2.0, "E2": -4.0}
    assert reference_scores(losses, {"E1": 5.0, "E2": 4.5}) == {"E1": 3.0, "E2": 0.5}
    # LiRA, global variance: (l - mu_out)^2 - (l - mu_in)^2
    s = lira_scores({"E1": 1.0, "E2": 3.0}, {"E1": [1.0], "E2": [1.0]}, {"E1": [3.0], "E2": [3.0]})
    assert s == {"E1": 4.0, "E2": -4.0}
    assert lira_scores({"E3": 1.0}, {}, {"E3": [2.5, 3.5]}) == {"E3": 2.0}
