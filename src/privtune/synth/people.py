"""The employees of the synthetic company: org tree, identities, pay and next of kin.

:func:`make_employees` returns :class:`Employee` records whose table fields follow
:data:`~privtune.synth.vocab.EMPLOYEE_COLUMNS`; a few extra attributes (level, the relative's
gender) are kept for the text generators and never written to the tables. ``leave_days_taken``
and ``medical_leave`` are filled in later from the leave records.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from faker import Faker

from privtune.synth import identifiers as ids
from privtune.synth.vocab import (
    CEO_TITLE,
    COMMON_WORD_FIRST_NAMES_F,
    COMMON_WORD_FIRST_NAMES_M,
    COMMON_WORD_LAST_NAMES,
    DEPARTMENTS,
    EMPLOYEE_COLUMNS,
    ETHNICITIES,
    EXECUTIVE,
    GENDERS,
    LEVELS,
    TODAY,
)

#: Age range (inclusive, on TODAY) by level.
_AGES = {
    "junior": (20, 34),
    "mid": (23, 55),
    "senior": (27, 62),
    "manager": (30, 64),
    "head": (35, 65),
    "ceo": (40, 66),
}
_RATING_WEIGHTS = (0.04, 0.14, 0.45, 0.27, 0.10)
_BONUS_BY_RATING = {1: 0.0, 2: 0.5, 3: 1.0, 4: 1.25, 5: 1.5}
_DEPT_WEIGHTS = {"Engineering": 5, "Sales": 4, "Customer Support": 4, "Operations": 3}
COMMON_WORD_RATE = 0.04
DUPLICATE_FIRST_RATE = 0.04


@dataclass
class Employee:
    """One employee: the table row plus generator-only attributes."""

    employee_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    ssn: str
    date_of_birth: dt.date
    gender: str
    ethnicity: str
    marital_status: str
    home_address: str
    city: str
    state: str
    zip: str
    hire_date: dt.date
    department: str
    job_title: str
    manager_id: str
    salary: int
    bonus: int
    performance_rating: int
    leave_days_taken: int
    medical_leave: bool
    iban: str
    emergency_contact_name: str
    emergency_contact_relation: str
    emergency_contact_phone: str
    # generator-only
    level: str = ""
    relative_first: str = ""
    relative_last: str = ""
    relative_gender: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def row(self) -> dict[str, Any]:
        """The table row, columns in :data:`EMPLOYEE_COLUMNS` order, dates as ISO strings."""
        out: dict[str, Any] = {}
        for col in EMPLOYEE_COLUMNS:
            v = getattr(self, col)
            out[col] = v.isoformat() if isinstance(v, dt.date) else v
        return out


def _weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _years_before(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year - years)
    except ValueError:  # Feb 29
        return d.replace(year=d.year - years, day=28)


def _years_after(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # Feb 29 -> Mar 1
        return dt.date(d.year + years, 3, 1)


def age_on(dob: dt.date, day: dt.date) -> int:
    """Completed years of age on ``day``."""
    return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


def _org_plan(n: int, rng: random.Random) -> list[tuple[str, str, int, int]]:
    """(department, level, slot, boss_slot) for each of n people; slot 0 is the CEO.

    Department heads report to the CEO, managers to their head, others to a manager of their
    department (or the head where there is none): a tree by construction.
    """
    n_depts = min(len(DEPARTMENTS), max(2, (n - 1) // 8))
    depts = list(DEPARTMENTS)[:n_depts]
    plan: list[tuple[str, str, int, int]] = [(EXECUTIVE, "ceo", 0, -1)]
    heads: dict[str, int] = {}
    for d in depts:
        heads[d] = len(plan)
        plan.append((d, "head", len(plan), 0))
    staff: dict[str, int] = dict.fromkeys(depts, 0)
    weights = [_DEPT_WEIGHTS.get(d, 2) for d in depts]
    for _ in range(n - len(plan)):
        staff[rng.choices(depts, weights=weights)[0]] += 1
    for d in depts:
        m = staff[d]
        n_mgr = m // 8
        managers = []
        for _ in range(n_mgr):
            managers.append(len(plan))
            plan.append((d, "manager", len(plan), heads[d]))
        for _ in range(m - n_mgr):
            level = rng.choices(("junior", "mid", "senior"), weights=(0.25, 0.45, 0.30))[0]
            boss = rng.choice(managers) if managers else heads[d]
            plan.append((d, level, len(plan), boss))
    return plan


class _Unique:
    """Draw values until one is new."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def __call__(self, make: Any) -> str:
        while True:
            v = make()
            if v not in self.seen:
                self.seen.add(v)
                return v


