"""Names no gazetteer lists, found by the shape of the text (person_cues.py), and postal blocks
(address.py): each cue on names and places written for these tests, and the decoys it must
leave alone."""

from __future__ import annotations

import pytest

from privtune.pii import Detector
from privtune.pii.recognizers.people import transliterations, variants

DET = Detector(None)


def found(text: str, typ: str = "PERSON") -> list[str]:
    return [text[s.start : s.end] for s in DET.detect(text) if s.type == typ]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("I want to add Berislav B. Kovačević as a beneficiary", "Berislav B. Kovačević"),
        ("Approved by Zarita S Akhtakhanov yesterday.", "Zarita S Akhtakhanov"),
        ("The request came from Bibulat Sultygov on Monday.", "Bibulat Sultygov"),
        ("Escalated to Milenko Vučković in payroll.", "Milenko Vučković"),
        ("Hi Nermina, the contract is attached.", "Nermina"),
        ("Dear Ms Okonkwo,\nplease find the letter.", "Okonkwo"),
        ("Thanks, Sipho!", "Sipho"),
        ('"I am glad it was withdrawn," says Koupil.', "Koupil"),
        ("Teake Tuininga joined the team in May.", "Teake Tuininga"),
        ("Rubija Liberšar, the site manager, said the audit went well.", "Rubija Liberšar"),
        ("Serdar, can you send me the rota?", "Serdar"),
        ("Horton began the review on time.", "Horton"),
        ("What's your name? Sabina  Pugliesi", "Sabina  Pugliesi"),
        ("Our son is named Dmitry.", "Dmitry"),
        ("She named him Temirbek", "Temirbek"),
    ],
)
def test_cues_find_names_no_list_holds(text: str, name: str) -> None:
    assert name in found(text)


def test_speaker_labels_in_a_dialogue() -> None:
    text = "Tatum: can you cover Friday?\nCarol: Sure, if Ravi swaps with me.\nTatum: Thanks!"
    assert {"Tatum", "Carol"} <= set(found(text))


def test_signature_line_and_lists() -> None:
    sig = "Riku Andou\nTreasurer\nNorthwind Ltd\n+44 20 7946 0958"
    assert "Riku Andou" in found(sig)
    assert {"Cocci", "Rios"} <= set(found("Cocci and Rios were on call."))
    listed = found("The founders: Bártová, Hernandez and Lindqvist.")
    assert {"Bártová", "Hernandez", "Lindqvist"} <= set(listed)


@pytest.mark.parametrize(
    "text",
    [
        "Summary: the team met its goals.",
        "Subject: Re: rota\nStatus: open",
        "Awarded Salesperson of the Month three times.",
        "Plan B was approved by the board.",
        "Hey, the printer on Floor 3 is broken again.",
        "Hi team, the office is closed on Friday.",
        "Phone: 555-0100\nEmail: hr@example.com",
        "Key Account Manager, Sales: met expectations.",
        "The payroll run, the bonus run and the audit said nothing new.",
    ],
)
def test_cues_leave_decoys_alone(text: str) -> None:
    assert found(text) == []


def test_transliterated_gazetteer() -> None:
    assert {"dmitriy", "dmitrij", "dmitry"} <= transliterations("дмитрий")
    assert "dmitr" not in transliterations("дмитрий")
    assert "mueller" in variants("müller")
    assert "Dmitry Ponomarev" in found("The form was signed by Dmitry Ponomarev.")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Send it to 88072 79 Wolfe Street\n Apt. 222\n Marybank\n New Zealand 62562 please",
         "88072 79 Wolfe Street\n Apt. 222\n Marybank\n New Zealand 62562"),
        ("I live at 810 Landsberger Allee 2 Suite 201 München Germany now",
         "810 Landsberger Allee 2 Suite 201 München Germany"),
        ("We meet at 2159 46 rue Nationale, PARIS", "2159 46 rue Nationale, PARIS"),
        ("Office: Bécsi utca 35., Budapest", "Bécsi utca 35., Budapest"),
        ("the corner of 92 Circle Way and Paterson Pass.", "the corner of 92 Circle Way and Paterson Pass"),
        ("The restaurant is at 7383 πλατεία Καραισκάκη 262", "7383 πλατεία Καραισκάκη 262"),
        ("Sent to 832 1678 Dorp St\n Suite 389\n Claremont\n South Africa for this card",
         "832 1678 Dorp St\n Suite 389\n Claremont\n South Africa"),
    ],
)
def test_postal_blocks(text: str, value: str) -> None:
    assert found(text, "ADDRESS") == [value]


@pytest.mark.parametrize(
    ("text", "address", "phone"),
    [
        ("Poznań\\n Poland 86021\\n67 501 36 56-Office", "Poznań\\n Poland 86021", "67 501 36 56"),
        ("Runkelen\n Belgium 65601\n9380 6377 office", "Runkelen\n Belgium 65601", "9380 6377"),
    ],
)
def test_postal_block_stops_before_the_phone_line(text: str, address: str, phone: str) -> None:
    full = "12 Main Street\n" + text
    spans = {(full[s.start : s.end], s.type) for s in DET.detect(full)}
    assert ("12 Main Street\n" + address, "ADDRESS") in spans
    assert (phone, "PHONE") in spans


@pytest.mark.parametrize(
    "text",
    [
        "12 Main Street, Springfield is where the team met.",
        "at 4 Elm Street Monday the office opened",
        "Mobile: 22 782310",
        "Boarding gate 12 is closed.",
    ],
)
def test_postal_block_decoys(text: str) -> None:
    got = found(text, "ADDRESS")
    assert all("Monday" not in g and "is where" not in g and "Mobile" not in g for g in got)
    if text.startswith(("Mobile", "Boarding")):
        assert got == []
