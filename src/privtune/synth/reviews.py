"""Performance reviews (2025-H2) written by each employee's manager, with planted PII.

Each review is 2-6 sentences: an opening that names the employee, then a random mix of
achievements, areas to improve, the manager, a relative, leave dates, pay, bank and contact
details. The tone follows the employee's rating; the facts (dates, amounts, identifiers) are
the employee's own, so texts and tables agree.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

from privtune.synth import planting as P
from privtune.synth.leave import LeaveRecord
from privtune.synth.people import Employee
from privtune.synth.textbuild import Span, TextBuilder, mention, pronouns, refer
from privtune.synth.vocab import REVIEW_PERIOD

_TONE = {
    1: ("a difficult", "did not meet expectations"),
    2: ("an uneven", "partly met expectations"),
    3: ("a solid", "met expectations"),
    4: ("a strong", "exceeded expectations"),
    5: ("an outstanding", "far exceeded expectations"),
}

_WINS = {
    "Engineering": ["led the migration of the billing service", "cut the build time of the main pipeline in half", "shipped the new reporting API", "reduced on-call incidents"],
    "Sales": ["closed two enterprise deals", "grew the regional pipeline", "renewed our largest account", "onboarded a new partner channel"],
    "Finance": ["closed the quarter on time", "automated the expense reconciliation", "prepared the audit files without findings", "rebuilt the payroll forecast"],
    "Human Resources": ["ran the open enrollment period", "shortened time to hire", "rolled out the new onboarding checklist", "handled a complex leave case with care"],
    "Marketing": ["launched the spring campaign", "doubled newsletter sign-ups", "rebuilt the product pages", "organised the customer conference"],
    "Operations": ["moved the office without downtime", "renegotiated two vendor contracts", "cut shipping delays", "introduced the new procurement process"],
    "Customer Support": ["kept first response time under two hours", "trained the new support agents", "wrote the knowledge base for the new release", "raised customer satisfaction scores"],
    "Legal": ["reviewed all vendor contracts on time", "led the data protection assessment", "updated the code of conduct", "settled a long-running dispute"],
    "Executive": ["set the company strategy for 2026", "closed the funding round"],
}
_IMPROVE = [
    "should delegate more and document decisions",
    "needs to communicate blockers earlier",
    "should take more ownership of cross-team work",
    "could improve estimates and planning",
    "should share knowledge with newer colleagues",
    "needs to keep stakeholders informed of deadlines",
]


@dataclass
class _Ctx:
    e: Employee
    m: Employee
    leaves: list[LeaveRecord]
    rng: random.Random


def _opening(b: TextBuilder, c: _Ctx) -> None:
    e, rng = c.e, c.rng
    adj, verdict = _TONE[e.performance_rating]
    k = rng.randrange(4)
    if k == 0:
        mention(b, rng, P.person_of(e))
        b.add(f" had {adj} second half of 2025 in the {e.department} team.")
    elif k == 1:
        b.add("This review covers ")
        mention(b, rng, P.person_of(e), possessive=True)
        b.add(f" work as {e.job_title} during {REVIEW_PERIOD}; overall {pronouns(e.gender)[0]} {verdict}.")
    elif k == 2:
        b.add("Review for ")
        mention(b, rng, P.person_of(e), allow_first_only=False)
        b.add(" (")
        P.plant_eid(b, e)
        b.add(f"), {e.job_title}, {e.department}: {verdict}.")
    else:
        b.add(f"Over {REVIEW_PERIOD}, ")
        mention(b, rng, P.person_of(e))
        b.add(f" {verdict} as {e.job_title}.")


def _wins(b: TextBuilder, c: _Ctx) -> None:
    subj = pronouns(c.e.gender)[0]
    win = c.rng.choice(_WINS.get(c.e.department, _WINS["Operations"]))
    if c.rng.random() < 0.5:
        refer(b, c.rng, P.person_of(c.e), start=True)
        b.add(f" {win} and mentored {c.rng.randint(2, 6)} people.")
    else:
        b.add(f"{P.cap(subj)} {win}.")


def _improve(b: TextBuilder, c: _Ctx) -> None:
    b.add("Going forward, ")
    refer(b, c.rng, P.person_of(c.e))
    b.add(f" {c.rng.choice(_IMPROVE)}.")


def _manager(b: TextBuilder, c: _Ctx) -> None:
    rng = c.rng
    if rng.random() < 0.5:
        mention(b, rng, P.person_of(c.m), allow_first_only=False)
        b.add(" met with ")
        refer(b, rng, P.person_of(c.e), case="obj")
        b.add(" on ")
        P.plant_date(b, rng, dt.date(2026, 1, 1) + dt.timedelta(days=rng.randint(5, 40)))
        b.add(" to agree goals for 2026.")
    else:
        b.add("As ")
        refer(b, rng, P.person_of(c.e), case="poss")
        b.add(" manager, I (")
        mention(b, rng, P.person_of(c.m), allow_first_only=False)
        b.add(") support the rating.")


def _relative(b: TextBuilder, c: _Ctx) -> None:
    e, rng = c.e, c.rng
    poss = pronouns(e.gender)[2]
    b.add(f"{P.cap(poss)} {P.relation_word(e)} ")
    mention(b, rng, P.relative_of(e), allow_first_only=False)
    b.add(rng.choice((" was in hospital", " was seriously ill", " had surgery")))
    long = [r for r in c.leaves if r.leave_type in ("medical", "sick", "unpaid", "annual")]
    if long and rng.random() < 0.7:
        r = rng.choice(long)
        b.add(", and ")
        refer(b, rng, P.person_of(e))
        b.add(" took leave from ")
        P.plant_date(b, rng, r.start_date)
        b.add(" to ")
        P.plant_date(b, rng, r.end_date)
    b.add("; the team covered well.")


def _leave(b: TextBuilder, c: _Ctx) -> None:
    rng = c.rng
    in_period = [r for r in c.leaves if r.start_date.year == 2025]
    r = rng.choice(in_period or c.leaves)
    refer(b, rng, P.person_of(c.e), start=True)
    b.add(f" was on {r.leave_type} leave from ")
    P.plant_date(b, rng, r.start_date)
    b.add(" to ")
    P.plant_date(b, rng, r.end_date)
    b.add(f" ({r.days} days), which delayed one project.")


def _pay(b: TextBuilder, c: _Ctx) -> None:
    e, rng = c.e, c.rng
    k = rng.randrange(3)
    if k == 0:
        b.add("I recommend raising ")
        refer(b, rng, P.person_of(e), case="poss")
        b.add(" salary from ")
        P.plant_money(b, rng, e.salary)
        b.add(" to ")
        P.plant_money(b, rng, round(e.salary * (1 + 0.01 * e.performance_rating) / 500) * 500)
        b.add(".")
    elif k == 1:
        b.add(f"The {REVIEW_PERIOD} bonus of ")
        P.plant_money(b, rng, max(e.bonus, 500))
        b.add(" is approved for ")
        refer(b, rng, P.person_of(e), case="obj")
        b.add(".")
    else:
        b.add("At ")
        P.plant_hourly(b, e.salary)
        b.add(", ")
        refer(b, rng, P.person_of(e), case="poss")
        b.add(" overtime for the release weekend will be paid in March.")


def _bank(b: TextBuilder, c: _Ctx) -> None:
    b.add("Payroll: please pay the bonus to the new account ")
    P.plant_iban(b, c.rng, c.e.iban)
    b.add(" as requested by ")
    refer(b, c.rng, P.person_of(c.e), case="obj")
    b.add(".")


def _contact(b: TextBuilder, c: _Ctx) -> None:
    e, rng = c.e, c.rng
    refer(b, rng, P.person_of(e), start=True)
    b.add(" can be reached at ")
    P.plant_phone(b, rng, e.phone)
    b.add(" or ")
    P.plant_email(b, rng, e.email)
    b.add(" during the rotation.")


def _ssn_and_dates(b: TextBuilder, c: _Ctx) -> None:
    e, rng = c.e, c.rng
    if rng.random() < 0.5:
        b.add("HR verified ")
        refer(b, rng, P.person_of(e), case="poss")
        b.add(" SSN ")
        P.plant_ssn(b, rng, e.ssn)
        b.add(" and date of birth ")
        P.plant_date(b, rng, e.date_of_birth)
        b.add(" for the benefits file.")
    else:
        mention(b, rng, P.person_of(e))
        b.add(", employee ")
        P.plant_eid(b, e)
        b.add(", has been with us since ")
        P.plant_date(b, rng, e.hire_date)
        b.add(".")


def _address(b: TextBuilder, c: _Ctx) -> None:
    refer(b, c.rng, P.person_of(c.e), start=True)
    b.add(" moved to ")
    P.plant_address(b, c.rng, c.e)
    b.add(f" and now works from the office {c.rng.randint(2, 4)} days a week.")


_BODY: list[Callable[[TextBuilder, _Ctx], None]] = [
    _wins, _improve, _manager, _relative, _pay, _bank, _contact, _ssn_and_dates, _address,
]  # fmt: skip


def make_review(rid: str, e: Employee, manager: Employee, leaves: list[LeaveRecord], rng: random.Random) -> tuple[dict, list[Span]]:
    """One review record and its spans."""
    c = _Ctx(e, manager, leaves, rng)
    body = list(_BODY) + ([_leave] if leaves else [])
    n_body = rng.choices((1, 2, 3, 4, 5), weights=(2, 4, 4, 3, 1))[0]
    b = TextBuilder()
    _opening(b, c)
    for part in rng.sample(body, n_body):
        b.sentence_break()
        part(b, c)
    text, spans = b.build()
    record = {
        "id": rid,
        "employee_id": e.employee_id,
        "reviewer_id": manager.employee_id,
        "period": REVIEW_PERIOD,
        "rating": e.performance_rating,
        "text": text,
    }
    return record, spans


def make_reviews(employees: list[Employee], leave: list[LeaveRecord], rng: random.Random) -> list[tuple[dict, list[Span]]]:
    """A review for every employee who has a manager (everyone but the CEO)."""
    by_id = {e.employee_id: e for e in employees}
    leaves_of: dict[str, list[LeaveRecord]] = {}
    for r in leave:
        leaves_of.setdefault(r.employee_id, []).append(r)
    out: list[tuple[dict, list[Span]]] = []
    for e in employees:
        if not e.manager_id:
            continue
        rid = f"R{len(out) + 1:06d}"
        out.append(make_review(rid, e, by_id[e.manager_id], leaves_of.get(e.employee_id, []), rng))
    return out
