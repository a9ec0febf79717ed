"""Reviews, tickets and their ground-truth PII spans: exact offsets, full coverage, decoys."""

from __future__ import annotations

import re
from collections import Counter

from privtune.synth import DECOY_PATTERNS, PII_TYPES, REVIEW_PERIOD, TICKET_CATEGORIES, iban_checksum_ok

SSN_RE = re.compile(r"(?<!\d)\d{3}[- ]?\d{2}[- ]?\d{4}(?!\d)")
PHONE_RE = re.compile(r"(?:\+1 )?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\d)")
EMAIL_RE = re.compile(r"[A-Za-z0-9.]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
EID_RE = re.compile(r"\bE\d{5}\b")


def _covered(spans: list[dict], start: int, end: int, typ: str) -> bool:
    return any(s["type"] == typ and s["start"] <= start and end <= s["end"] for s in spans)


def _digits(s: str) -> str:
    return re.sub(r"\D", "", s)


def test_every_span_is_exact_and_typed(company, big_company, small_company) -> None:
    for co in (company, big_company, small_company):
        texts = co.texts
        for tid, spans in co.spans_by_text().items():
            text = texts[tid]
            prev_end = 0
            for s in sorted(spans, key=lambda s: s["start"]):
                assert s["type"] in PII_TYPES
                assert 0 <= s["start"] < s["end"] <= len(text)
                assert s["start"] >= prev_end, "spans overlap"
                prev_end = s["end"]
                value = text[s["start"] : s["end"]]
                assert value == value.strip() and value
        assert {s["text_id"] for s in co.spans} <= set(texts)


def test_span_values_are_the_employees_own(company) -> None:
    emps = company.employees
    ssns = {_digits(e["ssn"]) for e in emps}
    phones = {_digits(e["phone"]) for e in emps}
    emails = {e["email"] for e in emps}
    ibans = {e["iban"] for e in emps}
    ids = {e["employee_id"] for e in emps}
    names = {e["first_name"].lower() for e in emps} | {e["last_name"].lower() for e in emps}
    names |= {w.lower() for e in emps for w in e["emergency_contact_name"].split()}
    texts = company.texts
    seen: Counter[str] = Counter()
    for s in company.spans:
        v = texts[s["text_id"]][s["start"] : s["end"]]
        seen[s["type"]] += 1
        t = s["type"]
        if t == "SSN":
            assert _digits(v) in ssns and len(v) in (9, 11)
        elif t == "PHONE":
            assert _digits(v)[-10:] in phones
        elif t == "EMAIL":
            assert v.lower() in emails
        elif t == "IBAN":
            assert v.replace(" ", "").upper() in ibans and iban_checksum_ok(v)
        elif t == "EMPLOYEE_ID":
            assert v in ids
        elif t == "PERSON":
            assert not v.endswith("'s")
            assert {w.strip(",").lower() for w in v.split()} <= names
        elif t == "MONEY":
            assert re.fullmatch(r"\$[\d,]+(\.\d\d)?|[\d,]+ USD|USD [\d,]+|\d+(\.\d)?k", v), v
        elif t == "DATE":
            assert re.search(r"\d{1,4}", v)
    assert set(seen) == set(PII_TYPES)


def test_planted_identifiers_are_all_labelled(company, big_company) -> None:
    """Grep every employee SSN / phone / email / id in the texts: each hit is inside a span."""
    for co in (company, big_company):
        emps = co.employees
        ssns = {_digits(e["ssn"]) for e in emps}
        phones = {_digits(e["phone"]) for e in emps} | {_digits(e["emergency_contact_phone"]) for e in emps}
        emails = {e["email"] for e in emps}
        ibans = {e["iban"].lower() for e in emps}
        by_text = co.spans_by_text()
        hits: Counter[str] = Counter()
        for tid, text in co.texts.items():
            spans = by_text[tid]
            for m in SSN_RE.finditer(text):
                if _digits(m.group()) in ssns:
                    hits["SSN"] += 1
                    assert _covered(spans, m.start(), m.end(), "SSN"), (tid, m.start())
            for m in PHONE_RE.finditer(text):
                if _digits(m.group())[-10:] in phones:
                    hits["PHONE"] += 1
                    assert _covered(spans, m.start(), m.end(), "PHONE"), (tid, m.start())
            for m in EMAIL_RE.finditer(text):
                if m.group().lower() in emails:
                    hits["EMAIL"] += 1
                    assert _covered(spans, m.start(), m.end(), "EMAIL"), (tid, m.start())
            for m in EID_RE.finditer(text):
                assert _covered(spans, m.start(), m.end(), "EMPLOYEE_ID"), (tid, m.start())
            # IBANs in any spacing / case: search the text with spaces removed, map back
            keep = [i for i, ch in enumerate(text) if ch != " "]
            packed = "".join(text[i] for i in keep).lower()
            for iban in ibans:
                at = packed.find(iban)
                while at >= 0:
                    hits["IBAN"] += 1
                    start, end = keep[at], keep[at + len(iban) - 1] + 1
                    assert _covered(spans, start, end, "IBAN"), (tid, start)
                    at = packed.find(iban, at + 1)
        assert hits["SSN"] and hits["PHONE"] and hits["EMAIL"] and hits["IBAN"]


def test_varied_written_forms(big_company) -> None:
    texts = big_company.texts
    vals: dict[str, list[str]] = {t: [] for t in PII_TYPES}
    for s in big_company.spans:
        vals[s["type"]].append(texts[s["text_id"]][s["start"] : s["end"]])
    phone_shapes = {re.sub(r"\d", "9", v) for v in vals["PHONE"]}
    assert {"(999) 999-9999", "999.999.9999", "+9 999 999 9999", "999-999-9999"} <= phone_shapes
    ssn_shapes = {re.sub(r"\d", "9", v) for v in vals["SSN"]}
    assert {"999-99-9999", "999 99 9999", "999999999"} <= ssn_shapes
    assert any(" " in v for v in vals["IBAN"]) and any(" " not in v for v in vals["IBAN"])
    assert any(v.islower() for v in vals["IBAN"])
    assert any(v.isupper() for v in vals["EMAIL"]) and any(v.islower() for v in vals["EMAIL"])
    date_shapes = {re.sub(r"\d", "9", v) for v in vals["DATE"]}
    assert "9999-99-99" in date_shapes and "99.99.9999" in date_shapes
    assert any(re.fullmatch(r"[A-Z][a-z]+ \d{1,2}, \d{4}", v) for v in vals["DATE"])
    assert any(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", v) for v in vals["DATE"])
    assert any(re.fullmatch(r"\d{1,2}(st|nd|rd|th) of [A-Z][a-z]+ \d{4}", v) for v in vals["DATE"])
    assert any(re.fullmatch(r"\d{1,2}/\d{1,2}/\d{2}", v) for v in vals["DATE"])
    money_shapes = {re.sub(r"[\d,.]+", "9", v) for v in vals["MONEY"]}
    assert {"$9", "9 USD", "9k"} <= money_shapes
    assert any(texts[s["text_id"]][s["end"] : s["end"] + 5] == "/hour" for s in big_company.spans if s["type"] == "MONEY")
    persons = vals["PERSON"]
    assert any(v.isupper() for v in persons) and any(v.islower() for v in persons)
    assert any(re.fullmatch(r"[A-Za-z' -]+, [A-Za-z' -]+", v) for v in persons)
    possessive = [s for s in big_company.spans if s["type"] == "PERSON" and texts[s["text_id"]][s["end"] : s["end"] + 2] == "'s"]
    assert possessive
    assert any(", " in v and re.search(r"[A-Z]{2} \d{5}$", v) for v in vals["ADDRESS"])


def test_reviews_fields_and_mentions(company) -> None:
    emps = {e["employee_id"]: e for e in company.employees}
    by_text = company.spans_by_text()
    assert len(company.reviews) == len(emps) - 1
    for i, r in enumerate(company.reviews, start=1):
        assert r["id"] == f"R{i:06d}" and r["period"] == REVIEW_PERIOD
        e = emps[r["employee_id"]]
        assert r["reviewer_id"] == e["manager_id"]
        assert r["rating"] == e["performance_rating"]
        names = [r["text"][s["start"] : s["end"]].lower() for s in by_text[r["id"]] if s["type"] == "PERSON"]
        assert any(e["first_name"].lower() in n or e["last_name"].lower() in n for n in names)
        sentences = re.split(r"(?<!Mr\.)(?<!Ms\.)(?<!Apt\.)(?<=[.?!])\s+", r["text"])
        assert 2 <= len(sentences) <= 6, r["id"]
    relatives = {e["emergency_contact_name"].lower() for e in emps.values()}
    rel_mentions = [
        r for r in company.reviews if any(rel in r["text"].lower() for rel in relatives)
    ]
    assert rel_mentions, "some reviews mention a relative"


def test_tickets_categories_match_content(company, small_company) -> None:
    keywords = {
        "payroll": ("payroll", "payslip", "deposit", "w-2"),
        "leave": ("leave",),
        "benefits": ("insurance", "benefits", "401(k)"),
        "it_access": ("vpn", "password", "log in"),
        "relocation": ("relocat", "moving", "move"),
        "complaint": ("complaint", "harassment"),
        "onboarding": ("onboarding", "joining"),
        "offboarding": ("offboarding", "last working day"),
    }
    for co in (company, small_company):
        cats = Counter(t["category"] for t in co.tickets)
        assert set(cats) == set(TICKET_CATEGORIES)
        ids = {e["employee_id"] for e in co.employees}
        for i, t in enumerate(co.tickets, start=1):
            assert t["id"] == f"T{i:06d}" and t["employee_id"] in ids
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", t["created_at"])
            assert any(k in t["text"].lower() for k in keywords[t["category"]]), t["id"]


def test_decoys_present_and_unlabelled(company, small_company) -> None:
    for co in (company, small_company):
        by_text = co.spans_by_text()
        found: Counter[str] = Counter()
        for t in co.tickets:
            for pat in DECOY_PATTERNS:
                for m in re.finditer(pat, t["text"]):
                    found[pat] += 1
                    for s in by_text[t["id"]]:
                        assert s["end"] <= m.start() or s["start"] >= m.end(), (t["id"], pat)
        assert set(found) == set(DECOY_PATTERNS)
        for s in co.spans:  # no decoy shape is ever a span
            v = co.texts[s["text_id"]][s["start"] : s["end"]]
            assert not any(re.fullmatch(p, v) for p in DECOY_PATTERNS)
