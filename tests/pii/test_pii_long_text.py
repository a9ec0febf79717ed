"""A very long text is detected window by window: same spans, bounded memory, linear time.

Issue 16, finding 11: a 50 MB single review made ``scan`` use 3.4 GB (68x the input), and the
overlap clean-up compared every guess with every anchor (quadratic time).
"""

from __future__ import annotations

import random
import time
import tracemalloc

import pytest

from privtune.deid.scan import texts_report
from privtune.pii import detector as detmod
from privtune.pii.detector import Detector, _drop_inside
from privtune.pii.spans import Span

FILLER = "The quarterly review covered goals, delivery and teamwork across the year in detail. "
PII = ["Call Ana López at 555-123-4567 or ana@example.com. ", "SSN 871-26-5122 on file. ",
       "Met David Stephens at 12 Park Lane. ", "See https://example.com/x for the form. "]


def _text(n_chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < n_chars:
        piece = FILLER * rng.randint(0, 6) + rng.choice(PII)
        parts.append(piece)
        size += len(piece)
    return "".join(parts)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_windowed_detection_finds_the_same_spans(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    monkeypatch.setattr(detmod, "WINDOW_CHARS", 700)   # many windows, cuts inside PII too
    monkeypatch.setattr(detmod, "WINDOW_CONTEXT", 128)
    text = _text(12_000, seed)
    det = Detector()
    whole = det._detect_whole(text)
    windowed = list(det.iter_detect(text))
    assert windowed == whole and len(whole) > 20
    assert det.detect(text) == whole


def test_window_cuts_cover_the_text_and_fall_on_whitespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detmod, "WINDOW_CHARS", 500)
    monkeypatch.setattr(detmod, "WINDOW_CONTEXT", 64)
    text = _text(5_000)
    cuts = detmod._cuts(text)
    assert cuts[0] == 0 and cuts[-1] == len(text) and cuts == sorted(set(cuts))
    assert all(text[c].isspace() for c in cuts[1:-1])
    unbroken = "x" * 2_000  # no whitespace at all: cut anyway
    assert detmod._cuts(unbroken)[1] == 500


@pytest.mark.slow  # seconds of work (a training run, a subprocess, a property search or a big input)
def test_scan_of_one_huge_review_has_bounded_memory() -> None:
    text = _text(600_000)
    records = [{"id": "R1", "employee_id": "E1", "text": text}]
    tracemalloc.start()
    try:
        report = texts_report(records, None, workers=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report["records"] == 1 and report["records_with_pii"] == 1 and report["spans"] > 1000
    # Before: ~23 MB for this 0.6 MB text (38x, growing with it); now bounded by the window.
    assert peak < 12_000_000, peak


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
def test_overlap_cleanup_is_not_quadratic() -> None:
    n = 20_000
    anchors = [Span(i * 10, i * 10 + 5, "PHONE") for i in range(n)]
    guesses = [Span(i * 10 + 6, i * 10 + 9, "PERSON") for i in range(n)]
    guesses += [Span(i * 10 + 1, i * 10 + 3, "PERSON") for i in range(0, n, 100)]  # inside
    t0 = time.perf_counter()
    kept = _drop_inside(guesses, anchors)
    assert time.perf_counter() - t0 < 2.0  # 400M comparisons before
    assert len(kept) == n


def test_overlap_cleanup_matches_the_pairwise_rule() -> None:
    rng = random.Random(7)
    for _ in range(200):
        anchors = [Span(s, s + rng.randint(1, 8), "PHONE") for s in rng.sample(range(100), 6)]
        guesses = [Span(s, s + rng.randint(1, 8), "PERSON") for s in rng.sample(range(100), 10)]
        expected = [g for g in guesses if not any(g.overlaps(a) for a in anchors)]
        assert _drop_inside(guesses, anchors) == expected
