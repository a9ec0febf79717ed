"""Labelled notes for PII benchmarks: reproducible, exact offsets, valid values, clean decoys."""

from __future__ import annotations

import ipaddress
import re

import pytest

from privtune.ingest import read_table
from privtune.pii import Detector, Roster
from privtune.pii.recognizers.card import card_is_valid
from privtune.pii.recognizers.phone import intl_phone_is_valid
from privtune.synth import generate_company, iban_checksum_ok
from privtune.synth.notes import NOTE_PII_TYPES, make_notes

DECOY_RES = [r"order #\d{5}", r"INC-\d{5}", r"TKT-\d{4}-\d{5}", r"version [\d.]+\d", r"v\d+\.\d+\.\d+",
             r"Invoice \d{4}-\d{4}", r"tracking \d{16}", r"\d+:\d{2}", r"\d+\.\d%"]  # fmt: skip


@pytest.fixture(scope="module")
def company(tmp_path_factory):
    out = tmp_path_factory.mktemp("notes-company")
    files = generate_company(120, 11, out)
    return read_table(files.employees).to_pylist()


@pytest.fixture(scope="module")
def notes(company):
    return make_notes(company, 11, 400)


def test_same_seed_same_notes(company, notes) -> None:
    again = make_notes(company, 11, 400)
    assert [(r["text"], s) for r, s in again] == [(r["text"], s) for r, s in notes]
    assert make_notes(company, 12, 5)[0][0]["text"] != notes[0][0]["text"]


def test_spans_hold_valid_values_of_their_type(notes) -> None:
    seen = set()
    for rec, spans in notes:
        text = rec["text"]
        for s in spans:
            value = text[s.start : s.end]
            seen.add(s.type)
            assert s.type in NOTE_PII_TYPES and value == value.strip() and value
            if s.type == "CREDIT_CARD":
                assert card_is_valid(value)
            elif s.type == "IP_ADDRESS":
                ipaddress.ip_address(value)
            elif s.type == "IBAN":
                assert iban_checksum_ok(value)
            elif s.type == "PHONE" and value.startswith(("+", "00")) and not value.startswith("+1 "):
                assert intl_phone_is_valid(value)
            elif s.type == "URL":
                assert "@" not in value and "." in value
    assert seen == set(NOTE_PII_TYPES)


def test_decoys_are_planted_and_stay_clean(company, notes) -> None:
    det = Detector(Roster.from_employees(company))
    decoys = 0
    for rec, gold in notes:
        text = rec["text"]
        found = det.detect(text)
        for rx in DECOY_RES:
            for m in re.finditer(rx, text):
                if any(g.start < m.end() and m.start() < g.end for g in gold):
                    continue  # "4:56" inside an IPv6 address is no decoy
                decoys += 1
                assert not any(s.start < m.end() and m.start() < s.end for s in found), (rx, m.group())
    assert decoys >= 150


def test_detector_finds_the_planted_spans(company, notes) -> None:
    det = Detector(Roster.from_employees(company))
    missed = wrong = total = 0
    for rec, spans in notes:
        got = {(s.start, s.end, s.type) for s in det.detect(rec["text"])}
        gold = {(s.start, s.end, s.type) for s in spans}
        missed += len(gold - got)
        wrong += len(got - gold)
        total += len(gold)
    assert total > 2000
    assert missed / total <= 0.01 and wrong / total <= 0.01