def _street(fake: Faker, rng: random.Random) -> str:
    line = f"{rng.randint(1, 9899)} {fake.street_name()}"
    if rng.random() < 0.22:
        line += f" {rng.choice(('Apt.', 'Unit', 'Suite'))} {rng.randint(1, 40) * 10 + rng.randint(0, 9)}"
    return line


def _first_name(fake: Faker, rng: random.Random, gender: str) -> str:
    if gender == "Non-binary":
        gender = rng.choice(("Female", "Male"))
    if rng.random() < COMMON_WORD_RATE:
        pool = COMMON_WORD_FIRST_NAMES_F if gender == "Female" else COMMON_WORD_FIRST_NAMES_M
        return rng.choice(pool)
    return fake.first_name_female() if gender == "Female" else fake.first_name_male()


def _last_name(fake: Faker, rng: random.Random) -> str:
    if rng.random() < COMMON_WORD_RATE:
        return rng.choice(COMMON_WORD_LAST_NAMES)
    return fake.last_name()


def _marital(rng: random.Random, age: int) -> str:
    if age < 25:
        w = (0.8, 0.12, 0.08, 0.0, 0.0)
    elif age < 40:
        w = (0.38, 0.45, 0.1, 0.07, 0.0)
    else:
        w = (0.18, 0.55, 0.07, 0.15, 0.05)
    return rng.choices(("Single", "Married", "Domestic partnership", "Divorced", "Widowed"), weights=w)[0]


def _relation(rng: random.Random, marital: str, age: int) -> str:
    if marital == "Married" and rng.random() < 0.9:
        return "spouse"
    if marital == "Domestic partnership" and rng.random() < 0.9:
        return "partner"
    options = ["sister", "brother"] + (["mother", "father"] if age < 60 else []) + (["daughter", "son"] if age > 42 else [])
    return rng.choice(options)


def _relative_gender(rng: random.Random, relation: str, own_gender: str) -> str:
    if relation in ("mother", "sister", "daughter"):
        return "Female"
    if relation in ("father", "brother", "son"):
        return "Male"
    if own_gender in ("Female", "Male") and rng.random() < 0.88:
        return "Male" if own_gender == "Female" else "Female"
    return rng.choice(("Female", "Male"))


