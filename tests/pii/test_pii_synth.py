"""On a generated company: detector recall against the ground truth, and a planted-PII grep of
what :mod:`privtune.deid` makes of it: the shipped policy's column rules, every span a ``[TYPE]``
placeholder (surrogate names would trip the grep: they are realistic names by design).

Recall is measured per type as the share of ground-truth spans fully covered by a detected
span; the figures are printed (``-s``) and must be >= 0.99 for the identifier types.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict

import pytest
import yaml

from privtune.deid import DEFAULT_POLICY_PATH, Deidentifier, PersonIndex, parse_policy
from privtune.ingest import discover_export, read_table, read_texts
from privtune.pii import Roster, detect

REQUIRED = ("EMAIL", "PHONE", "SSN", "IBAN", "EMPLOYEE_ID", "PERSON")
# Every span becomes its ``[TYPE]`` placeholder, employee ids in text their tokens.
PLACEHOLDERS = {"entities": {"EMPLOYEE_ID": {"operator": "pseudonymize", "kind": "EMP"},
                             "default": {"operator": "redact"}}}


@pytest.fixture(scope="module")
def loaded(company):
    ex = discover_export(company)
    emp = read_table(ex.employees)
    texts = read_texts(ex.reviews) + read_texts(ex.tickets)
    gold = defaultdict(list)
    for line in ex.pii_spans.read_text().splitlines():
        d = json.loads(line)
        gold[d["text_id"]].append(d)
    return ex, emp, Roster.from_employees(emp), texts, gold


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
def test_recall_on_ground_truth(loaded):
    _, _, roster, texts, gold = loaded
    hit, total = Counter(), Counter()
    for rec in texts:
        spans = detect(rec["text"], roster)
        for g in gold.get(rec["id"], []):
            total[g["type"]] += 1
            hit[g["type"]] += any(s.start <= g["start"] and s.end >= g["end"] for s in spans)
    recall = {t: hit[t] / total[t] for t in total}
    print("recall:", {t: f"{r:.4f} ({hit[t]}/{total[t]})" for t, r in sorted(recall.items())})
    for t in REQUIRED:
        assert total[t] > 0 and recall[t] >= 0.99, t


def _leaks(emp, blob: str) -> list[str]:
    """Which kinds of planted personal values of ``emp`` occur in ``blob`` (in any spelling)."""
    low = " ".join(blob.lower().split())
    compact = re.sub(r"[\s().+-]", "", low)
    found = []
    for r in emp.to_pylist():
        people = [(r["first_name"], r["last_name"])]
        if r.get("emergency_contact_name"):
            people.append(tuple(r["emergency_contact_name"].rsplit(" ", 1)))
        for first, last in people:
            first, last = first.lower(), last.lower()
            if f"{first} {last}" in low or f"{last}, {first}" in low:
                found.append("name")
        if r["email"].lower() in low:
            found.append("email")
        for col in ("phone", "emergency_contact_phone"):
            if re.sub(r"\D", "", r[col])[-10:] in compact:
                found.append("phone")
        if r["ssn"].replace("-", "") in compact:
            found.append("ssn")
        if r["iban"].lower() in compact:
            found.append("iban")
        if r["home_address"].lower() in low:
            found.append("address")
    return found


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
def test_deidentified_output_holds_no_planted_pii(loaded):
    ex, emp, roster, _, _ = loaded
    pol = parse_policy(yaml.safe_load(DEFAULT_POLICY_PATH.read_text()) | PLACEHOLDERS)
    d = Deidentifier(pol, b"test-key-0123456789abcdef", people=PersonIndex.from_rows(emp.to_pylist()),
                     roster=roster)
    out = {
        "employees": d.table(emp).table.to_pylist(),
        "reviews": d.records(read_texts(ex.reviews), workers=1)[0],
        "tickets": d.records(read_texts(ex.tickets), workers=1)[0],
    }
    blob = json.dumps(out)
    assert _leaks(emp, json.dumps({"raw": read_texts(ex.tickets)}))  # the grep does see raw PII
    leaks = _leaks(emp, blob)
    assert leaks == [], f"planted values survive: {Counter(leaks)}"
    # raw employee ids and non-common single names must be gone from the texts too
    texts_blob = json.dumps(out["reviews"] + out["tickets"])
    assert not re.search(r"\bE\d{5}\b", blob)
    assert "[PERSON]" in texts_blob and "[SSN]" in texts_blob and "[IBAN]" in texts_blob
