"""Streaming redaction: wherever the model's text is cut into chunks, the released text equals
the whole text's redaction and no chunk carries any part of a planted identifier."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.pii.detector import Detector
from privtune.pii.roster import Roster
from privtune.serve.redact import HOLD_CHARS, Redactor

ROSTER = Roster.from_employees([
    {"employee_id": "E73519", "first_name": "Ingrid", "last_name": "Halvorsen",
     "email": "ingrid.halvorsen@acme.example"}])
REDACTOR = Redactor(Detector(ROSTER))
FILLER = "The leave policy gives every employee twenty days a year, more after five years. "
VALUES = ["Ingrid Halvorsen", "ingrid.halvorsen@acme.example", "219-09-9999", "EMP-3fa9c01b2d",
          "E73519"]


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(VALUES), cuts=st.lists(st.integers(1, 400), min_size=1, max_size=30),
       pad=st.integers(0, 3))
def test_any_chunking_gives_the_whole_redaction(order, cuts, pad) -> None:
    text = FILLER * pad + " ".join(f"{FILLER[: 20 + 7 * i]} {v}." for i, v in enumerate(order))
    whole, counts = REDACTOR.redact(text)
    for v in VALUES:
        assert v not in whole
    assert sum(counts.values()) >= len(VALUES)
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    s = REDACTOR.stream()
    out = []
    for a, b in itertools.pairwise(points):
        out.append(s.feed(text[a:b]))
    out.append(s.finish())
    assert "".join(out) == whole
    for chunk in out:
        assert "Halv" not in chunk and "9999" not in chunk and "3fa9c" not in chunk


def test_text_is_held_back_at_most_a_bounded_tail() -> None:
    s = REDACTOR.stream()
    released = "".join(s.feed(w + " ") for w in (FILLER * 4).split())
    assert len(FILLER * 4) - len(released) <= HOLD_CHARS + 40
    assert released + s.finish() == REDACTOR.redact(FILLER * 4)[0]


def test_a_long_run_without_spaces_is_still_released() -> None:
    s = REDACTOR.stream()
    released = s.feed("x" * 10_000)
    assert len(released) >= 10_000 - HOLD_CHARS
