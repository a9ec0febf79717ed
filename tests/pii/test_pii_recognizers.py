"""Per-entity recognizers: every documented form is found exactly, invalid values and decoys are not."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.errors import ConfigError
from privtune.pii import Detector, PatternDetector, find_patterns
from privtune.pii.recognizers.card import card_is_valid, luhn_ok
from privtune.synth.identifiers import iban_forms, make_iban
from privtune.synth.notes import card_forms, luhn_invalid, make_card, make_intl_phone

DECOYS = [
    "order #48213", "INC-20931", "TKT-2024-00123", "v2.3.1", "version 10.4.2.1", "build 2024.3.1.7",
    "3 days", "12 people", "Invoice 2024-0042", "room 512", "10:30", "12.5%", "HTTP 404",
    "tracking 4111111111111112", "SKU 12345678", "ticket 1234-5678", "1.2.3", "file.txt",
    "3 laptops", "2024", "Q3 2025 plan",
]  # fmt: skip


def found(text: str, kind: str | None = None, detector=None) -> list[str]:
    spans = (detector or PatternDetector()).find(text)
    return [text[s.start : s.end] for s in sorted(set(spans)) if kind is None or s.type == kind]


@pytest.mark.parametrize("decoy", DECOYS)
def test_decoys_stay_clean_in_every_recognizer(decoy: str) -> None:
    assert found(f"Note: {decoy} is done.") == []
    assert Detector().detect(f"Note: {decoy} is done.") == []


# ------------------------------------------------------------------ cards


@pytest.mark.parametrize(
    "value",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500 0000 0000 0004",
     "2221 0000 0000 0009", "2720 9900 0000 0007", "3782 822463 10005", "378282246310005",
     "6011 1111 1111 1117", "3530 1113 3330 0000"],
)  # fmt: skip
def test_card_positive(value: str) -> None:
    assert found(f"card {value}, thanks", "CREDIT_CARD") == [value]


@pytest.mark.parametrize(
    "text",
    ["4111 1111 1111 1112", "1234 5678 9012 3452", "2220 0000 0000 0000", "2721 0000 0000 0004",
     "4111 1111-1111 1111", "order #4111111111111111", "41111111111111111111111", "9111 1111 1111 1110"],
)  # fmt: skip
def test_card_negative(text: str) -> None:
    assert found(text, "CREDIT_CARD") == []


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 2), st.sampled_from(["", "Card ", "paid with "]))
def test_any_valid_card_in_any_form_is_found(seed: int, form: int, prefix: str) -> None:
    card = make_card(random.Random(seed))
    value = card_forms(card)[form]
    assert luhn_ok(card) and card_is_valid(value)
    assert found(f"{prefix}{value}.", "CREDIT_CARD") == [value]


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32))
def test_luhn_invalid_numbers_are_not_cards(seed: int) -> None:
    number = luhn_invalid(random.Random(seed))
    assert not luhn_ok(number)
    assert found(f"tracking {number} arrived", "CREDIT_CARD") == []


# ------------------------------------------------------------------ IBAN, phones


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 3))
def test_any_valid_iban_in_any_case_and_spacing_is_found(seed: int, form: int) -> None:
    value = iban_forms(make_iban(random.Random(seed)))[form]
    assert found(f"IBAN: {value}.", "IBAN") == [value]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32))
def test_international_phones_are_found(seed: int) -> None:
    value = make_intl_phone(random.Random(seed))
    assert found(f"call {value} today", "PHONE") == [value]


@pytest.mark.parametrize("value", ["+44 20 7946 0958", "+49 30 901820", "+33 1 42 68 53 00", "0044 20 7946 0958"])
def test_international_phone_forms(value: str) -> None:
    assert found(f"mobile {value}.", "PHONE") == [value]


@pytest.mark.parametrize("text", ["+44 12", "+999 123 456 789", "+44 0000 0000", "ratio 0012345"])
def test_invalid_international_phones_are_not_found(text: str) -> None:
    assert found(text, "PHONE") == []


# ------------------------------------------------------------------ IPs and URLs


@pytest.mark.parametrize(
    "value", ["10.0.0.12", "192.168.1.254", "8.8.8.8", "2001:db8::1", "fe80::1ff:fe23:4567:890a",
              "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "::ffff:192.0.2.128"],
)  # fmt: skip
def test_ip_positive(value: str) -> None:
    assert found(f"login from {value} today", "IP_ADDRESS") == [value]


@pytest.mark.parametrize(
    "text", ["256.1.1.1", "1.2.3", "v1.2.3.4", "version 10.4.2.1", "1.2.3.4.5", "at 10:30:00", "ratio 12:30",
             "build 3.1.4.1"],
)  # fmt: skip
def test_ip_negative(text: str) -> None:
    assert found(text, "IP_ADDRESS") == []


@pytest.mark.parametrize(
    "value", ["https://intranet.example.com/users/e00123", "http://hr.example.com", "www.linkedin.com/in/jdoe",
              "github.com/jdoe", "ftp://files.example.org/x.csv", "https://example.com/a_(b)"],
)  # fmt: skip
def test_url_positive(value: str) -> None:
    assert found(f"see {value}.", "URL") == [value]


@pytest.mark.parametrize("text", ["maria.garcia@example.com", "mail MARIA@EXAMPLE.CO.UK now", "file.txt", "v2.3.1", "e.g. this"])
def test_url_negative_and_never_inside_emails(text: str) -> None:
    assert [s for s in Detector().detect(text) if s.type == "URL"] == []


# ------------------------------------------------------------------ dates, money, addresses


@pytest.mark.parametrize(
    "value", ["14.03.1985", "3/4/19", "March 8, 2023", "13 Feb 2024", "14th of March 1985", "1985-03-14",
              "2024/03/14", "14-03-1985", "Monday, March 8, 2023", "MARCH 8, 2023", "Mar. 8th 2023", "March 2023",
              "May 5"],
)  # fmt: skip
def test_date_positive(value: str) -> None:
    assert found(f"on {value} we met", "DATE") == [value]


@pytest.mark.parametrize("text", ["we may meet", "v2.3.1", "10:30", "version 14.03", "3 days", "INC-2024-03-14x", "32.13.2020"])
def test_date_negative(text: str) -> None:
    assert found(text, "DATE") == []


@pytest.mark.parametrize(
    "value", ["$85,000", "85,000 USD", "$42.50", "85k", "USD 85,000", "€4,500", "£30k", "$1.2M", "$85K",
              "1.2 million dollars", "EUR 4.500", "US$85k"],
)  # fmt: skip
def test_money_positive(value: str) -> None:
    assert found(f"pay is {value} now", "MONEY") == [value]


@pytest.mark.parametrize("text", ["3 days", "v2", "85", "order #85000", "12.5%", "2k19"])
def test_money_negative(text: str) -> None:
    assert found(text, "MONEY") == []


@pytest.mark.parametrize(
    "value", ["12 Main Street", "4051 N. Oak Ave, Apt 5", "77 Rue Lane, Springfield, IL 62704", "PO Box 1234",
              "P.O. Box 77", "Post Office Box 9", "12 Main St."],
)  # fmt: skip
def test_address_positive(value: str) -> None:
    assert found(f"send it to {value} please", "ADDRESS") == [value] or found(f"send it to {value}", "ADDRESS") == [value]


@pytest.mark.parametrize("text", ["order #12 Main", "3 Main points", "the box 12", "12 people in room 5"])
def test_address_negative(text: str) -> None:
    assert found(text, "ADDRESS") == []


def test_street_line_keeps_sentence_period_outside() -> None:
    assert found("Mail to 459 Anne River. SSN follows.", "ADDRESS") == ["459 Anne River"]


# ------------------------------------------------------------------ organisation ids


def test_org_id_patterns_are_configurable() -> None:
    det = PatternDetector(r"\bEMP-\d{4}\b", {"badge": r"\bBDG-\d{6}\b"})
    text = "EMP-1234 has badge BDG-004211; E12345 is not our format."
    spans = sorted(det.find(text))
    assert [(text[s.start : s.end], s.type) for s in spans] == [("EMP-1234", "EMPLOYEE_ID"), ("BDG-004211", "ORG_ID")]
    assert [s.source for s in spans if s.type == "ORG_ID"] == ["org_id:badge"]


def test_bad_org_id_regex_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="badge"):
        PatternDetector(org_id_patterns={"badge": "BDG-(\\d+"})


def test_find_patterns_covers_every_pattern_type() -> None:
    text = ("a@b.com https://x.org/p (555) 123-4567 SSN 123-45-6789 4111 1111 1111 1111 "
            "DE89 3704 0044 0532 0130 00 10.0.0.1 E12345 March 8, 2023 $85,000 12 Main Street")
    assert {s.type for s in find_patterns(text)} == {
        "EMAIL", "URL", "PHONE", "SSN", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "EMPLOYEE_ID", "DATE", "MONEY", "ADDRESS"}
