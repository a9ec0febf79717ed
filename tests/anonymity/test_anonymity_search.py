"""The generalisation/suppression search on small hand-checked lattices, and its guarantees."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.anonymity import SUPPRESSED, anonymize, assess_table, build_levels, infer_hierarchy
from privtune.anonymity.search import MAX_NODES
from privtune.deid.policy import Hierarchy
from privtune.errors import ConfigError, PrivacyPolicyError

H = {"age": Hierarchy(type="band", widths=[5, 10]), "zip": Hierarchy(type="prefix", lengths=[4, 3])}
ROWS = [{"age": a, "zip": z, "id": i} for i, (a, z) in
        enumerate([(31, "02139"), (33, "02141"), (35, "02139"), (37, "02141")])]


def test_hierarchy_levels() -> None:
    age = build_levels(H["age"], [31])
    assert [lv(33) for lv in age] == [33, "30-34", "30-39", SUPPRESSED]
    z = build_levels(H["zip"], ["02139"])
    assert [lv("02139") for lv in z] == ["02139", "0213*", "021**", SUPPRESSED]
    assert infer_hierarchy(["02139", "94110"]).type == "prefix"
    assert infer_hierarchy(["1985", "1990"]).type == "band"
    assert infer_hierarchy(["1985-03-01"]).type == "date"
    assert infer_hierarchy(["80k-90k", "90k-100k"]).widths == [20000, 40000, 80000]
    assert infer_hierarchy(["Female", "Male"]).type == "categorical"


def test_minimal_loss_node_without_suppression() -> None:
    # Hand check (k=2): feasible nodes are (age 10-band, zip) loss 1/3, (age 5-band, zip 3 digits)
    # loss 1/2, (age *, zip) loss 1/2, ...; the minimum is (2, 0).
    res = anonymize(ROWS, ["age", "zip"], k=2, hierarchies=H)
    assert res.levels == {"age": 2, "zip": 0}
    assert res.loss == pytest.approx(1 / 3) and res.suppressed == 0
    assert [r["age"] for r in res.rows] == ["30-39"] * 4
    assert [r["zip"] for r in res.rows] == ["02139", "02141", "02139", "02141"]
    assert res.assessment.k == 2 and res.nodes_evaluated == 16
    assert [r["id"] for r in res.rows] == [0, 1, 2, 3]  # other columns untouched


def test_suppression_budget_changes_the_optimum() -> None:
    rows = ROWS + [{"age": 52, "zip": "94110", "id": 4}, {"age": 58, "zip": "60601", "id": 5}]
    # No suppression allowed: the two outliers force zip to '*' (age 10-band): loss (2/3 + 1)/2.
    res = anonymize(rows, ["age", "zip"], k=2, hierarchies=H, max_suppression=0.0)
    assert res.levels == {"age": 2, "zip": 3} and res.loss == pytest.approx(5 / 6)
    # Two rows (1/3) may be suppressed: keep (age 10-band, zip), suppress both outliers, which
    # then form one class of 2: loss (1 - 1/3) * 1/3 + 1/3 = 5/9.
    res = anonymize(rows, ["age", "zip"], k=2, hierarchies=H, max_suppression=0.34)
    assert res.levels == {"age": 2, "zip": 0} and res.suppressed == 2
    assert res.loss == pytest.approx(5 / 9)
    assert all(res.rows[i]["age"] == SUPPRESSED == res.rows[i]["zip"] for i in (4, 5))
    assert res.assessment.k == 2 and res.assessment.suppressed == 2
    # A single suppressed row would be a class of one: never chosen.
    res = anonymize(rows[:5], ["age", "zip"], k=2, hierarchies=H, max_suppression=0.2)
    assert res.suppressed == 0 and res.assessment.k >= 2


def test_l_diversity_is_part_of_feasibility() -> None:
    rows = [dict(r, d=d) for r, d in zip(ROWS, ["flu", "flu", "hiv", "cold"])]
    # (age 10-band, zip) gives classes {0,2}: flu/hiv and {1,3}: flu/cold -> 2-diverse.
    res = anonymize(rows, ["age", "zip"], k=2, l=2, sensitive=["d"], hierarchies=H)
    assert res.levels == {"age": 2, "zip": 0} and res.assessment.l_by_attribute == {"d": 2}
    rows[2]["d"] = "flu"  # now that class holds only flu: zip must go instead
    res = anonymize(rows, ["age", "zip"], k=2, l=2, sensitive=["d"], hierarchies=H)
    assert res.assessment.l_by_attribute["d"] >= 2 and res.levels != {"age": 2, "zip": 0}


def test_unreachable_k_is_refused() -> None:
    with pytest.raises(PrivacyPolicyError, match=r"age, zip.*k=5"):
        anonymize(ROWS, ["age", "zip"], k=5, hierarchies=H)


def test_lattice_size_limit() -> None:
    rows = [{f"q{i}": j for i in range(8)} for j in range(3)]
    hier = {f"q{i}": Hierarchy(type="band", widths=[2, 4, 8, 16]) for i in range(8)}
    assert MAX_NODES < 6 ** 8
    with pytest.raises(ConfigError, match="lattice"):
        anonymize(rows, list(hier), k=2, hierarchies=hier)


@given(
    data=st.lists(st.tuples(st.integers(18, 70), st.sampled_from(["02139", "02141", "94110", "10001"]),
                            st.sampled_from(["F", "M", "X"])), min_size=5, max_size=60),
    k=st.integers(2, 5),
    supp=st.sampled_from([0.0, 0.05, 0.2]),
)
@settings(max_examples=40, deadline=None)
def test_result_always_meets_k_within_the_suppression_budget(data, k, supp) -> None:
    rows = [{"age": a, "zip": z, "sex": s} for a, z, s in data]
    if len(rows) < k:
        return
    res = anonymize(rows, ["age", "zip", "sex"], k=k, max_suppression=supp)
    again = assess_table(res.rows, ["age", "zip", "sex"])
    assert again.k >= k
    assert res.suppressed <= int(supp * len(rows) + 1e-9)
    assert again.suppressed == res.suppressed or set(res.levels.values()) == {max(res.heights.values())} or \
        all(res.levels[q] == res.heights[q] for q in res.levels)
    assert 0.0 <= res.loss <= 1.0
