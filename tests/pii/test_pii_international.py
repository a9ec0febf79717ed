"""Issue 17's detector half: phones in every national format of the workspace's regions, JCB and
Maestro cards, employee ids of the roster's shape, names beyond US English, international
street addresses. Each positive comes with decoys that must stay clean."""

from __future__ import annotations

import pytest

from privtune.errors import ConfigError
from privtune.pii import Detector, Roster
from privtune.pii.recognizers.card import CreditCardRecognizer
from privtune.pii.recognizers.org_id import EmployeeIdShapeRecognizer, id_shape
from privtune.pii.recognizers.phone import PhoneRecognizer


def found(text: str, kind: str, det: Detector | None = None) -> list[str]:
    det = det or Detector(None)
    return [text[s.start : s.end] for s in det.detect(text) if s.type == kind]


@pytest.mark.parametrize(
    "value",
    ["(03) 5342 5757", "0496 78 75 49", "020 7946 0018", "04 27 80 01 48", "0420428235", "(920)575-5947",
     "+44 7700 900123", "2125550143", "+1-555-123-4567 x123", "555.123.4567 ext. 12", "0171 2345678",
     "030/1234567", "+49 (0)30 901820", "0033 1 42 68 53 00", "+447700633531", "06 12 34 56 78"],
)  # fmt: skip
def test_national_and_international_phones(value):
    assert found(f"Sarah said: {value}.", "PHONE") == [value]


@pytest.mark.parametrize("text", ["call 07700 900123 today", "Mobile: 24 764401", "ring me on 412 8721", "0328 0152557-Office"])
def test_possible_numbers_count_with_a_phone_word(text):
    assert len(found(text, "PHONE")) == 1


@pytest.mark.parametrize(
    "text",
    ["born 14.03.1985", "paid 3.500.000 EUR", "order 2125550143", "invoice 0420428235", "on 2024-03-14",
     "costs $1 250 000", "3 500 000 people", "in 2019 2020 2021 2022", "score 1234567", "1 2 3 4 5 6 7 8",
     "version 10.2.3.4567", "room 12 floor 3", "555-123.4567", "+44 0000 0000", "ticket #2125550143",
     "grew 1234567 %", "IP 98.166.99.30"],
)  # fmt: skip
def test_dates_amounts_and_ids_are_not_phones(text):
    assert found(text, "PHONE") == []


def test_ssn_and_card_keep_their_type():
    assert found("SSN 123-45-6789", "PHONE") == []
    assert found("card 4111 1111 1111 1111", "PHONE") == []


def test_phone_regions_are_configurable():
    # a Belgian mobile needs BE among the regions; without it the bare number is not a phone
    assert [s.type for s in Detector(None, phone_regions=["US", "BE"]).detect("0496 78 75 49")] == ["PHONE"]
    assert Detector(None, phone_regions=["US"]).detect("0496 78 75 49") == []
    with pytest.raises(ConfigError):
        PhoneRecognizer(["XX"])


def test_roster_phones_add_their_region():
    roster = Roster(["Ana Lopez"], phones=["(212) 555-0143"])
    assert "US" in Detector(roster, phone_regions=["GB"]).phone_regions


@pytest.mark.parametrize("value", ["3513411763917567", "675955438006", "180014161784189", "6759 5543 8006", "5018 0000 0000 0009"])
def test_jcb_and_maestro_cards(value):
    digits = value.replace(" ", "")
    assert CreditCardRecognizer().find(value), value
    assert found(f"card {value} lost", "CREDIT_CARD") == [value], digits


@pytest.mark.parametrize("value", ["675955438007", "351341176391756", "123456789012"])
def test_card_decoys(value):
    assert found(f"ref {value}", "CREDIT_CARD") == []


def test_id_shapes_are_learnt_from_the_roster():
    assert id_shape("E123456") == r"E\d{6}"
    assert id_shape("EMP-0042") == r"EMP\-\d{4}"
    assert id_shape("104523") is None  # a bare number would take every number of that length
    assert id_shape("X1") is None


