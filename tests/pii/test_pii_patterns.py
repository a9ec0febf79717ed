"""Regex detectors: each type's formats match exactly, invalid values and decoys do not."""

from __future__ import annotations

import pytest

from privtune.pii import PatternDetector, Span, find_patterns, iban_is_valid, resolve_overlaps


def found(text, kind=None):
    return [text[s.start : s.end] for s in sorted(find_patterns(text)) if kind is None or s.type == kind]


@pytest.mark.parametrize(
    "value",
    ["john.smith@example.com", "JOHN.SMITH@EXAMPLE.COM", "Maria.Garcia@Granite-field.co.uk", "a+b_c@x.io"],
)
def test_email_positive(value):
    assert found(f"write to {value}.", "EMAIL") == [value]


@pytest.mark.parametrize("text", ["user@localhost", "a..b@x.com", "@example.com", "x@y", "email me"])
def test_email_negative(text):
    assert found(text, "EMAIL") == []


@pytest.mark.parametrize(
    "value",
    ["(555) 123-4567", "555.123.4567", "+1 555 123 4567", "555-123-4567", "+1 (415) 372-0134",
     "(415)372-0134", "1-800-555-0199", "555-123-4567 x123"],
)
def test_phone_positive(value):
    assert found(f"call {value} today", "PHONE") == [value]


@pytest.mark.parametrize(
    "text",
    ["555-123.4567", "5551234567", "12-555-123-4567-9", "INC-555-1234", "v2.3.1", "order #48213",
     "1234-555-123-4567", "555-123-45678", "3 days", "123-45-6789"],
)
def test_phone_negative(text):
    assert found(text, "PHONE") == []


@pytest.mark.parametrize("value", ["123-45-6789", "123 45 6789", "123456789", "899-01-0001"])
def test_ssn_positive(value):
    assert found(f"SSN is {value}.", "SSN") == [value]


@pytest.mark.parametrize(
    "text",
    ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "123-456789",
     "order #123456789", "$123456789", "1234567890", "123-45-67890", "v1.123-45-6789", "INC-20931"],
)
def test_ssn_negative(text):
    assert found(text, "SSN") == []


@pytest.mark.parametrize(
    "value",
    ["DE89 3704 0044 0532 0130 00", "DE89370400440532013000", "de89370400440532013000",
     "gb82 west 1234 5698 7654 32", "GB82WEST12345698765432", "FR1420041010050500013M02606",
     "NL91ABNA0417164300"],
)
def test_iban_positive(value):
    assert found(f"IBAN {value} please", "IBAN") == [value]
    assert iban_is_valid(value)


@pytest.mark.parametrize(
    "text",
    ["DE89 3704 0044 0532 0130 01", "DE8937040044053201300", "DE893704004405320130001",
     "XX89370400440532013000", "INC-20931", "AB12 is a code"],
)
def test_iban_negative(text):
    assert found(text, "IBAN") == []


def test_iban_does_not_swallow_following_word():
    text = "DE89 3704 0044 0532 0130 00 and then"
    assert found(text, "IBAN") == ["DE89 3704 0044 0532 0130 00"]


def test_employee_id_default_and_configurable():
    assert found("see E00042 and E000421 and XE00042", "EMPLOYEE_ID") == ["E00042"]
    det = PatternDetector(employee_id_regex=r"\bEMP\d{3}\b")
    assert [s for s in det.find("EMP123 E00042") if s.type == "EMPLOYEE_ID"] == [Span(0, 6, "EMPLOYEE_ID")]


@pytest.mark.parametrize(
    "value",
    ["1985-03-14", "14.03.1985", "3/14/85", "3/14/1985", "March 14, 1985", "14 Mar 1985", "14th of March 1985"],
)
def test_dates(value):
    assert found(f"born {value}.", "DATE") == [value]


@pytest.mark.parametrize("value", ["$85,000", "85,000 USD", "USD 85,000", "85k", "85.5k", "$42.50"])
def test_money(value):
    assert found(f"paid {value} per year", "MONEY") == [value]


def test_address():
    assert found("moved to 4637 Edward Fall Apt. 12 last week", "ADDRESS") == ["4637 Edward Fall Apt. 12"]
    assert found("I have 3 days left", "ADDRESS") == []


def test_decoys_match_nothing():
    text = (
        "This is related to order #48213. IT opened INC-20931. I am on app v2.3.1. "
        "It has been going on for 3 days. We were 35 people in the meeting. Room 4B, ticket 20931."
    )
    assert find_patterns(text) == []


def test_resolve_overlaps_merges_to_union():
    spans = [Span(0, 10, "PERSON"), Span(5, 25, "EMAIL"), Span(30, 35, "DATE"), Span(30, 35, "DATE")]
    assert resolve_overlaps(spans) == [Span(0, 25, "EMAIL"), Span(30, 35, "DATE")]
    with pytest.raises(ValueError):
        Span(3, 3, "PERSON")
    with pytest.raises(ValueError):
        Span(0, 3, "NAME")
