"""Roster mentions carry the employee's id (``subject``); the common-word policy is explicit."""

from __future__ import annotations

import pytest

from privtune.pii import Detector, Roster, Span, detect

ROWS = [
    {"employee_id": "E00001", "first_name": "Maria", "last_name": "Garcia", "email": "maria.garcia@acme.com",
     "phone": "(415) 372-0134", "emergency_contact_name": "Pedro Garcia", "emergency_contact_phone": "(415) 555-0101"},
    {"employee_id": "E00002", "first_name": "May", "last_name": "Long", "email": "may.long@acme.com",
     "phone": "(212) 444-1234", "emergency_contact_name": "", "emergency_contact_phone": ""},
    {"employee_id": "E00003", "first_name": "Maria", "last_name": "Grant", "email": "maria.grant@acme.com",
     "phone": "(646) 222-9876", "emergency_contact_name": "", "emergency_contact_phone": ""},
]  # fmt: skip


def mentions(text: str) -> list[tuple[str, str, str | None]]:
    roster = Roster.from_employees(ROWS)
    return [(text[s.start : s.end], s.type, s.subject) for s in detect(text, roster)]


def test_full_names_in_every_form_name_their_employee() -> None:
    text = "Maria Garcia met GARCIA, MARIA and maria garcia; Garcia's badge."
    assert mentions(text) == [
        ("Maria Garcia", "PERSON", "E00001"),
        ("GARCIA, MARIA", "PERSON", "E00001"),
        ("maria garcia", "PERSON", "E00001"),
        ("Garcia", "PERSON", None),  # Pedro Garcia (a relative) shares it: found, no subject
    ]


def test_shared_first_name_is_found_but_has_no_subject() -> None:
    assert mentions("Maria said yes.") == [("Maria", "PERSON", None)]


def test_relatives_are_found_without_an_employee_subject() -> None:
    assert mentions("Pedro Garcia called.") == [("Pedro Garcia", "PERSON", None)]


def test_known_identifiers_carry_their_employee() -> None:
    text = "Write to MAY.LONG@ACME.COM or call 212.444.1234 about E00002."
    assert mentions(text) == [
        ("MAY.LONG@ACME.COM", "EMAIL", "E00002"),
        ("212.444.1234", "PHONE", "E00002"),
        ("E00002", "EMPLOYEE_ID", "E00002"),
    ]


def test_common_word_names_policy() -> None:
    # a full name is never missed, in any case
    assert mentions("we asked may long and MAY LONG") == [("may long", "PERSON", "E00002"), ("MAY LONG", "PERSON", "E00002")]
    # single common-word names need capitals and no stock phrase or date after them
    assert mentions("It may take long; grant access by May 5.") == [("May 5", "DATE", None)]
    assert mentions("May will call. Long is on leave. Grant signed.") == [
        ("May", "PERSON", "E00002"), ("Long", "PERSON", "E00002"), ("Grant", "PERSON", "E00003")]
    assert mentions("May I ask? Grant access please.") == []


def test_span_equality_ignores_subject_score_and_source() -> None:
    assert Span(0, 3, "PERSON", subject="E1", score=0.5, source="x") == Span(0, 3, "PERSON")
    assert sorted([Span(4, 5, "DATE"), Span(0, 3, "PERSON", subject="E1")])[0].subject == "E1"


def test_detector_and_detect_agree() -> None:
    roster = Roster.from_employees(ROWS)
    text = "Maria Garcia (E00001) wrote to may.long@acme.com on March 8, 2023 from 10.0.0.7."
    assert Detector(roster).detect(text) == detect(text, roster)
    assert [s.type for s in detect(text, roster, types=["PERSON", "DATE"])] == ["PERSON", "DATE"]


from faker.providers.person.en_US import Provider as _EnUS  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FIRST = sorted(set(_EnUS.first_names))
_LAST = sorted(set(_EnUS.last_names))
_FORMS = {
    "full": lambda f, last: f"{f} {last}",
    "lower": lambda f, last: f"{f} {last}".lower(),
    "upper": lambda f, last: f"{f} {last}".upper(),
    "last_first": lambda f, last: f"{last}, {f}",
    "LAST_FIRST": lambda f, last: f"{last}, {f}".upper(),
}


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_FIRST), st.sampled_from(_LAST), st.sampled_from(sorted(_FORMS)), st.booleans())
def test_any_roster_full_name_in_any_form_is_found_with_its_subject(first: str, last: str, form: str, poss: bool) -> None:
    roster = Roster.from_employees([{"employee_id": "E00042", "first_name": first, "last_name": last}])
    value = _FORMS[form](first, last)
    suffix = "'s file" if poss and "," not in value else " signed"
    text = f"Note: {value}{suffix}."
    spans = [s for s in roster.find(text)]
    assert [(text[s.start : s.end], s.subject) for s in spans] == [(value, "E00042")]
