"""The synthesiser's domain is fixed before any value is read: from the schema roles, public
bounds and the user's confirmed domain file; the same inputs give the same domain, whatever
the rows hold; identifiers are never synthesised; values outside the domain never become new
values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from privtune.dpsynth import domain as dom
from privtune.errors import ConfigError, InputError

COLUMNS = ["employee_id", "first_name", "email", "gender", "department", "salary",
           "hire_date", "date_of_birth", "performance_rating", "notes"]
ROLES = {"employee_id": "employee_id", "first_name": "first_name", "email": "email",
         "gender": "gender", "department": "department", "salary": "salary",
         "hire_date": "hire_date", "date_of_birth": "date_of_birth",
         "performance_rating": "performance_rating", "notes": "free_text"}
CONFIG = {"department": {"values": ["Engineering", "Sales", "Finance"]}}


def _rows(n: int, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    return [{"employee_id": f"E{i:05d}", "first_name": "Ann", "email": "a@b.c",
             "gender": str(rng.choice(["Female", "Male", "Agender"])),
             "department": str(rng.choice(["Engineering", "Sales", "Secret Lab"])),
             "salary": str(int(rng.integers(10_000, 2_000_000))),
             "hire_date": f"{int(rng.integers(1970, 2026))}-03-01",
             "date_of_birth": f"{int(rng.integers(1930, 2005))}-07-09",
             "performance_rating": str(int(rng.integers(1, 6))), "notes": "x"} for i in range(n)]


def test_the_domain_reads_no_value_and_is_deterministic() -> None:
    a = dom.build_domain(COLUMNS, ROLES, CONFIG)
    b = dom.build_domain(list(COLUMNS), dict(ROLES), dict(CONFIG))
    assert a == b and a.describe() == b.describe()
    assert a.names == ("gender", "department", "salary", "hire_date", "date_of_birth",
                       "performance_rating")
    left = dict(a.left_out)
    assert set(left) == {"employee_id", "first_name", "email", "notes"}
    # two different tables: the same domain (it depends on names and roles only)
    codes1 = dom.encode(_rows(200, 1), a)
    codes2 = dom.encode(_rows(50, 2), a)
    assert codes1.shape == (200, 6) and codes2.shape == (50, 6)
    assert (codes1 < np.array(a.shape)).all() and (codes2 < np.array(a.shape)).all()


def test_values_outside_the_domain_fall_into_other_and_bins_are_open() -> None:
    d = dom.build_domain(COLUMNS, ROLES, CONFIG)
    rows = [{"gender": "Agender", "department": "Secret Lab", "salary": "1200000",
             "hire_date": "1950-01-01", "date_of_birth": "", "performance_rating": "9"}]
    codes = dom.encode(rows, d)
    by = dict(zip(d.names, codes[0], strict=True))
    cols = {c.name: c for c in d.columns}
    assert cols["gender"].labels[by["gender"]] == dom.OTHER
    assert cols["department"].labels[by["department"]] == dom.OTHER
    assert cols["salary"].labels[by["salary"]] == ">=400k"      # top bin open
    assert cols["hire_date"].labels[by["hire_date"]] == "<1980"  # bottom bin open
    assert cols["date_of_birth"].labels[by["date_of_birth"]] == dom.MISSING
    # no value of the data is in any label
    labels = {lab for c in d.columns for lab in c.labels}
    assert not {"Agender", "Secret Lab", "1200000"} & labels


def test_decode_gives_fresh_ids_and_band_columns() -> None:
    d = dom.build_domain(COLUMNS, ROLES, CONFIG)
    codes = dom.encode(_rows(3, 3), d)
    out = dom.decode(codes, d, ["SYN-000001", "SYN-000002", "SYN-000003"])
    assert [r["employee_id"] for r in out] == ["SYN-000001", "SYN-000002", "SYN-000003"]
    assert set(out[0]) == {"employee_id", "gender", "department", "salary_band", "hire_year",
                           "birth_year", "performance_rating"}


def test_a_column_without_a_public_domain_is_left_out_until_confirmed() -> None:
    d = dom.build_domain(COLUMNS, ROLES)  # no domain file: departments are not public
    assert "department" not in d.names
    assert "--domains" in dict(d.left_out)["department"]


def test_domain_file(tmp_path: Path) -> None:
    f = tmp_path / "domains.yaml"
    f.write_text("columns:\n  department: {values: [A, B]}\n  salary: {bounds: [0, 100000], "
                 "width: 25000}\n  gender: {drop: true}\n")
    d = dom.build_domain(COLUMNS, ROLES, dom.load_domain_file(f))
    cols = {c.name: c for c in d.columns}
    assert "gender" not in cols
    assert cols["department"].labels == ("A", "B", dom.OTHER, dom.MISSING)
    assert cols["salary"].labels == ("<0k", "0k-25k", "25k-50k", "50k-75k", "75k-100k",
                                     ">=100k", dom.MISSING)


@pytest.mark.parametrize("spec", [
    {"nope": {"values": ["a"]}},                          # a column the table lacks
    {"department": {"values": "Engineering"}},            # not a list
    {"department": {"values": ["A", "A"]}},               # not distinct
    {"salary": {"bounds": [10, 0], "width": 5}},          # lo >= hi
    {"salary": {"bounds": [0, 10_000_000], "width": 1}},  # too many bins
    {"salary": {"width": 5}},                             # neither values nor bounds
    {"salary": {"bounds": [0, 100], "width": 10, "coarse": 5}},   # coarser than the bins
    {"department": {"values": ["A", "B"], "groups": ["A"]}},      # groups: not a mapping
    {"department": {"values": ["A", "B"], "groups": {"x": ["A"], "y": ["A"]}}},  # twice
])
def test_bad_domain_files_are_typed_errors(spec: dict) -> None:
    with pytest.raises(ConfigError):
        dom.build_domain(COLUMNS, ROLES, spec)


def test_too_few_columns_is_an_input_error() -> None:
    with pytest.raises(InputError):
        dom.build_domain(["employee_id", "gender"], {"employee_id": "employee_id",
                                                      "gender": "gender"})


def test_the_demo_domains_are_the_generators_vocabulary() -> None:
    demo = dom.demo_domains()
    assert "Engineering" in demo["department"]["values"]
    assert "Chief Executive Officer" in demo["job_title"]["values"]
    assert len(set(demo["job_title"]["values"])) == len(demo["job_title"]["values"])


def test_public_groups_are_fixed_by_the_schema_and_the_domain_file() -> None:
    """The groups the synthesiser merges rare values within are public: census regions for
    states, runs of adjacent bins, the groups of a domain file; (other) and (missing) stand
    alone; no group comes from the data."""
    cols = {c.name: c for c in dom.build_domain(
        [*COLUMNS, "state"], {**ROLES, "state": "state"},
        {**CONFIG, "department": {"values": ["Eng", "Ops", "QA"],
                                  "groups": {"tech": ["Eng", "QA"]}}}).columns}
    st = cols["state"]
    g = dict(zip(st.labels, st.groups, strict=True))
    assert g["NY"] == g["MA"] != g["CA"] == g["WA"] != g["TX"]
    assert len(set(st.groups)) == 4 + 2                  # four regions, (other), (missing)
    sal = cols["salary"]                                 # 10k bins, 40k groups
    assert len(sal.groups) == sal.size
    assert sal.groups[1] == sal.groups[4] != sal.groups[5]
    assert sal.groups[0] not in sal.groups[1:] and sal.groups[-1] not in sal.groups[:-1]
    assert list(sal.groups) == sorted(sal.groups)       # adjacent bins only
    dep = cols["department"]
    assert dep.groups[0] == dep.groups[2] != dep.groups[1]  # Eng and QA together, Ops alone
    assert len(set(dep.groups)) == 4                     # tech, Ops, (other), (missing)
    assert cols["gender"].groups == ()                   # no public grouping: one group
    demo = dom.build_domain(["department", "job_title"],
                            {"department": "department", "job_title": "job_title"},
                            dom.demo_domains()).columns[1]
    assert demo.groups[demo.labels.index("Software Engineer")] == \
        demo.groups[demo.labels.index("Staff Engineer")]
    assert demo.groups[demo.labels.index("Software Engineer")] != \
        demo.groups[demo.labels.index("Chief Executive Officer")]


@pytest.mark.parametrize(("title", "level"), [
    ("Chief Executive Officer", "executive"), ("CEO", "executive"), ("President", "executive"),
    ("Vice President of Sales", "head"), ("VP of Engineering", "head"),
    ("Chief Financial Officer", "head"), ("Head of People", "head"),
    ("Director of Operations", "head"), ("General Counsel", "head"),
    ("Senior Software Engineer", "senior"), ("Staff Engineer", "senior"),
    ("Sr. Accountant", "senior"), ("Senior Manager", "senior"),
    ("Junior Accountant", "junior"), ("HR Assistant", "junior"),
    ("Accounts Payable Clerk", "junior"), ("Software Engineering Intern", "junior"),
    ("Engineering Manager", "manager"), ("Support Team Lead", "manager"),
    ("Software Engineer", "mid"), ("Paralegal", "mid"), ("Account Executive", "mid"),
])
def test_the_public_title_rule_places_titles_by_their_words(title: str, level: str) -> None:
    assert dom.title_level(title) == level
    assert dom.title_level(title.upper()) == level


TITLES = {"department": {"values": ["Eng", "Ops"]},
          "job_title": {"values": ["Engineer", "Senior Engineer", "Engineering Manager",
                                   "Analyst", "Senior Analyst", "Chief Wizard"],
                        "groups": {"Eng": ["Engineer", "Senior Engineer",
                                           "Engineering Manager"],
                                   "Ops": ["Analyst", "Senior Analyst", "Chief Wizard"]}}}
T_COLUMNS = ["department", "job_title", "salary"]
T_ROLES = {"department": "department", "job_title": "job_title", "salary": "salary"}


def test_the_job_title_hierarchy_is_public_and_deterministic() -> None:
    """A job title with families is modelled by its level, drawn within the department its
    family names: cells from the domain file and the public rule, never from rows."""
    a = dom.build_domain(T_COLUMNS, T_ROLES, TITLES)
    b = dom.build_domain(list(T_COLUMNS), dict(T_ROLES),
                         {k: dict(v) for k, v in TITLES.items()})
    assert a == b
    t = a.columns[1]
    assert t.within == "department"
    cell = dict(zip(t.labels, t.coarse, strict=True))
    assert cell["Engineer"] == cell["Analyst"]                 # mid, any department
    assert cell["Senior Engineer"] == cell["Senior Analyst"] != cell["Engineer"]
    assert len({cell["Engineering Manager"], cell["Chief Wizard"], cell["Engineer"]}) == 3
    # (other) and (missing) are cells of their own
    assert cell[dom.OTHER] not in [cell[v] for v in t.labels[:-2]]
    assert cell[dom.MISSING] not in [cell[v] for v in t.labels if v != dom.MISSING]
    assert a.describe()["columns"]["job_title"] == {
        "out": "job_title", "role": "job_title", "kind": "categorical", "size": 8,
        "modelled_cells": 6, "within": "department"}
    k, group_of = a.structure()["within"][1]
    assert k == 0 and list(group_of) == [0, 0, 0, 1, 1, 1, -1, -1]
    # encoding rows does not touch the hierarchy: the domain is the same object after
    dom.encode([{"department": "Eng", "job_title": "Dragon Tamer", "salary": "50000"}], a)
    assert dom.build_domain(T_COLUMNS, T_ROLES, TITLES) == a


def test_a_title_outside_the_hierarchy_stands_alone() -> None:
    """Fail-safe: a title a level mapping does not place is modelled as itself (never merged
    into a wrong cell); without families the title is kept; 'levels: none' turns it off."""
    mapping = {**TITLES, "job_title": {**TITLES["job_title"],
                                       "levels": {"ic": ["Engineer", "Analyst"],
                                                  "lead": ["Engineering Manager"]}}}
    t = dom.build_domain(T_COLUMNS, T_ROLES, mapping).columns[1]
    cell = dict(zip(t.labels, t.coarse, strict=True))
    assert cell["Engineer"] == cell["Analyst"]
    alone = [cell[v] for v in ("Senior Engineer", "Senior Analyst", "Chief Wizard")]
    assert len(set(alone)) == 3 and not set(alone) & {cell["Engineer"],
                                                      cell["Engineering Manager"]}
    plain = {**TITLES, "job_title": {"values": TITLES["job_title"]["values"]}}
    assert dom.build_domain(T_COLUMNS, T_ROLES, plain).columns[1].coarse == ()
    off = {**TITLES, "job_title": {**TITLES["job_title"], "levels": "none"}}
    assert dom.build_domain(T_COLUMNS, T_ROLES, off).columns[1].coarse == ()
    # families that name no column: modelled by family and level, drawn within nothing
    free = {**TITLES, "job_title": {**TITLES["job_title"], "within": "none"}}
    t = dom.build_domain(T_COLUMNS, T_ROLES, free).columns[1]
    cell = dict(zip(t.labels, t.coarse, strict=True))
    assert t.within is None and cell["Engineer"] != cell["Analyst"]
    assert cell["Senior Engineer"] != cell["Engineer"]


@pytest.mark.parametrize("spec", [
    {"levels": "by magic"},                                   # neither words, none, mapping
    {"levels": {"ic": ["Plumber"]}},                          # a value not in the domain
    {"levels": {"ic": ["Engineer"], "lead": ["Engineer"]}},   # a value in two levels
    {"within": "salary"},                                     # not a categorical column
    {"within": "nope"},                                       # no such column
    {"within": 3},                                            # not a name
])
def test_bad_hierarchies_are_typed_errors(spec: dict) -> None:
    with pytest.raises(ConfigError):
        dom.build_domain(T_COLUMNS, T_ROLES,
                         {**TITLES, "job_title": {**TITLES["job_title"], **spec}})
