"""k-anonymity, l-diversity and prosecutor risk on hand-computed tables; the refusal message."""

from __future__ import annotations

import pytest

from privtune.anonymity import assess, assess_table, enforce, require_anonymous, verdict
from privtune.errors import PrivacyPolicyError

ROWS = [
    {"age": 30, "zip": "02139", "disease": "flu"},
    {"age": 30, "zip": "02139", "disease": "cold"},
    {"age": 30, "zip": "02139", "disease": "flu"},
    {"age": 40, "zip": "02139", "disease": "hiv"},
    {"age": 40, "zip": "02139", "disease": "hiv"},
    {"age": 50, "zip": "94301", "disease": "flu"},
]


def test_hand_computed_classes_k_l_and_risk() -> None:
    a = assess_table(ROWS, ["age", "zip"], ["disease"])
    assert (a.rows, a.classes, a.k, a.suppressed) == (6, 3, 1, 0)
    assert a.class_sizes == {3: 1, 2: 1, 1: 1}
    assert a.l_by_attribute == {"disease": 1}
    assert a.max_risk == 1.0
    assert a.avg_risk == pytest.approx(3 / 6)  # mean over rows of 1/class size = classes/rows
    assert a.classes_below(2) == (1, 1) and a.classes_below(3) == (2, 3)


def test_suppressed_rows_form_one_class() -> None:
    rows = [dict(r) for r in ROWS]
    rows[-1].update(age="*", zip="*")
    a = assess_table(rows, ["age", "zip"], ["disease"])
    assert (a.classes, a.k, a.suppressed) == (3, 1, 1)  # one suppressed row is still unique
    rows[3].update(age="*", zip="*")
    rows[4].update(age="*", zip="*")
    a = assess_table(rows, ["age", "zip"], ["disease"])
    # classes: 30/02139 x3 (flu, cold, flu) and the suppressed rows x3 (hiv, hiv, flu)
    assert (a.classes, a.k, a.suppressed) == (2, 3, 3)
    assert a.max_risk == pytest.approx(1 / 3) and a.avg_risk == pytest.approx(2 / 6)
    assert a.l_by_attribute == {"disease": 2}
    rows[0]["disease"] = rows[2]["disease"] = "cold"
    assert assess_table(rows, ["age", "zip"], ["disease"]).l_by_attribute == {"disease": 1}


def test_one_quasi_identifier_and_empty_table() -> None:
    a = assess([[v] for v in "aabbbc"])
    assert a.k == 1 and a.class_sizes == {2: 1, 3: 1, 1: 1}
    e = assess([])
    assert (e.rows, e.k, e.classes, e.max_risk, e.avg_risk) == (0, 0, 0, 0.0, 0.0)


def test_refusal_names_columns_and_counts_never_values() -> None:
    v = verdict(assess_table(ROWS, ["age", "zip"], ["disease"]), k=2, l=2)
    assert not v["ok"]
    with pytest.raises(PrivacyPolicyError) as exc:
        enforce(v, "table 'employees'")
    msg = str(exc.value)
    assert exc.value.exit_code == 8
    assert "age, zip" in msg and "k=2" in msg and "1 of 3 equivalence classes (1 rows)" in msg
    assert "disease (l=1)" in msg and "l=2" in msg
    for row in ROWS:
        for value in (row["zip"], row["disease"]):
            assert value not in msg


def test_passing_verdict_and_missing_verdict() -> None:
    v = verdict(assess_table(ROWS[:5], ["zip"], ["disease"]), k=5, l=3)
    assert v["ok"] and v["k"] == 5 and v["l_by_attribute"] == {"disease": 3}
    enforce(v)
    require_anonymous({"privacy": v}, "x")
    with pytest.raises(PrivacyPolicyError, match="no privacy-model verdict"):
        require_anonymous({"rows": 5}, "'employees-deid@1'")
