"""The detector on 100+ hand-written HR snippets (tests/data/pii_hr_snippets.txt), no roster.

Scored by overlap (a gold span is found when a predicted span of the same type overlaps it; a
predicted span is right when it overlaps a gold span of its type). The floors are the figures
reached when this test was written, rounded down; misses are reported as counts per type.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest

from privtune.pii import Detector

_spec = importlib.util.spec_from_file_location("hr_snippets", Path(__file__).with_name("hr_snippets.py"))
assert _spec is not None and _spec.loader is not None
hr_snippets = sys.modules.setdefault("hr_snippets", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(hr_snippets)
load_snippets, parse = hr_snippets.load_snippets, hr_snippets.parse

RECALL_FLOOR = 0.94
PRECISION_FLOOR = 0.99


@pytest.fixture(scope="module")
def scored():
    det = Detector(None)
    snippets = load_snippets()
    gold = found = pred = right = 0
    misses: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    for sn in snippets:
        spans = [(s.start, s.end, s.type) for s in det.detect(sn.text)]
        for a, b, t in sn.spans:
            gold += 1
            hit = any(pt == t and ps < b and a < pe for ps, pe, pt in spans)
            found += hit
            misses[t] += not hit
        for a, b, t in spans:
            pred += 1
            ok = any(gt == t and gs < b and a < ge for gs, ge, gt in sn.spans)
            right += ok
            wrong[t] += not ok
    return {"snippets": len(snippets), "gold": gold, "recall": found / gold, "precision": right / pred,
            "misses": +misses, "wrong": +wrong}  # fmt: skip


def test_the_corpus_is_large_and_varied():
    snippets = load_snippets()
    assert len(snippets) >= 100
    kinds = Counter(t for s in snippets for _, _, t in s.spans)
    assert {"PERSON", "PHONE", "EMAIL", "DATE", "MONEY", "ADDRESS", "EMPLOYEE_ID"} <= set(kinds)
    assert sum(1 for s in snippets if not s.spans) >= 8  # texts with no personal data at all


def test_marks_are_parsed_to_offsets():
    sn = parse("Call [[PERSON:Ana]] on [[PHONE:555-201-7788]].", 1)
    assert sn.text == "Call Ana on 555-201-7788."
    assert [sn.text[a:b] for a, b, _ in sn.spans] == ["Ana", "555-201-7788"]


def test_recall_and_precision_floors(scored):
    print(f"\nhr snippets: {scored['snippets']} texts, {scored['gold']} gold spans, recall {scored['recall']:.3f}, "
          f"precision {scored['precision']:.3f}; misses {dict(scored['misses'])}; wrong {dict(scored['wrong'])}")  # fmt: skip
    assert scored["recall"] >= RECALL_FLOOR, scored["misses"]
    assert scored["precision"] >= PRECISION_FLOOR, scored["wrong"]
