"""Issue 17: the schema mapping. Roles from names (five languages, HRIS field names) and values;
an export with renamed columns loses nothing; unplaced columns are scrubbed free text."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pytest

from privtune.deid import Deidentifier, PersonIndex, classify_table, load_policy
from privtune.deid.fakes import Surrogates
from privtune.deid.keys import KeyedHash, person_key
from privtune.errors import ConfigError
from privtune.ingest import read_table, read_texts
from privtune.pii import Roster, detect
from privtune.pii.mapping import (
    ROLE_CLASS,
    ROLES,
    dump_mapping,
    infer_table,
    load_mapping,
    mapping_for_table,
    normalise,
    parse_mapping,
    record_samples,
    synonyms,
    table_samples,
)
from privtune.synth import generate_company
from privtune.synth.vocab import EMPLOYEE_COLUMNS

KEY = b"schema-test-key-0123456789abcdef"

#: Our column -> how another HRIS (here a German Personio/SAP-style export) names it.
RENAMED = {
    "employee_id": "Personalnummer", "first_name": "Vorname", "last_name": "Nachname",
    "email": "E-Mail-Adresse", "phone": "Tel", "ssn": "Sozialversicherungsnummer",
    "date_of_birth": "Geburtsdatum", "gender": "Geschlecht", "ethnicity": "Ethnie",
    "marital_status": "Familienstand", "home_address": "Anschrift", "city": "Ort",
    "state": "Bundesland", "zip": "PLZ", "hire_date": "Eintrittsdatum", "department": "Abteilung",
    "job_title": "Stellenbezeichnung", "manager_id": "Vorgesetzter", "salary": "Gehalt",
    "bonus": "Prämie", "performance_rating": "Bewertung", "leave_days_taken": "Urlaubstage genommen",
    "medical_leave": "Krankmeldung", "iban": "IBAN", "emergency_contact_name": "Notfallkontakt",
    "emergency_contact_relation": "Notfallkontakt Beziehung",
    "emergency_contact_phone": "Notfallnummer",
}
assert set(RENAMED) == set(EMPLOYEE_COLUMNS)


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("schema")
    files = generate_company(40, 11, base / "export")
    ours = read_table(files.employees)
    theirs = ours.rename_columns([RENAMED[c] for c in ours.column_names])
    tickets = read_texts(files.tickets)
    return {"files": files, "ours": ours, "theirs": theirs, "tickets": tickets,
            "gold": [json.loads(x) for x in files.pii_spans.read_text().splitlines()]}


def test_the_synonym_table_is_valid_and_multilingual() -> None:
    table = synonyms()
    assert set(table.values()) <= set(ROLES) and len(table) > 400
    for name, role in [("emp_id", "employee_id"), ("Personalnummer", "employee_id"),
                       ("matricule", "employee_id"), ("numero_empleado", "employee_id"),
                       ("personeelsnummer", "employee_id"), ("Legal_First_Name", "first_name"),
                       ("firstName", "first_name"), ("prénom", "first_name"), ("voornaam", "first_name"),
                       ("Nachname", "last_name"), ("apellidos", "last_name"), ("achternaam", "last_name"),
                       ("person_id_external", "employee_id"), ("Associate ID", "employee_id"),
                       ("workEmail", "email"), ("courriel", "email"), ("mobilePhone", "phone"),
                       ("Geburtsdatum", "date_of_birth"), ("fecha_de_nacimiento", "date_of_birth"),
                       ("hireDate", "hire_date"), ("Home Department", "department"),
                       ("Straße", "address"), ("BSN", "national_id"), ("Gehalt", "salary")]:
        assert table.get(normalise(name)) == role, name


def test_our_own_columns_map_to_themselves(company) -> None:
    m = infer_table(table_samples(company["ours"]))
    assert all(c.role != "unknown" for c in m.columns.values())
    same = {c for c in EMPLOYEE_COLUMNS if m.role(c) == c}
    assert same >= set(EMPLOYEE_COLUMNS) - {"ssn", "home_address", "medical_leave"}
    assert (m.role("ssn"), m.role("home_address"), m.role("medical_leave")) == ("national_id", "address", "medical")


def test_renamed_columns_are_placed_with_evidence_and_confidence(company) -> None:
    m = infer_table(table_samples(company["theirs"]))
    for ours, theirs in RENAMED.items():
        expected = {"ssn": "national_id", "home_address": "address", "medical_leave": "medical"}.get(ours, ours)
        c = m.columns[theirs]
        assert c.role == expected, (theirs, c)
        assert 0.5 <= c.confidence <= 1.0 and c.evidence
    for c in m.columns.values():  # evidence never quotes a value
        assert "@" not in c.evidence and not any(ch.isdigit() for ch in c.evidence.split("(")[0][-3:])


def test_value_evidence_places_a_column_with_an_unknown_name() -> None:
    t = pa.table({"contact_x": ["ann@acme.example", "bob@acme.example"], "blob": ["a", "b"],
                  "story": ["This is a long free text written about a day at the office."] * 2})
    m = infer_table(table_samples(t))
    assert m.role("contact_x") == "email" and m.columns["contact_x"].confidence == 0.7
    assert m.role("story") == "free_text"
    assert m.role("blob") == "unknown" and m.columns["blob"].confidence == 0.0
    assert ROLE_CLASS["unknown"] == "free_text"  # fail safe


def test_mapping_file_round_trip_and_errors(tmp_path: Path, company) -> None:
    m = infer_table(table_samples(company["theirs"]))
    from privtune.pii.mapping import SchemaMapping

    p = tmp_path / "m.yaml"
    p.write_text(dump_mapping(SchemaMapping(tables={"employees": m})))
    assert "Review every role" in p.read_text()
    assert load_mapping(p).table("employees") == m
    with pytest.raises(ConfigError, match=r"tables\.employees\.columns\.x\.role.*unknown role"):
        parse_mapping({"tables": {"employees": {"columns": {"x": {"role": "shoe_size"}}}}})
    with pytest.raises(ConfigError, match="confidence"):
        parse_mapping({"tables": {"employees": {"columns": {"x": {"role": "email", "confidence": 2}}}}})


def test_renamed_export_loses_nothing(company) -> None:
    """Same roster, same detection (so the same recall) and the same de-identified table as with
    our own column names."""
    ours, theirs = company["ours"], company["theirs"]
    m_ours, m_theirs = mapping_for_table(ours), mapping_for_table(theirs)
    r_ours, r_theirs = Roster.from_employees(ours, m_ours), Roster.from_employees(theirs, m_theirs)
    assert r_ours.employee_ids == r_theirs.employee_ids and r_ours.phones == r_theirs.phones
    assert r_ours.emails == r_theirs.emails and len(r_ours) == len(r_theirs)
    gold = {}
    for g in company["gold"]:
        gold.setdefault(g["text_id"], set()).add((g["start"], g["end"]))
    hit = {"ours": 0, "theirs": 0}
    total = 0
    for t in company["tickets"]:
        a, b = detect(t["text"], r_ours), detect(t["text"], r_theirs)
        assert [(s.start, s.end, s.type, s.subject) for s in a] == [(s.start, s.end, s.type, s.subject) for s in b]
        want = gold.get(t["id"], set())
        total += len(want)
        hit["ours"] += len(want & {(s.start, s.end) for s in a})
        hit["theirs"] += len(want & {(s.start, s.end) for s in b})
    assert total > 20 and hit["ours"] == hit["theirs"] and hit["theirs"] / total > 0.9
    pol = load_policy(None)
    d_ours = Deidentifier(pol, KEY, people=PersonIndex.from_rows(ours.to_pylist(), m_ours), roster=r_ours)
    d_theirs = Deidentifier(pol, KEY, people=PersonIndex.from_rows(theirs.to_pylist(), m_theirs), roster=r_theirs)
    out_ours, out_theirs = d_ours.table(ours, mapping=m_ours), d_theirs.table(theirs, mapping=m_theirs)
    assert out_theirs.table.column_names == out_ours.table.column_names
    assert out_theirs.table.equals(out_ours.table)
    assert "Vorname" not in out_theirs.table.column_names and "employee_id" in out_theirs.table.column_names
    # texts whose person field is named another way get the same pseudonyms and surrogates
    recs = company["tickets"][:15]
    renamed = [{("Personalnummer" if k == "employee_id" else k): v for k, v in r.items()} for r in recs]
    t_map = infer_table(record_samples(renamed))
    a, _ = d_ours.records(recs, workers=1)
    b, _ = d_theirs.records(renamed, workers=1, mapping=t_map)
    assert [x["text"] for x in a] == [x["text"] for x in b]
    assert [x["employee_id"] for x in a] == [x["employee_id"] for x in b]  # one schema downstream
    assert all(x["employee_id"].startswith("EMP-") and "Personalnummer" not in x for x in b)


def test_remarks_with_a_person_and_ssn_is_never_kept_raw() -> None:
    """Regression: `remarks` holding "David Stephens SSN 871-26-5122" was classed non-personal
    (too few words for prose) and kept raw in every row of employees-deid."""
    rows = [{"employee_id": f"E{i:05d}", "first_name": f"Ann{chr(97 + i)}", "last_name": "Lee",
             "remarks": "David Stephens SSN 871-26-5122" if i == 3 else "ok"} for i in range(8)]
    t = pa.table({k: [r[k] for r in rows] for k in rows[0]})
    pol = load_policy(None)
    d = Deidentifier(pol, KEY, people=PersonIndex.from_rows(rows), roster=Roster.from_employees(t))
    out = d.table(t)
    assert out.classes["remarks"].kind == "free_text"
    cells = [v for v in out.table.column("remarks").to_pylist() if v]
    assert not any("871-26-5122" in v or "Stephens" in v for v in cells)
    # even a policy that says `keep` cannot keep a column the detector finds identifiers in
    from privtune.deid import parse_policy

    keep = parse_policy({"columns": {"remarks": {"class": "non_personal", "operator": "keep"}}})
    c = classify_table(t, keep, roster=Roster.from_employees(t))["remarks"]
    assert c.scrub and c.kind == "free_text" and "SSN" in c.evidence and "871" not in c.evidence
    out = Deidentifier(keep, KEY, people=PersonIndex.from_rows(rows), roster=Roster.from_employees(t)).table(t)
    assert not any("871-26-5122" in (v or "") for v in out.table.column("remarks").to_pylist())


def test_surrogates_never_take_an_emergency_contacts_name() -> None:
    """A surrogate name equal to a real person's name (an employee's emergency contact) would
    attribute text to them: every person name the table knows is excluded."""
    keyed = KeyedHash(KEY)
    who = person_key("E09999")
    first, last = Surrogates(keyed).name(who)  # the surrogate it would get
    rows = [{"employee_id": "E00001", "first_name": "Ann", "last_name": "Lee",
             "emergency_contact_name": f"{first} {last}"}]
    idx = PersonIndex.from_rows(rows)
    assert person_key(f"{first} {last}") in idx.full_names()
    d = Deidentifier(load_policy(None), KEY, people=idx)
    assert d.env.surrogates.name(who) != (first, last)
    # the same for a column the mapping places under another name
    renamed = [{"emp_id": "E00001", "vorname": "Ann", "nachname": "Lee", "notfallkontakt": f"{first} {last}"}]
    assert person_key(f"{first} {last}") in PersonIndex.from_rows(renamed).full_names()


def test_an_export_with_other_column_names_builds_the_same_roster(tmp_path: Path) -> None:
    p = tmp_path / "employees.csv"
    with p.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emp_id", "Full Name", "Work Email"])
        w.writerow(["X-17", "Zelda Quarternight", "zq@acme.example"])
    r = Roster.from_employees(read_table(p))
    assert [s.subject for s in r.find("ask zelda quarternight")] == ["X-17"]
    assert r.emails == {"zq@acme.example"}


def test_a_partly_kept_column_is_scanned_too() -> None:
    """A mask that keeps the last four characters or a prefix generalisation keeps part of the
    raw text: such a column is scanned like a kept one."""
    from privtune.deid import parse_policy

    t = pa.table({"employee_id": ["E1", "E2"], "first_name": ["Ann", "Bob"], "last_name": ["Lee", "Ray"],
                  "ref": ["call 415-372-0134 re SSN 871-26-5122", "none"]})
    for rule in ({"operator": "mask"}, {"operator": "generalize", "method": "prefix", "width": 30}):
        pol = parse_policy({"columns": {"ref": {"class": "non_personal", **rule}}})
        c = classify_table(t, pol)["ref"]
        assert c.scrub and "SSN" in c.evidence, rule
    pol = parse_policy({"columns": {"ref": {"class": "non_personal", "operator": "mask", "keep_last": 0}}})
    assert not classify_table(t, pol)["ref"].scrub  # masks every character: nothing raw is kept


def test_two_columns_of_one_role_keep_distinct_output_names() -> None:
    """`salary:` (rename salary_band) applies by role to both pay columns: the outputs differ."""
    rows = [{"emp_id": f"E{i}", "name": f"Ann{chr(97 + i)} Lee", "salary": str(50000 + i * 1000),
             "base_pay": str(40000 + i * 1000)} for i in range(6)]
    t = pa.table({k: [r[k] for r in rows] for k in rows[0]})
    m = mapping_for_table(t)
    assert m.role("base_pay") == "salary" and m.role("salary") == "salary"
    out = Deidentifier(load_policy(None), KEY, people=PersonIndex.from_rows(rows, m)).table(t, mapping=m)
    assert out.table.column_names == ["employee_id", "salary_band", "salary_band_base_pay"]


def test_a_mapping_that_mislabels_identifiers_cannot_keep_them_raw(company) -> None:
    """Attack: a careless (or hostile) mapping calls the SSN, e-mail and phone columns harmless
    categories; the text detector still finds the identifiers and nothing is kept raw."""
    from privtune.pii.mapping import ColumnRole, TableMapping

    ours = company["ours"]
    m = mapping_for_table(ours)
    bad = TableMapping(columns={**m.columns, **{c: ColumnRole(role="category") for c in ("ssn", "email", "phone", "iban")}})
    from privtune.deid import parse_policy

    pol = load_policy(None)
    bare = parse_policy({})  # no rules by name either: only the mapping and the values decide
    for policy in (pol, bare):
        d = Deidentifier(policy, KEY, people=PersonIndex.from_rows(ours.to_pylist(), bad),
                         roster=Roster.from_employees(ours, bad))
        out = d.table(ours, mapping=bad)
        for col in ("ssn", "email", "phone", "iban"):
            assert out.classes[col].kind != "non_personal", col  # value evidence or the detector
            if col in out.table.column_names:
                raw = set(ours.column(col).to_pylist())
                assert not raw & set(out.table.column(col).to_pylist()), col
