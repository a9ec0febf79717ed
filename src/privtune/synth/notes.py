"""Labelled free-text notes for the PII detection benchmark and tests.

:func:`make_notes` writes short HR/IT notes about the employees of a company table, mixing
every entity type the detector knows (names of employees in varied forms, people outside the
roster, e-mails, US and international phones, SSNs, payment cards, IBANs, IP addresses, URLs,
dates, money, addresses and PO boxes, employee ids) with decoys that must stay clean (order
numbers, ticket ids, version strings, Luhn-invalid tracking numbers, times, counts, percentages).

Formats vary on purpose (case, spacing, grouping, order of the name parts) so a detector tuned
to one written form fails. People outside the roster come from two sources: Faker names of
several locales (named with or without a context word) and made-up syllable names that no
gazetteer holds (always with an honorific or a context word, as a human writer would give one).
Every span is recorded as it is appended (:class:`~privtune.synth.textbuild.TextBuilder`), so
offsets are exact. Same rows and seed, same notes.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping, Sequence
from typing import Any

import phonenumbers
from faker import Faker

from privtune.synth import identifiers as ids
from privtune.synth.textbuild import Person, Span, TextBuilder, mention
from privtune.synth.vocab import PII_TYPES

NOTE_PII_TYPES: tuple[str, ...] = PII_TYPES + ("CREDIT_CARD", "IP_ADDRESS", "URL")
_LOCALES = ("en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_BR", "en_IN")
_REGIONS = ("GB", "DE", "FR", "ES", "IT", "NL", "IN", "AU", "CH", "SE")
_SYLL = ("ka", "lo", "mir", "zen", "ta", "vu", "rel", "dro", "qui", "sha", "bel", "tor", "nix", "oa", "ym")
_RELATIONS = ("husband", "wife", "partner", "son", "daughter", "mother", "father", "brother", "sister")
_ROLES = ("candidate", "applicant", "reference", "referee", "recruiter", "contractor")
_HONORIFICS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Mr", "Ms", "Dr")
_ISSUERS = (("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15), ("6011", 16), ("65", 16), ("3530", 16))
_DOMAINS = ("intranet.{d}", "hr.{d}", "portal.{d}", "www.linkedin.com", "github.com", "docs.google.com", "calendly.com")


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def make_card(rng: random.Random) -> str:
    """A Luhn-valid card number of a random scheme (Mastercard 2-series included), digits only."""
    prefix, length = rng.choice(_ISSUERS)
    body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    return body + _luhn_digit(body)


def card_forms(card: str) -> list[str]:
    """Grouped by spaces or dashes (4-6-5 for 15-digit Amex), or unspaced."""
    if len(card) == 15:
        groups = [card[:4], card[4:10], card[10:]]
    else:
        groups = [card[i : i + 4] for i in range(0, len(card), 4)]
    return [" ".join(groups), "-".join(groups), card]


def luhn_invalid(rng: random.Random, length: int = 16) -> str:
    """A digit string with an issuer-like prefix whose Luhn check fails (a tracking number)."""
    card = make_card(rng)
    last = str((int(card[-1]) + rng.randint(1, 9)) % 10)
    return card[:-1] + last


def make_intl_phone(rng: random.Random) -> str:
    """A valid non-US phone number in international format (``+44 20 7946 0958`` style)."""
    for _ in range(50):
        region = rng.choice(_REGIONS)
        kind = rng.choice((phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE))
        ex = phonenumbers.example_number_for_type(region, kind)
        if ex is None:
            continue
        nat = str(ex.national_number)
        tail = "".join(str(rng.randint(0, 9)) for _ in range(min(4, len(nat) - 3)))
        num = phonenumbers.parse(f"+{ex.country_code}{nat[: len(nat) - len(tail)]}{tail}", None)
        if phonenumbers.is_valid_number(num):
            fmt = rng.choice((phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164))
            text = phonenumbers.format_number(num, fmt)
            return "00" + text[1:].replace(" ", " ") if rng.random() < 0.15 else text
    return "+44 20 7946 0958"


def make_ipv4(rng: random.Random) -> str:
    first = rng.choice((10, 172, 192, rng.randint(11, 223)))
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def make_ipv6(rng: random.Random) -> str:
    groups = [f"{rng.randint(0, 0xFFFF):x}" for _ in range(8)]
    if rng.random() < 0.5:
        return "2001:db8::" + ":".join(groups[:2])
    return ":".join(groups)


def _syllable_name(rng: random.Random) -> Person:
    word = lambda k: "".join(rng.choice(_SYLL) for _ in range(k)).capitalize()  # noqa: E731
    return Person(word(rng.randint(2, 3)), word(rng.randint(2, 3)), rng.choice(("Female", "Male")))


def _row_person(r: Mapping[str, Any]) -> Person:
    return Person(str(r["first_name"]), str(r["last_name"]), str(r.get("gender") or "Non-binary"))


def make_notes(
    rows: Sequence[Mapping[str, Any]], seed: int, n: int, *, domain: str = "example.com"
) -> list[tuple[dict[str, Any], list[Span]]]:
    """``n`` notes ``({"id", "employee_id", "text"}, spans)`` about randomly chosen employees."""
    rng = random.Random(f"privtune-notes-{seed}")
    fake = Faker(list(_LOCALES))
    fake.seed_instance(seed)
    out = []
    kinds = (_it_note, _expense_note, _recruit_note, _family_note, _contact_note)
    for i in range(n):
        r = rows[rng.randrange(len(rows))]
        b = TextBuilder(NOTE_PII_TYPES)
        rng.choice(kinds)(b, rng, fake, r, domain)
        for _ in range(rng.randint(0, 2)):
            b.sentence_break()
            _decoy(b, rng)
        text, spans = b.build()
        out.append(({"id": f"note-{seed}-{i:05d}", "employee_id": str(r["employee_id"]), "text": text}, spans))
    return out


def _outsider(rng: random.Random, fake: Faker) -> tuple[Person, bool]:
    """(person, needs_cue): Faker locale names, or syllable names unknown to any gazetteer."""
    if rng.random() < 0.3:
        return _syllable_name(rng), True
    return Person(fake.first_name(), fake.last_name(), "Non-binary"), False


def _name_outsider(b: TextBuilder, rng: random.Random, fake: Faker, cue_words: Sequence[str]) -> None:
    p, needs_cue = _outsider(rng, fake)
    style = rng.random()
    if needs_cue or style < 0.7:
        if rng.random() < 0.5:
            b.add(rng.choice(cue_words) + rng.choice((" ", ", ", ": ")))
        else:
            b.add(rng.choice(_HONORIFICS) + " ")
        if rng.random() < 0.3:
            b.pii(p.last, "PERSON")
        else:
            b.pii(p.full, "PERSON")
    else:
        b.pii(p.full, "PERSON")


def _it_note(b: TextBuilder, rng: random.Random, fake: Faker, r: Mapping[str, Any], domain: str) -> None:
    b.add(rng.choice(("Security alert: ", "IT note: ", "Access log: ", "")))
    mention(b, rng, _row_person(r))
    b.add(rng.choice((" logged in from ", " signed in from ", " was seen at ", " connected from ")))
    b.pii(make_ipv6(rng) if rng.random() < 0.25 else make_ipv4(rng), "IP_ADDRESS")
    b.add(rng.choice((" on ", " at ", ", date: ")))
    ids_date = ids.random_date(rng, dt.date(2024, 1, 1), dt.date(2026, 6, 30))
    b.pii(rng.choice(_date_forms(ids_date)), "DATE")
    b.add(". Details: ")
    host = rng.choice(_DOMAINS).format(d=domain)
    path = rng.choice(("/users/" + str(r["employee_id"]).lower(), "/tickets/" + str(rng.randint(1000, 9999)), "/in/" + str(r["last_name"]).lower(), ""))
    scheme = rng.choice(("https://", "http://", "https://", ""))
    if not scheme and not host.startswith("www.") and not path:
        path = "/login"
    b.pii(f"{scheme}{host}{path}", "URL")
    b.add(rng.choice((".", " (see the audit trail).", "")))
    if rng.random() < 0.5:
        b.add(" Employee id ")
        b.pii(str(r["employee_id"]), "EMPLOYEE_ID")
        b.add(".")


def _expense_note(b: TextBuilder, rng: random.Random, fake: Faker, r: Mapping[str, Any], domain: str) -> None:
    b.add(rng.choice(("Expense claim by ", "Reimbursement for ", "Card on file for ")))
    mention(b, rng, _row_person(r), possessive=False)
    b.add(rng.choice((": card ", " - card number ", ", paid with ")))
    b.pii(rng.choice(card_forms(make_card(rng))), "CREDIT_CARD")
    b.add(rng.choice((", amount ", " for ", ", total ")))
    amount = rng.randint(20, 4000)
    cents = rng.randint(0, 99)
    b.pii(rng.choice((f"${amount:,}.{cents:02d}", f"{amount:,}.{cents:02d} USD", f"EUR {amount:,}", f"€{amount:,}", f"${amount:,}")), "MONEY")
    b.add(". Tracking number " + luhn_invalid(rng) + " is not a card.")
    if rng.random() < 0.5:
        b.add(" Refund to IBAN ")
        b.pii(rng.choice(ids.iban_forms(ids.make_iban(rng))), "IBAN")
        b.add(".")


def _recruit_note(b: TextBuilder, rng: random.Random, fake: Faker, r: Mapping[str, Any], domain: str) -> None:
    b.add(rng.choice(("Interview panel: ", "Hiring note from ", "Recruiting update by ")))
    mention(b, rng, _row_person(r))
    b.add(". Spoke with the ")
    _name_outsider(b, rng, fake, _ROLES)
    b.add(rng.choice((" on ", ", call scheduled for ")))
    b.pii(rng.choice(_date_forms(ids.random_date(rng, dt.date(2025, 1, 1), dt.date(2026, 12, 31)))), "DATE")
    b.add(rng.choice((", phone ", "; reach them at ", ", mobile ")))
    b.pii(make_intl_phone(rng), "PHONE")
    b.add(rng.choice((". Expected salary ", ". Asking for ", ". Offer: ")))
    k = rng.randint(45, 180)
    b.pii(rng.choice((f"${k},000", f"{k}k", f"{k},000 USD", f"USD {k}k", f"${k}K", f"£{k},000")), "MONEY")
    b.add(". References: ")
    _name_outsider(b, rng, fake, _ROLES)
    b.add(".")


def _family_note(b: TextBuilder, rng: random.Random, fake: Faker, r: Mapping[str, Any], domain: str) -> None:
    mention(b, rng, _row_person(r), possessive=True)
    b.add(rng.choice((" leave request: my ", " note: her ", " note: his ", " asked about benefits for their ")))
    rel = rng.choice(_RELATIONS)
    p, needs_cue = _outsider(rng, fake)
    b.add(rel + rng.choice((" ", ", ")))
    b.pii(p.full if rng.random() < 0.6 else p.first if not needs_cue else p.full, "PERSON")
    b.add(rng.choice((" was born on ", " has surgery on ", " starts school on ")))
    b.pii(rng.choice(_date_forms(ids.random_date(rng, dt.date(2010, 1, 1), dt.date(2026, 12, 31)))), "DATE")
    b.add(". Mail to ")
    if rng.random() < 0.5:
        box = f"{rng.choice(('PO Box', 'P.O. Box', 'Post Office Box'))} {rng.randint(1, 99999)}"
        b.pii(box, "ADDRESS")
    else:
        b.pii(str(r["home_address"]), "ADDRESS")
    b.add(". SSN on file: ")
    b.pii(rng.choices(ids.ssn_forms(str(r["ssn"])), weights=(5, 2, 2))[0], "SSN")
    b.add(".")


def _contact_note(b: TextBuilder, rng: random.Random, fake: Faker, r: Mapping[str, Any], domain: str) -> None:
    b.add(rng.choice(("Contact card: ", "Directory entry: ", "")))
    mention(b, rng, _row_person(r))
    b.add(rng.choice((", e-mail ", " <", " - mail: ")))
    b.pii(rng.choice(ids.email_forms(str(r["email"]))), "EMAIL")
    b.add(rng.choice((", phone ", ">, tel. ", ", cell ")))
    b.pii(rng.choice(ids.phone_forms(str(r["phone"]))), "PHONE")
    b.add(rng.choice((", profile ", ", page ")))
    b.pii(f"https://{rng.choice(_DOMAINS).format(d=domain)}/people/{str(r['first_name']).lower()}", "URL")
    b.add(". Born ")
    b.pii(rng.choice(_date_forms(dt.date.fromisoformat(str(r["date_of_birth"])))), "DATE")
    b.add(", salary ")
    b.pii(rng.choice(ids.money_forms(int(float(str(r["salary"]))))), "MONEY")
    b.add(".")


def _date_forms(d: dt.date) -> list[str]:
    forms = ids.date_forms(d)
    forms += [
        f"{d.strftime('%b')} {d.day}th, {d.year}" if d.day in (4, 5, 6, 7, 8, 9, 10) else f"{d.strftime('%B')} {d.day}, {d.year}",
        f"{d.strftime('%A')}, {d.strftime('%B')} {d.day}, {d.year}",
        f"{d.day:02d}-{d.month:02d}-{d.year}",
        f"{d.year}/{d.month:02d}/{d.day:02d}",
        f"{d.strftime('%B').upper()} {d.day}, {d.year}",
    ]
    return forms


def _decoy(b: TextBuilder, rng: random.Random) -> None:
    k = rng.randrange(10)
    if k == 0:
        b.add(f"Related to order #{rng.randint(10000, 99999)}.")
    elif k == 1:
        b.add(f"See ticket INC-{rng.randint(10000, 99999)} and TKT-{rng.randint(2020, 2026)}-{rng.randint(1, 99999):05d}.")
    elif k == 2:
        b.add(f"The app is on version {rng.randint(1, 12)}.{rng.randint(0, 20)}.{rng.randint(0, 40)}.{rng.randint(0, 999)}.")
    elif k == 3:
        b.add(f"Laptop firmware v{rng.randint(1, 9)}.{rng.randint(0, 12)}.{rng.randint(0, 20)} installed.")
    elif k == 4:
        b.add(f"This affects {rng.randint(2, 40)} people and {rng.randint(2, 30)} laptops.")
    elif k == 5:
        b.add(f"Meeting at {rng.randint(8, 17)}:{rng.choice(('00', '15', '30', '45'))} in room {rng.randint(100, 999)}.")
    elif k == 6:
        b.add(f"Utilisation went up {rng.randint(1, 40)}.{rng.randint(0, 9)}% this quarter.")
    elif k == 7:
        b.add(f"Invoice {rng.randint(2020, 2026)}-{rng.randint(1, 9999):04d} was paid.")
    elif k == 8:
        b.add(f"Parcel tracking {luhn_invalid(rng)} arrived.")
    else:
        b.add(f"Build {rng.randint(1000, 99999)} passed {rng.randint(100, 999)} tests.")