def test_ids_of_the_roster_shape_are_found_case_insensitively_with_lower_confidence():
    roster = Roster(employee_ids=["E123456", "E654321", "E000777"])
    det = Detector(roster)
    text = "Former employee E999999 (typo e123456) and E123456 and E1234567 and XE123456."
    spans = [(text[s.start : s.end], s.score) for s in det.detect(text) if s.type == "EMPLOYEE_ID"]
    assert spans == [("E999999", 0.8), ("e123456", 1.0), ("E123456", 1.0)]
    assert EmployeeIdShapeRecognizer([]).find("E123456") == []


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("My name is Viva Ujváry but everyone calls me Viva", ["Viva Ujváry", "Viva"]),
        ("I'm so jealous! said Anna to Michelle", ["Anna", "Michelle"]),
        ("as the assistant to Isaac A. Heath.", ["Isaac A. Heath"]),
        ("What's your name? Abelardo L Trevisano", ["Abelardo L Trevisano"]),
        ("Herr Mueller und Frau Schröder", ["Mueller", "Schröder"]),
        ("M. Dupont et Mme Lefèvre", ["Dupont", "Lefèvre"]),
        ("Sra. García llamó", ["García"]),
        ("J. Smith signed the form", ["J. Smith"]),
        ("Sometimes people call me Gerth", ["Gerth"]),
        ("talked to maria garcia yesterday", ["maria garcia"]),
        ("dhr. Jansen is ziek", ["Jansen"]),
        ("Emmie Ström will be talking", ["Emmie Ström"]),
    ],
)
def test_names_beyond_us_english(text, names):
    assert found(text, "PERSON") == names


@pytest.mark.parametrize(
    "text",
    ["it may rain; grant access to the team", "Visa renewal is due", "the bus stops at Emily Via 3",
     "we said hello", "During 2006, sales grew", "Wage garnishment order received"],
)  # fmt: skip
def test_name_decoys(text):
    assert found(text, "PERSON") == []


@pytest.mark.parametrize(
    "value",
    ["Landsberger Allee 2", "Lindenstrasse 40 Apt. 533", "Rue Platon 134", "Via Raffaele Conforti 74",
     "ul. Północna 73", "Hauptstraße 5, 10115 Berlin", "27 Rue de la Paix, 75002 Paris", "9791 Käbbatorp Locketorp 9",
     "PSC 1195, Box 5372\nAPO AE 44634", "USNS Broberg\nFPO AE 35544", "Storgatan 14"],
)  # fmt: skip
def test_international_addresses(value):
    assert found(f"send it to {value} please", "ADDRESS") == [value]


@pytest.mark.parametrize("text", ["meet on Floor 3 at Room 12", "in Q3 2024", "During 2006, we grew", "Am 3 Juli", "upgrade to Windows 11", "in Sprint 14 we"])
def test_address_decoys(text):
    assert found(text, "ADDRESS") == []


def test_escaped_line_breaks_keep_offsets():
    text = r"Name: Tamila Musliyevich\nPhone: 660 547 994\n+447700633531"
    got = [(text[s.start : s.end], s.type) for s in Detector(None).detect(text)]
    assert got == [("Tamila Musliyevich", "PERSON"), ("660 547 994", "PHONE"), ("+447700633531", "PHONE")]


@pytest.mark.parametrize(
    "value",
    ["3 février 2025", "14. März 2025", "3 de marzo de 2025", "1986-08-06 23:57:40.908386", "March 3, 2025 10:30 am"],
)
def test_dates_in_other_languages_and_with_a_time(value):
    assert found(f"Datum: {value}.", "DATE") == [value]


@pytest.mark.parametrize("text", ["at 10:30 we met", "version 2.3.1", "3 days later"])
def test_date_decoys(text):
    assert found(text, "DATE") == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("sent to 3561 Dalmatinova 5 Apt. 806\nTazarka\n, 21\n Tunisia 10973?", "3561 Dalmatinova 5 Apt. 806\nTazarka\n, 21\n Tunisia 10973"),
        ("Hauptstraße 5, 10115 Berlin, Germany. Danke", "Hauptstraße 5, 10115 Berlin, Germany"),
        (r"7421 Höfðastígur 86\n Apt. 288\n Bolungarvík\n Iceland 75979", r"7421 Höfðastígur 86\n Apt. 288\n Bolungarvík\n Iceland 75979"),
        ("on Slovenčeva 18\nThe next day we met", "Slovenčeva 18"),
        ("sent to Rue Platon 134, Paris. Thanks", "Rue Platon 134, Paris"),
    ],
)
def test_postal_block_lines_join_the_street_line(text, value):
    assert found(text, "ADDRESS") == [value]


def test_an_upper_case_date_is_not_a_street():
    text = "born on AUGUST 11, 2016. Mail to PO Box 78092."
    assert found(text, "DATE") == ["AUGUST 11, 2016"]
    assert found(text, "ADDRESS") == ["PO Box 78092"]
