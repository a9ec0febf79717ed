"""Roster name matching: forms, case, possessives, word-names, longest match, speed."""

from __future__ import annotations

import time

import pyarrow as pa

from privtune.pii import Roster, detect


def roster():
    table = pa.table(
        {
            "employee_id": ["E00001", "E00002", "E00003", "E00004"],
            "first_name": ["Maria", "May", "Grant", "Anne"],
            "last_name": ["Garcia", "Long", "Price", "O'Neil-Smith"],
            "email": ["maria.garcia@acme.com", None, None, None],
            "phone": ["(415) 372-0134", None, None, None],
            "emergency_contact_name": ["Carlos Garcia", "Dr. Peter Long Jr.", None, None],
        }
    )
    return Roster.from_employees(table)


def names(text, r=None):
    return [text[s.start : s.end] for s in (r or roster()).find(text)]


def test_full_name_any_case():
    assert names("Ask Maria Garcia or MARIA GARCIA or maria garcia.") == ["Maria Garcia", "MARIA GARCIA", "maria garcia"]


def test_last_first_form():
    assert names("Garcia, Maria approved; GARCIA, MARIA too.") == ["Garcia, Maria", "GARCIA, MARIA"]


def test_possessive_excluded():
    assert names("Maria Garcia's leave and Garcia’s desk and MARIA'S car") == ["Maria Garcia", "Garcia", "MARIA"]


def test_single_tokens_any_case_for_uncommon_names():
    assert names("maria called; GARCIA replied; Ms. Garcia agreed") == ["maria", "GARCIA", "Garcia"]


def test_may_month_versus_name():
    assert names("We may approve it in the long run.") == []
    assert names("May said the price was fine.") == ["May"]
    assert names("Leave starts May 5, 2025.") == []
    spans = detect("Leave starts May 5, 2025.", roster())
    assert [s.type for s in spans] == ["DATE"]
    assert names("may long and MAY LONG") == ["may long", "MAY LONG"]
    assert names("Grant access to Grant.") == ["Grant"]  # "Grant access" is a phrase
    assert names("Best regards, Anne") == ["Anne"]


def test_emergency_contacts_and_honorifics():
    assert names("Her brother Carlos called; Peter Long is the contact.") == ["Carlos", "Peter Long"]


def test_hyphenated_and_apostrophe_names():
    assert names("Anne O'Neil-Smith's badge") == ["Anne O'Neil-Smith"]


def test_longest_match_and_no_overlap():
    spans = roster().find("Maria Garcia Garcia")
    assert [(s.start, s.end) for s in spans] == [(0, 12), (13, 19)]


def test_word_boundaries():
    assert names("Mariachi band, Garcias, Maria2, E00001") == []


def test_known_values_any_format():
    r = roster()
    text = "call 4153720134 or mail MARIA.GARCIA@ACME.COM about E00001"
    kinds = {text[s.start : s.end]: s.type for s in r.find_known(text)}
    assert kinds == {"4153720134": "PHONE", "MARIA.GARCIA@ACME.COM": "EMAIL", "E00001": "EMPLOYEE_ID"}


def test_fast_enough_for_thousands_of_texts():
    syl = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "pu"]
    word = lambda i: "".join(syl[int(d)] for d in f"{i:04d}").capitalize()  # noqa: E731
    r = Roster([(word(i) + "x", word(i) + "y") for i in range(5000)])
    text = f"Spoke with {word(42)}x {word(42)}y and {word(4999)}y, {word(1)}x about the claim. " * 4
    t0 = time.perf_counter()
    for _ in range(1000):
        r.find(text)
    assert time.perf_counter() - t0 < 5
    assert len(r.find(text)) == 12
