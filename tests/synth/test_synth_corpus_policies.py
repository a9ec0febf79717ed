"""HR policies (markdown, no personal data) and the generic pre-training corpus (no PII)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privtune.synth import (
    COMMON_WORD_NAMES,
    TICKET_CATEGORIES,
    generate_company,
    generic_hr_corpus,
    read_table,
)
from privtune.synth.vocab import DEPARTMENTS

IDENTIFIER_SHAPES = [
    r"@",  # any email
    r"\bE\d{5}\b",  # employee id
    r"\d{3}[- ]\d{2}[- ]\d{4}",  # SSN
    r"\d{9}",  # SSN / long numbers
    r"\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}",  # phone
    r"\b[A-Z]{2}\d{2}[A-Z0-9]{4}",  # IBAN
    r"\d{4}-\d\d-\d\d|\d{1,2}/\d{1,2}/\d{2,4}",  # dates
]


def _names_in(text: str, emps: list[dict]) -> list[str]:
    """Employee/relative names found as whole, case-sensitive words (ordinary words aside)."""
    hits = []
    low = text.lower()
    words = set(re.findall(r"[A-Za-z]+(?:'[A-Za-z]+)?", text)) | set(re.findall(r"[A-Za-z]+", text))
    for e in emps:
        if f"{e['first_name']} {e['last_name']}".lower() in low:
            hits.append("full name")
        if e["emergency_contact_name"].lower() in low:
            hits.append("relative")
        if e["email"].lower() in low:
            hits.append("email")
        for w in (e["first_name"], e["last_name"]):
            if w not in COMMON_WORD_NAMES and w in words:
                hits.append(w)
    return hits


def test_policies_shape(company) -> None:
    paths = company.files.policies
    assert 6 <= len(paths) <= 8
    for p in paths:
        text = p.read_text(encoding="utf-8")
        lines = text.splitlines()
        assert lines[0].startswith("# ") and company.files.company_name in lines[0]
        assert sum(1 for ln in lines if ln.startswith("## ")) >= 3
        assert re.search(r"\b\d+ (days|weeks|years|hours)\b|\$\d+", text)
    joined = " ".join(p.read_text() for p in paths)
    assert re.search(r"\d+ days of annual leave", joined)
    assert "parental leave" in joined and "remote" in joined.lower()


def test_policies_have_no_personal_data(company, big_company) -> None:
    for co in (company, big_company):
        text = "\n".join(p.read_text() for p in co.files.policies)
        assert _names_in(text, co.employees) == []
        for pat in IDENTIFIER_SHAPES:
            assert not re.search(pat, text), pat


def test_policy_numbers_depend_on_seed(tmp_path: Path) -> None:
    texts = []
    for seed in (1, 2, 3, 4):
        files = generate_company(5, seed, tmp_path / str(seed))
        texts.append("".join(re.findall(r"\d+", "".join(p.read_text() for p in files.policies))))
    assert len(set(texts)) > 1


def test_corpus_reproducible_and_sized() -> None:
    a = generic_hr_corpus(7, 500)
    assert a == generic_hr_corpus(7, 500)
    assert a != generic_hr_corpus(8, 500)
    assert len(a) == 500 and len(generic_hr_corpus(1)) == 2000
    assert generic_hr_corpus(1, 0) == []
    assert all(isinstance(s, str) and s.strip() == s and s for s in a)
    qa = [s for s in a if s.startswith("Q: ") and " A: " in s]
    assert 0.1 * len(a) < len(qa) < 0.5 * len(a)
    assert len(set(a)) > 200


def test_corpus_speaks_hr() -> None:
    text = " ".join(generic_hr_corpus(3, 2000)).lower()
    for word in ("annual leave", "parental leave", "payroll", "review", "ticket", "salary", "manager"):
        assert word in text
    assert sum(d.lower() in text for d in DEPARTMENTS) >= 6
    assert sum(c.replace("_", " ") in text for c in TICKET_CATEGORIES) >= 6


def test_corpus_has_no_identifiers() -> None:
    text = "\n".join(generic_hr_corpus(5, 3000))
    for pat in IDENTIFIER_SHAPES:
        assert not re.search(pat, text), pat


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=10_000))
def test_corpus_has_no_names_of_a_company(tmp_path_factory: pytest.TempPathFactory, seed: int) -> None:
    files = generate_company(60, seed, tmp_path_factory.mktemp("corp"))
    emps = read_table(files.employees).to_pylist()
    text = "\n".join(generic_hr_corpus(seed, 1500))
    assert _names_in(text, emps) == []


def test_corpus_has_no_names_of_the_big_company(big_company) -> None:
    text = "\n".join(generic_hr_corpus(3, 2000))
    assert _names_in(text, big_company.employees) == []
