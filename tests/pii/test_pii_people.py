"""People outside the roster: honorifics, context words, gazetteer bigrams; job titles and
stock phrases stay clean."""

from __future__ import annotations

import pytest

from privtune.pii import Detector
from privtune.pii.recognizers.people import PeopleRecognizer, gazetteer


def names(text: str) -> list[str]:
    return [text[s.start : s.end] for s in sorted(PeopleRecognizer().find(text))]


def test_gazetteer_comes_from_faker_locales() -> None:
    first, last = gazetteer()
    assert {"maria", "lena", "priya", "jacob"} <= first
    assert {"fischer", "garcia", "patel"} <= last
    assert len(first) > 1000 and len(last) > 1000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Spoke with Mr. Okafor today.", ["Okafor"]),
        ("Dr Jane Doe called.", ["Jane Doe"]),
        ("Mrs. Long will join.", ["Long"]),
        ("my husband Tom is ill", ["Tom"]),
        ("candidate Priya Patel applied", ["Priya Patel"]),
        ("reference: Lena Fischer, former boss", ["Lena Fischer"]),
        ("her son, Max starts school", ["Max"]),
        ("the recruiter Xavorel Quimby called", ["Xavorel Quimby"]),
        ("contractor van der Zijl signed", ["van der Zijl"]),
        ("We hired Lena Fischer last week.", ["Lena Fischer"]),
        ("Ana Clara da Cruz joined.", ["Ana Clara da Cruz"]),
        ("Graham Stoltmann's laptop", ["Graham Stoltmann"]),
        ("my wife maria was there", ["maria"]),
    ],
)
def test_outsiders_are_found(text: str, expected: list[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "She works as Junior Software Engineer in Sales.",
        "Senior Accountant, Customer Support team",
        "May I ask a question?",
        "Please grant access to the portal.",
        "Best regards, the HR team",
        "my husband is ill",
        "The candidate is strong.",
        "Will Power is a phrase.",
        "MARIA GARCIA in capitals needs the roster",
        "Monday March update",
    ],
)
def test_no_names_where_there_are_none(text: str) -> None:
    assert names(text) == []


def test_titles_are_outside_the_span_and_addresses_win() -> None:
    det = Detector()
    text = "Send it to Mr. Park at 12 Park Lane."
    spans = [(text[s.start : s.end], s.type) for s in det.detect(text)]
    assert spans == [("Park", "PERSON"), ("12 Park Lane", "ADDRESS")]
