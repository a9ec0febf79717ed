"""The employees and leave tables: identifiers, dates, org tree, pay and leave consistency."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import Counter, defaultdict
from statistics import median

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.synth import (
    COMMON_WORD_NAMES,
    EMPLOYEE_COLUMNS,
    LEAVE_TYPES,
    TODAY,
    iban_checksum_ok,
    ssn_is_valid,
)
from privtune.synth.identifiers import make_iban, make_ssn
from privtune.synth.vocab import CEO_TITLE, DEPARTMENTS, EXECUTIVE, RELATIONS

D = dt.date.fromisoformat


def _iban_ok(iban: str) -> bool:
    """Independent mod-97 implementation (ISO 13616)."""
    s = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in s)) % 97 == 1


def test_columns_exact(company) -> None:
    header = company.files.employees.read_text().splitlines()[0]
    assert header.split(",") == list(EMPLOYEE_COLUMNS)
    assert list(company.employees[0]) == list(EMPLOYEE_COLUMNS)


def test_identifiers_well_formed_and_unique(company) -> None:
    emps = company.employees
    assert [e["employee_id"] for e in emps] == [f"E{i:05d}" for i in range(1, len(emps) + 1)]
    for key in ("email", "ssn", "phone", "iban"):
        values = [e[key] for e in emps]
        assert len(set(values)) == len(values), key
    domain = company.files.domain
    for e in emps:
        local = re.sub(r"[^a-z]", "", e["first_name"].lower()) + "." + re.sub(r"[^a-z]", "", e["last_name"].lower())
        assert re.fullmatch(re.escape(local) + r"\d*@" + re.escape(domain), e["email"])
        assert re.fullmatch(r"\(\d{3}\) [2-9]\d{2}-\d{4}", e["phone"])
        assert re.fullmatch(r"\(\d{3}\) [2-9]\d{2}-\d{4}", e["emergency_contact_phone"])
        assert re.fullmatch(r"[A-Z]{2}", e["state"]) and re.fullmatch(r"\d{5}", e["zip"])
        assert re.match(r"\d+ \S", e["home_address"])


def test_ssn_rules(company) -> None:
    for e in company.employees:
        area, group, serial = e["ssn"].split("-")
        assert len(area) == 3 and len(group) == 2 and len(serial) == 4
        assert area not in ("000", "666") and not area.startswith("9")
        assert group != "00" and serial != "0000"
        assert ssn_is_valid(e["ssn"])


def test_iban_mod97(company) -> None:
    countries = Counter()
    for e in company.employees:
        assert _iban_ok(e["iban"]) and iban_checksum_ok(e["iban"])
        countries[e["iban"][:2]] += 1
        assert {"DE": 22, "GB": 22, "FR": 27, "NL": 18}[e["iban"][:2]] == len(e["iban"])
    assert len(countries) >= 3


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_generators_always_valid(seed: int) -> None:
    import random

    rng = random.Random(seed)
    assert ssn_is_valid(make_ssn(rng))
    iban = make_iban(rng)
    assert _iban_ok(iban)
    assert not iban_checksum_ok(iban[:-1] + str((int(iban[-1]) + 1) % 10))


def test_ages_and_hire_dates(company) -> None:
    for e in company.employees:
        dob, hire = D(e["date_of_birth"]), D(e["hire_date"])
        age = TODAY.year - dob.year - ((TODAY.month, TODAY.day) < (dob.month, dob.day))
        assert 20 <= age <= 66
        try:
            eighteen = dob.replace(year=dob.year + 18)
        except ValueError:
            eighteen = dt.date(dob.year + 18, 3, 1)
        assert eighteen < hire <= TODAY


def _check_tree(emps: list[dict]) -> None:
    by_id = {e["employee_id"]: e for e in emps}
    ceos = [e for e in emps if e["manager_id"] == ""]
    assert len(ceos) == 1
    ceo = ceos[0]
    assert ceo["job_title"] == CEO_TITLE and ceo["department"] == EXECUTIVE
    head_depts = []
    for e in emps:
        if e is ceo:
            continue
        assert e["manager_id"] in by_id and e["manager_id"] != e["employee_id"]
        boss = by_id[e["manager_id"]]
        if boss is ceo:
            head_depts.append(e["department"])
            assert e["job_title"] == DEPARTMENTS[e["department"]]["head"]
        else:
            assert boss["department"] == e["department"]
        # no cycles: walking up always reaches the CEO
        seen, cur = set(), e
        while cur["manager_id"]:
            assert cur["employee_id"] not in seen
            seen.add(cur["employee_id"])
            cur = by_id[cur["manager_id"]]
        assert cur is ceo
    assert len(head_depts) == len(set(head_depts)) >= 2


def test_manager_tree(company, big_company, small_company) -> None:
    for co in (company, big_company, small_company):
        _check_tree(co.employees)


def test_titles_match_departments_and_pay_follows_seniority(big_company) -> None:
    level_of = {}
    for dept, info in DEPARTMENTS.items():
        level_of[(dept, info["head"])] = "head"
        for lvl in ("manager", "senior", "mid", "junior"):
            for t in info[lvl]:
                level_of[(dept, t)] = lvl
    pay: dict[str, list[int]] = defaultdict(list)
    emps = big_company.employees
    ceo = next(e for e in emps if not e["manager_id"])
    for e in emps:
        if e is ceo:
            continue
        lvl = level_of[(e["department"], e["job_title"])]  # KeyError = title not of its department
        pay[lvl].append(e["salary"])
        assert e["salary"] < ceo["salary"]
        assert 1 <= e["performance_rating"] <= 5 and 0 <= e["bonus"] < e["salary"]
    medians = [median(pay[lvl]) for lvl in ("junior", "mid", "senior", "manager", "head")]
    assert medians == sorted(medians)
    heads = {e["department"]: e for e in emps if e["manager_id"] == ceo["employee_id"]}
    for e in emps:
        if e is not ceo and e is not heads[e["department"]]:
            assert e["salary"] < heads[e["department"]]["salary"]


def test_names_realistic_mix(big_company) -> None:
    emps = big_company.employees
    firsts = Counter(e["first_name"] for e in emps)
    assert any(c > 1 for c in firsts.values()), "some first names repeat"
    word_names = [e for e in emps if e["first_name"] in COMMON_WORD_NAMES or e["last_name"] in COMMON_WORD_NAMES]
    assert 0 < len(word_names) < 0.2 * len(emps)
    full = {f"{e['first_name']} {e['last_name']}".lower() for e in emps}
    assert len(full) == len(emps)
    for e in emps:
        assert e["emergency_contact_name"].lower() not in full
        assert e["emergency_contact_relation"] in RELATIONS
        if e["emergency_contact_relation"] == "spouse":
            assert e["marital_status"] == "Married"


def test_leave_consistent_with_employees(company, big_company) -> None:
    for co in (company, big_company):
        emps = {e["employee_id"]: e for e in co.employees}
        days: Counter[str] = Counter()
        medical: set[str] = set()
        periods: dict[str, list[tuple[dt.date, dt.date]]] = defaultdict(list)
        ids = [r["leave_id"] for r in co.leave]
        assert ids == [f"L{i:06d}" for i in range(1, len(ids) + 1)]
        for r in co.leave:
            s, t = D(r["start_date"]), D(r["end_date"])
            e = emps[r["employee_id"]]
            assert r["leave_type"] in LEAVE_TYPES
            assert D(e["hire_date"]) < s <= t <= TODAY
            assert s.weekday() < 5 and t.weekday() < 5
            n = sum(1 for k in range((t - s).days + 1) if (s + dt.timedelta(days=k)).weekday() < 5)
            days[r["employee_id"]] += n
            if r["leave_type"] == "medical":
                assert r["medical"]
            if r["leave_type"] in ("annual", "parental", "bereavement", "unpaid"):
                assert not r["medical"]
            if r["medical"]:
                medical.add(r["employee_id"])
            periods[r["employee_id"]].append((s, t))
        for eid, e in emps.items():
            assert e["leave_days_taken"] == days[eid]
            assert e["medical_leave"] == (eid in medical)
            ps = sorted(periods[eid])
            assert all(a[1] < b[0] for a, b in itertools.pairwise(ps)), "leave periods overlap"
        assert {r["leave_type"] for r in co.leave} >= {"annual", "sick"}
        assert any(e["medical_leave"] for e in emps.values())


@pytest.mark.parametrize("key", ["gender", "ethnicity", "marital_status", "department"])
def test_categorical_columns_vary(big_company, key: str) -> None:
    assert len({e[key] for e in big_company.employees}) >= 3
