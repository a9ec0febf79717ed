"""split_by_employee: held-out employees never reach training (property-tested)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.datasets import split_by_employee

employee = st.sampled_from([f"EMP-{i:010x}" for i in range(12)])
example_ids = st.lists(employee, min_size=0, max_size=3, unique=True)


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
@settings(max_examples=150, deadline=None)
@given(st.lists(example_ids, min_size=0, max_size=40), st.floats(0.0, 0.9), st.integers(0, 10))
def test_no_val_employee_in_train(id_lists, fraction, seed):
    examples = [{"id": str(i), "kind": "k", "employee_ids": ids} for i, ids in enumerate(id_lists)]
    s = split_by_employee(examples, fraction, seed)
    train_emps = {e for ex in s.train for e in ex["employee_ids"]}
    val_emps = {e for ex in s.val for e in ex["employee_ids"]}
    assert not train_emps & s.val_employees
    assert val_emps <= s.val_employees
    assert train_emps <= s.train_employees
    assert not s.train_employees & s.val_employees
    assert len(s.train) + len(s.val) + s.dropped == len(examples)
    assert all(ex["employee_ids"] for ex in s.val)  # policy examples always train
    assert sum(1 for ex in s.train if not ex["employee_ids"]) == sum(1 for ids in id_lists if not ids)
    assert split_by_employee(examples, fraction, seed) == s  # deterministic


def test_mixed_examples_dropped_and_fraction():
    emps = [f"EMP-{i:010x}" for i in range(10)]
    examples = [{"id": e, "employee_ids": [e]} for e in emps]
    examples.append({"id": "mix", "employee_ids": emps[:]})
    s = split_by_employee(examples, 0.2, 0)
    assert len(s.val_employees) == 2 and len(s.val) == 2 and len(s.train) == 8 and s.dropped == 1
    with pytest.raises(ValueError):
        split_by_employee(examples, 1.0, 0)
