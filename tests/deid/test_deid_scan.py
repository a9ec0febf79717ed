"""Scan reports: shape masks reveal no letter or digit; text examples are span shapes only."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.deid.scan import shape, texts_report
from privtune.pii import Roster
from privtune.reports.deid import class_size_chart


@given(st.text(max_size=60))
@settings(max_examples=200, deadline=None)
def test_shape_keeps_only_the_shape(value: str) -> None:
    out = shape(value)
    kept = out.rstrip("…")
    assert len(kept) == min(len(value), 40)
    for a, b in zip(value, kept):
        if a.isdigit():
            assert b == "9"
        elif a.isalpha():
            assert b in "Xx"
        else:
            assert a == b


def test_texts_report_counts_and_masked_examples() -> None:
    roster = Roster([("Maria", "Garcia")], emails=["maria.garcia@acme.example"])
    recs = [{"id": "1", "text": "Maria Garcia (SSN 123-45-6789) wrote from maria.garcia@acme.example."},
            {"id": "2", "text": "Nothing personal here."}]
    rep = texts_report(recs, roster, workers=1)
    assert rep["records"] == 2 and rep["records_with_pii"] == 1
    assert rep["types"]["PERSON"] >= 1 and rep["types"]["SSN"] == 1 and rep["types"]["EMAIL"] == 1
    assert rep["examples"]["SSN"] == ["999-99-9999"]
    flat = repr(rep)
    assert "Maria" not in flat and "Garcia" not in flat and "6789" not in flat and "acme" not in flat


def test_class_size_chart_marks_small_classes() -> None:
    svg = class_size_chart({"1": 2, "5": 3}, k=5)
    assert svg.startswith("<svg") and svg.count("<rect") == 2
    assert re.search(r'fill="#dc2626"', svg) and re.search(r'fill="#2563eb"', svg)
    assert class_size_chart({}, k=5) == ""
