"""Issue 17, third round: the classes of misses seen on presidio-evaluator's development seed,
each checked on sentences written for this test (other names, other wording), with the decoys
each new rule must leave alone. Names and places are made up."""

from __future__ import annotations

import pytest

from privtune.pii import Detector
from privtune.pii.scan import keys, words

DET = Detector(None)


def found(text: str, typ: str = "PERSON") -> list[str]:
    return [text[s.start : s.end] for s in DET.detect(text) if s.type == typ]


@pytest.mark.parametrize(
    ("text", "names"),
    [
        # a name after by / with / starring / add (one word of it a listed name: with none,
        # "add Tancredi Bellomo" is still missed, as are organisations such as "Google Cloud")
        ("The onboarding deck was prepared by Oona Vähäsarja last spring.", ["Oona Vähäsarja"]),
        ("Please sync with Ilse Brandvold before the audit.", ["Ilse Brandvold"]),
        ("Can we add Marco Bellomo as a second approver?", ["Marco Bellomo"]),
        ("The podcast, starring Griet Vanhoutte, covers payroll myths.", ["Griet Vanhoutte"]),
        # the other mentions of a name found once
        ("The grievance was filed by Wendeline K. Oostrum; Oostrum asked for a call.", ["Wendeline K. Oostrum", "Oostrum"]),
        # a lone name opening a sentence before a person verb
        ("Quirijn shouted at the vendor during the call.", ["Quirijn"]),
        ("Ysolde spent two weeks covering the front desk.", ["Ysolde"]),
        # two names before "of" and an organisation
        ("Ottoline Farquay of Brightwater Logistics signed the contract.", ["Ottoline Farquay"]),
        # a reporting verb before a full name
        ("\"We kept the budget,\" said Aurelio Quintavalle in the town hall.", ["Aurelio Quintavalle"]),
        # a form field with aligned columns
        ("Name:      Radomír Chalupa\nDept:      Finance", ["Radomír Chalupa"]),
        # the same speaker twice is a dialogue
        ('Brisco: "Is the rota out?"\nBrisco: "Send it to me."', ["Brisco", "Brisco"]),
    ],
)
def test_person_cues_round3(text: str, names: list[str]) -> None:
    assert sorted(found(text)) == sorted(names)


@pytest.mark.parametrize(
    "text",
    [
        "The change was approved by Microsoft Teams admins.",
        "We sync with Google Cloud every night.",
        "Please add Visa Renewal as a task.",
        "Payroll spent two hours on the export.",
        "Summary: reviewed by the board.",
        "The rollout was done by Acme Holdings.",
        "Key Account Manager for the Nordics.",
    ],
)
def test_person_cues_round3_decoys(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("text", "address"),
    [
        # a postal block whose lines carry a quote prefix, and a country after a blank line
        ("> 41 Harrowgate Road\n> Flat 3\n> Tollerby\n>\n> United Kingdom 40417", "41 Harrowgate Road\n> Flat 3\n> Tollerby\n>\n> United Kingdom 40417"),
        ("18 Pilgrim Lane\nWexcombe\n\nIreland", "18 Pilgrim Lane\nWexcombe\n\nIreland"),
        # a corner
        ("The depot is at the corner of Veldhoven 14 and Marten Lane.", "the corner of Veldhoven 14 and Marten Lane"),
        ("Drop the badge at Ilka and 77 Fernhill Road, thanks.", "Ilka and 77 Fernhill Road"),
        # street words of other languages
        ("Ship it to R Padre Anselmo 212, please.", "R Padre Anselmo 212"),
        ("Nieuwe adres: Wiesbadener Chaussee 7", "Wiesbadener Chaussee 7"),
        ("The office moved to Petőfi krt. 18.", "Petőfi krt. 18."),
        ("Our bureau is at 56 Rue de sablons now", "56 Rue de sablons"),
        # a ship or a unit at an FPO address, a named street with no number
        ("Forward to USCGC Brønnøy\nFPO AE 31207 please", "USCGC Brønnøy\nFPO AE 31207"),
        ("They met on Harrowby Street last week.", "Harrowby Street"),
    ],
)
def test_addresses_round3(text: str, address: str) -> None:
    assert address in found(text, "ADDRESS")


@pytest.mark.parametrize(
    "text",
    [
        "Boarding gate 12 is closed.",
        "Meet at 12 Main Street.\n\nThanks, and see you then",
        "Ask Maria and 3 others to join.",
        "Place the 2 boxes on the shelf.",
    ],
)
def test_addresses_round3_decoys(text: str) -> None:
    got = found(text, "ADDRESS")
    assert all("Thanks" not in g and "Boarding" not in g and "Maria" not in g and "Place" not in g for g in got)


def test_shared_tokens_are_computed_once_per_text() -> None:
    text = "Maria Garcia met Jean-Luc O'Neil at 5th Avenue."
    first = words(text)
    assert words(text) is first and keys(text) is keys(text)
    assert [w for _, _, w in first] == ["Maria", "Garcia", "met", "Jean-Luc", "O'Neil", "at", "th", "Avenue"]
    assert keys(text)[0] == "maria"
    other = "Anna"
    assert words(other) == [(0, 4, "Anna")] and words(text) == first  # a new text replaces the cache
