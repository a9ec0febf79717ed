"""Plant identifiers (in a random written form) and decoys into a :class:`TextBuilder`.

Shared by the review and ticket generators. Each ``plant_*`` appends exactly one labelled span;
:func:`plant_decoy` appends look-alike strings that are *not* personal data and get no span.
"""

from __future__ import annotations

import datetime as dt
import random

from privtune.synth import identifiers as ids
from privtune.synth.people import Employee
from privtune.synth.textbuild import Person, TextBuilder

#: Kinds of decoys; each has a regex in ``vocab.DECOY_PATTERNS``.
DECOY_KINDS: tuple[str, ...] = ("order", "incident", "version", "count_days", "count_people")


def person_of(e: Employee) -> Person:
    return Person(e.first_name, e.last_name, e.gender)


def relative_of(e: Employee) -> Person:
    return Person(e.relative_first, e.relative_last, e.relative_gender)


def relation_word(e: Employee) -> str:
    """``husband``/``wife``/``partner``/``mother``... as one would write it."""
    rel = e.emergency_contact_relation
    if rel == "spouse":
        return {"Female": "wife", "Male": "husband"}.get(e.relative_gender, "spouse")
    return rel


def plant_email(b: TextBuilder, rng: random.Random, email: str) -> None:
    b.pii(rng.choice(ids.email_forms(email)), "EMAIL")


def plant_phone(b: TextBuilder, rng: random.Random, phone: str) -> None:
    b.pii(rng.choice(ids.phone_forms(phone)), "PHONE")


def plant_ssn(b: TextBuilder, rng: random.Random, ssn: str) -> None:
    b.pii(rng.choices(ids.ssn_forms(ssn), weights=(5, 2, 2))[0], "SSN")


def plant_iban(b: TextBuilder, rng: random.Random, iban: str) -> None:
    b.pii(rng.choice(ids.iban_forms(iban)), "IBAN")


def plant_date(b: TextBuilder, rng: random.Random, d: dt.date) -> None:
    b.pii(rng.choice(ids.date_forms(d)), "DATE")


def plant_money(b: TextBuilder, rng: random.Random, amount: int) -> None:
    b.pii(rng.choice(ids.money_forms(amount)), "MONEY")


def plant_hourly(b: TextBuilder, amount_per_year: int) -> None:
    """``$42.50/hour``: the span is ``$42.50``; the rate unit stays outside."""
    b.pii(ids.hourly(amount_per_year), "MONEY").add("/hour")


def plant_eid(b: TextBuilder, e: Employee) -> None:
    b.pii(e.employee_id, "EMPLOYEE_ID")


def plant_address(b: TextBuilder, rng: random.Random, e: Employee) -> None:
    """The street line alone, or the full ``street, City, ST 12345`` as one span."""
    if rng.random() < 0.5:
        b.pii(e.home_address, "ADDRESS")
    else:
        b.pii(f"{e.home_address}, {e.city}, {e.state} {e.zip}", "ADDRESS")


def plant_decoy(b: TextBuilder, rng: random.Random, kind: str) -> None:
    """A sentence with a string that looks like an identifier but is not personal data."""
    if kind == "order":
        b.add(rng.choice(("This is related to order #{}.", "The equipment came with order #{}.")).format(rng.randint(10000, 99999)))
    elif kind == "incident":
        b.add(rng.choice(("See also INC-{}.", "IT already opened INC-{} for this.")).format(rng.randint(10000, 99999)))
    elif kind == "version":
        v = f"v{rng.randint(1, 9)}.{rng.randint(0, 12)}.{rng.randint(0, 20)}"
        b.add(rng.choice(("The portal shows version {}.", "I am on app {} on my laptop.")).format(v))
    elif kind == "count_days":
        b.add(rng.choice(("This has been going on for {} days.", "I have {} days of leave left.")).format(rng.randint(2, 30)))
    else:
        b.add(rng.choice(("This affects {} people in my team.", "We were {} people in the meeting.")).format(rng.randint(2, 40)))


def cap(word: str) -> str:
    """Capitalise the first letter (pronouns at sentence start)."""
    return word[:1].upper() + word[1:]