def make_employees(n: int, fake: Faker, rng: random.Random, domain: str) -> list[Employee]:
    """Generate ``n`` consistent employees; ids are given in hire-date order."""
    plan = _org_plan(n, rng)
    founded = dt.date(rng.randint(1998, 2014), rng.randint(1, 12), 1)
    hq_state = rng.choice(("CA", "NY", "TX", "IL", "WA", "MA", "CO", "GA", "NC", "OR"))
    ssns, phones, ibans, emails, names = _Unique(), _Unique(), _Unique(), _Unique(), _Unique()
    first_by_gender: dict[str, list[str]] = {"Female": [], "Male": [], "Non-binary": []}
    people: list[Employee] = []
    for dept, level, _slot, _boss in plan:
        gender = _weighted(rng, GENDERS)
        amin, amax = _AGES[level]
        age = rng.randint(amin, amax)
        dob = ids.random_date(rng, _years_before(TODAY, age + 1) + dt.timedelta(days=1), _years_before(TODAY, age))
        # names: a few reused first names, a few that are ordinary words; full names unique
        def _name(gender: str = gender) -> str:
            pool = first_by_gender[gender]
            if pool and rng.random() < DUPLICATE_FIRST_RATE:
                first = rng.choice(pool)
            else:
                first = _first_name(fake, rng, gender)
            return f"{first}\t{_last_name(fake, rng)}"

        first, last = names(_name).split("\t")
        first_by_gender[gender].append(first)
        local = ids.email_local(first, last)
        email = emails(lambda local=local: local if local not in emails.seen else f"{local}{rng.randint(2, 99)}")
        # dates: hired after the 18th birthday (and after the founding), never after TODAY
        earliest = max(founded, _years_after(dob, 18) + dt.timedelta(days=rng.randint(1, 900)))
        if level == "junior":
            earliest = max(earliest, _years_before(TODAY, 4))
        if level == "ceo":
            hire = min(TODAY, max(founded, earliest))
        else:
            span = max(0, (TODAY - earliest).days)
            skew = 1.6 if level in ("head", "manager") else 0.8  # leaders hired earlier
            hire = earliest + dt.timedelta(days=int(span * (rng.random() ** skew)))
        hire = min(hire, TODAY)
        # job and pay
        info = DEPARTMENTS.get(dept, {})
        if level == "ceo":
            title, mult = CEO_TITLE, 1.0
        elif level == "head":
            title, mult = str(info["head"]), float(info["pay"])  # type: ignore[arg-type]
        else:
            title, mult = rng.choice(info[level]), float(info["pay"])  # type: ignore[arg-type]
        lo, hi, target = LEVELS[level]
        tenure = (TODAY - hire).days / 365.25
        salary = round(rng.uniform(lo, hi) * mult * (1 + min(tenure, 15) * 0.006) / 500.0) * 500
        rating = rng.choices((1, 2, 3, 4, 5), weights=_RATING_WEIGHTS)[0]
        bonus = round(salary * target * _BONUS_BY_RATING[rating] * rng.uniform(0.85, 1.15) / 100.0) * 100
        state = hq_state if rng.random() < 0.65 else fake.state_abbr(include_territories=False, include_freely_associated_states=False)
        marital = _marital(rng, age)
        relation = _relation(rng, marital, age)
        people.append(
            Employee(
                employee_id="",
                first_name=first,
                last_name=last,
                email=f"{email}@{domain}",
                phone=phones(lambda: ids.make_phone(rng)),
                ssn=ssns(lambda: ids.make_ssn(rng)),
                date_of_birth=dob,
                gender=gender,
                ethnicity=_weighted(rng, ETHNICITIES),
                marital_status=marital,
                home_address=_street(fake, rng),
                city=fake.city(),
                state=state,
                zip=fake.zipcode_in_state(state),
                hire_date=hire,
                department=dept,
                job_title=title,
                manager_id="",
                salary=salary,
                bonus=bonus,
                performance_rating=rating,
                leave_days_taken=0,
                medical_leave=False,
                iban=ibans(lambda: ids.make_iban(rng)),
                emergency_contact_name="",
                emergency_contact_relation=relation,
                emergency_contact_phone="",
                level=level,
                relative_gender=_relative_gender(rng, relation, gender),
            )
        )
    _ensure_duplicate_first_name(people, rng)
    employee_names = {p.full_name.lower() for p in people}
    for p in people:
        _add_relative(p, fake, rng, employee_names, phones)
    # ids in hire order (ties by plan order), then wire the managers
    order = sorted(range(len(people)), key=lambda i: (people[i].hire_date, i))
    for rank, i in enumerate(order, start=1):
        people[i].employee_id = f"E{rank:05d}"
    for (_d, _l, _slot, boss), p in zip(plan, people):
        p.manager_id = people[boss].employee_id if boss >= 0 else ""
    return sorted(people, key=lambda p: p.employee_id)


def _ensure_duplicate_first_name(people: list[Employee], rng: random.Random) -> None:
    """Guarantee at least one shared first name in companies of ten or more."""
    firsts = [p.first_name for p in people]
    if len(people) < 10 or len(set(firsts)) < len(firsts):
        return
    src = people[1]
    full_names = {q.full_name for q in people}
    for p in people[2:]:
        if p.gender == src.gender and f"{src.first_name} {p.last_name}" not in full_names:
            local = ids.email_local(src.first_name, p.last_name)
            if any(q.email.startswith(local + "@") for q in people):
                continue
            p.first_name = src.first_name
            p.email = f"{local}@{p.email.partition('@')[2]}"
            return


def _add_relative(p: Employee, fake: Faker, rng: random.Random, employee_names: set[str], phones: _Unique) -> None:
    """Fill the emergency contact: a relative who is not an employee."""
    share = 0.6 if p.emergency_contact_relation in ("spouse", "partner") else 0.75
    while True:
        first = fake.first_name_female() if p.relative_gender == "Female" else fake.first_name_male()
        last = p.last_name if rng.random() < share else fake.last_name()
        if f"{first} {last}".lower() not in employee_names and first != p.first_name:
            break
    p.relative_first, p.relative_last = first, last
    p.emergency_contact_name = f"{first} {last}"
    p.emergency_contact_phone = phones(lambda: ids.make_phone(rng))
