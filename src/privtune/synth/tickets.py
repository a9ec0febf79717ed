"""HR tickets: short first-person requests whose content matches their category.

Categories are :data:`~privtune.synth.vocab.TICKET_CATEGORIES`. Each ticket plants the
requester's identifiers in varied forms (labelled) and, often, a decoy such as ``order #48213``,
``INC-20931``, ``v2.3.1``, ``3 days`` or ``12 people`` (never labelled). The first tickets cover
every category and every decoy kind, so even a five-person company has them all.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from privtune.synth import planting as P
from privtune.synth.identifiers import random_date
from privtune.synth.leave import WINDOW_START
from privtune.synth.people import Employee
from privtune.synth.textbuild import Span, TextBuilder, mention
from privtune.synth.vocab import TICKET_CATEGORIES, TODAY


def _payroll(b: TextBuilder, e: Employee, rng: random.Random, other: Employee, now: dt.date) -> None:
    k = rng.randrange(3)
    if k == 0:
        b.add("My payslip for last month shows ")
        P.plant_money(b, rng, int(e.salary * 0.93) // 100 * 100)
        b.add(" a year, but my contract says ")
        P.plant_money(b, rng, e.salary)
        b.add(". Could payroll correct the salary before the next pay run?")
    elif k == 1:
        b.add("Please update my direct deposit: the new account is ")
        P.plant_iban(b, rng, e.iban)
        b.add(". My old bank account will be closed at the end of the month.")
    else:
        b.add("My W-2 has the wrong social security number. The correct SSN is ")
        P.plant_ssn(b, rng, e.ssn)
        b.add(". The overtime rate of ")
        P.plant_hourly(b, e.salary)
        b.add(" was also missing from the payroll run.")


def _leave(b: TextBuilder, e: Employee, rng: random.Random, other: Employee, now: dt.date) -> None:
    start = random_date(rng, now + dt.timedelta(days=10), now + dt.timedelta(days=120))
    kind = rng.choice(("annual leave", "parental leave", "unpaid leave", "sick leave"))
    b.add(f"I would like to request {kind} from ")
    P.plant_date(b, rng, start)
    b.add(" to ")
    P.plant_date(b, rng, start + dt.timedelta(days=rng.randint(3, 20)))
    b.add(". My manager ")
    mention(b, rng, P.person_of(other), allow_first_only=False)
    b.add(" has approved the leave request; please update my leave balance.")


def _benefits(b: TextBuilder, e: Employee, rng: random.Random, other: Employee, now: dt.date) -> None:
    b.add(f"I want to add my {P.relation_word(e)} ")
    mention(b, rng, P.relative_of(e), allow_first_only=False)
    b.add(" to my health insurance and dental plan. ")
    if rng.random() < 0.5:
        b.add("My own date of birth is ")
        P.plant_date(b, rng, e.date_of_birth)
        b.add(" and my SSN is ")
        P.plant_ssn(b, rng, e.ssn)
        b.add(", in case the benefits provider needs them.")
    else:
        b.add("Also, how do I raise my 401(k) contribution during open enrollment?")


def _it_access(b: TextBuilder, e: Employee, rng: random.Random, other: Employee, now: dt.date) -> None:
    b.add("I cannot log in to the VPN and the HR portal; my account ")
    P.plant_email(b, rng, e.email)
    b.add(" is locked. Please reset my password for employee ")
    P.plant_eid(b, e)
    b.add(" and restore access to the payroll system.")


def _relocation(b: TextBuilder, e: Employee, rng: random.Random, other: Employee, now: dt.date) -> None:
    b.add("I am relocating for the new role and will move on ")
    P.plant_date(b, rng, random_date(rng, now + dt.timedelta(days=14), now + dt.timedelta(days=90)))
    b.add(". My new home address is ")
    P.plant_address(b, rng, e)
    b.add(" and my new phone number is ")
    P.plant_phone(b, rng, e.phone)
    b.add(". Is the relocation allowance of ")
    P.plant_money(b, rng, rng.choice((3000, 5000, 7500, 10000)))
    b.add(" paid before the move?")


def _complaint(b: TextBuilder, e: Employee, rng: random.Random, other: Employee, now: dt.date) -> None:
    b.add("I want to file a confidential complaint about the behaviour of ")
    mention(b, rng, P.person_of(other), allow_first_only=False)
    b.add(f" in the {other.department} team during the meeting on ")
    P.plant_date(b, rng, random_date(rng, max(e.hire_date, now - dt.timedelta(days=60)), now))
    b.add(". The comments were inappropriate and I would like HR to investigate the harassment.")


def _onboarding(b: TextBuilder, e: Employee, rng: random.Random, other: Employee, now: dt.date) -> None:
    b.add("Onboarding for ")
    mention(b, rng, P.person_of(e), allow_first_only=False)
    b.add(" (")
    P.plant_eid(b, e)
    b.add(f"), joining as {e.job_title} on ")
    P.plant_date(b, rng, e.hire_date)
    b.add(": please prepare the laptop, the badge and the email account ")
    P.plant_email(b, rng, e.email)
    b.add(". The I-9 and tax forms are still missing.")


def _offboarding(b: TextBuilder, e: Employee, rng: random.Random, other: Employee, now: dt.date) -> None:
    b.add("Offboarding: my last working day will be ")
    P.plant_date(b, rng, random_date(rng, max(now + dt.timedelta(days=14), TODAY + dt.timedelta(days=1)), now + dt.timedelta(days=60)))
    b.add(". Please send the final paycheck and my tax documents to ")
    P.plant_address(b, rng, e)
    b.add(", and tell me where to return the laptop and badge.")


_BODY: dict[str, Callable[[TextBuilder, Employee, random.Random, Employee, dt.date], None]] = {
    "payroll": _payroll,
    "leave": _leave,
    "benefits": _benefits,
    "it_access": _it_access,
    "relocation": _relocation,
    "complaint": _complaint,
    "onboarding": _onboarding,
    "offboarding": _offboarding,
}


def _signature(b: TextBuilder, e: Employee, rng: random.Random, category: str) -> None:
    if category in ("onboarding",):
        b.add("Thanks, the People team.")
        return
    k = rng.randrange(4)
    if k == 0:
        b.add("Thanks, ")
        mention(b, rng, P.person_of(e))
        b.add(".")
    elif k == 1:
        b.add("Best regards, ")
        mention(b, rng, P.person_of(e), allow_first_only=False)
        b.add(", ")
        P.plant_phone(b, rng, e.phone)
    elif k == 2:
        b.add("You can call me on ")
        P.plant_phone(b, rng, e.phone)
        b.add(" or write to ")
        P.plant_email(b, rng, e.email)
        b.add(".")
    else:
        b.add("Thank you.")


def _created_on(rng: random.Random, e: Employee, category: str) -> dt.date:
    """The day the ticket was opened, consistent with what it is about."""
    if category == "onboarding":  # opened by HR one to three weeks before the start date
        return e.hire_date - dt.timedelta(days=rng.randint(7, 21))
    if category == "offboarding":  # the person is still employed on TODAY
        return random_date(rng, max(e.hire_date, TODAY - dt.timedelta(days=30)), TODAY)
    return random_date(rng, max(WINDOW_START, e.hire_date), TODAY)


def _pools(employees: list[Employee]) -> dict[str, list[Employee]]:
    """Who may open a ticket of a category (default: anyone)."""
    recent = [x for x in employees if x.hire_date >= WINDOW_START]
    return {
        "leave": [x for x in employees if x.manager_id],  # "my manager approved": has one
        "onboarding": recent or sorted(employees, key=lambda x: x.hire_date)[-3:],  # new hires
    }


def _someone_else(employees: list[Employee], rng: random.Random, e: Employee) -> Employee:
    while True:
        other = rng.choice(employees)
        if other.employee_id != e.employee_id:
            return other


def make_tickets(employees: list[Employee], rng: random.Random) -> list[tuple[dict, list[Span]]]:
    """About 1.2 tickets per employee (at least one per category)."""
    by_id = {e.employee_id: e for e in employees}
    n = max(len(TICKET_CATEGORIES), round(len(employees) * 1.2))
    pools = _pools(employees)
    out = []
    for i in range(n):
        category = TICKET_CATEGORIES[i] if i < len(TICKET_CATEGORIES) else rng.choice(TICKET_CATEGORIES)
        e = rng.choice(pools.get(category, employees))
        other = by_id[e.manager_id] if category == "leave" else _someone_else(employees, rng, e)
        now = _created_on(rng, e, category)
        created_at = f"{now.isoformat()}T{rng.randint(8, 18):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
        b = TextBuilder()
        _BODY[category](b, e, rng, other, now)
        if i < len(P.DECOY_KINDS) or rng.random() < 0.5:
            b.sentence_break()
            kind = P.DECOY_KINDS[i] if i < len(P.DECOY_KINDS) else rng.choice(P.DECOY_KINDS)
            P.plant_decoy(b, rng, kind)
        b.sentence_break()
        _signature(b, e, rng, category)
        text, spans = b.build()
        record = {"id": f"T{i + 1:06d}", "employee_id": e.employee_id, "category": category, "created_at": created_at, "text": text}
        out.append((record, spans))
    return out
