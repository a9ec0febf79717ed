"""Generate and re-format personal identifiers: SSNs, IBANs, phones, emails, dates, money.

Generators take a ``random.Random`` so output is reproducible. Formatters return the many
written forms a real HR text uses for one value (``"123-45-6789"``, ``"123 45 6789"``, ...);
the texts plant one of them and label it.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import string

from privtune.synth.vocab import AREA_CODES

# ---------------------------------------------------------------- SSN


def make_ssn(rng: random.Random) -> str:
    """A valid-looking SSN ``AAA-GG-SSSS``: area not 000/666/9xx, group not 00, serial not 0000."""
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


def ssn_is_valid(ssn: str) -> bool:
    """True for ``AAA-GG-SSSS`` with the SSA's structural rules."""
    m = re.fullmatch(r"(\d{3})-(\d{2})-(\d{4})", ssn)
    if not m:
        return False
    area, group, serial = m.groups()
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def ssn_forms(ssn: str) -> list[str]:
    """Written forms of one SSN."""
    digits = ssn.replace("-", "")
    return [ssn, f"{digits[:3]} {digits[3:5]} {digits[5:]}", digits]


# ---------------------------------------------------------------- IBAN


def _letters_to_digits(s: str) -> str:
    return "".join(str(int(c, 36)) for c in s)


def iban_checksum_ok(iban: str) -> bool:
    """ISO 13616 mod-97 check (spaces and case ignored)."""
    s = iban.replace(" ", "").upper()
    if len(s) < 15 or not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    return int(_letters_to_digits(s[4:] + s[:4])) % 97 == 1


def _with_check_digits(country: str, bban: str) -> str:
    check = 98 - int(_letters_to_digits(bban + country + "00")) % 97
    return f"{country}{check:02d}{bban}"


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def _upper(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase) for _ in range(n))


def make_iban(rng: random.Random) -> str:
    """A mod-97-valid IBAN (DE, GB, FR or NL), unspaced, upper case."""
    country = rng.choices(("DE", "GB", "FR", "NL"), weights=(4, 3, 2, 2))[0]
    if country == "DE":
        bban = _digits(rng, 8) + _digits(rng, 10)
    elif country == "GB":
        bban = rng.choice(("BARC", "HBUK", "LOYD", "NWBK", "MIDL")) + _digits(rng, 6) + _digits(rng, 8)
    elif country == "NL":
        bban = rng.choice(("ABNA", "INGB", "RABO", "TRIO", "SNSB")) + _digits(rng, 10)
    else:
        bank, branch, account = _digits(rng, 5), _digits(rng, 5), _digits(rng, 11)
        rib = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97
        bban = f"{bank}{branch}{account}{rib:02d}"
    return _with_check_digits(country, bban)


def iban_forms(iban: str) -> list[str]:
    """Written forms: grouped by four, unspaced, lower case (both)."""
    grouped = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    return [grouped, iban, iban.lower(), grouped.lower()]


# ---------------------------------------------------------------- phone


def make_phone(rng: random.Random) -> str:
    """A US phone number in the canonical table form ``(415) 372-0134``."""
    area = rng.choice(AREA_CODES)
    exchange = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
    if exchange.endswith("11") or exchange == "555":
        exchange = f"{rng.randint(2, 9)}2{rng.randint(0, 9)}"
    return f"({area}) {exchange}-{rng.randint(0, 9999):04d}"


def phone_digits(phone: str) -> str:
    """The ten digits of a US phone number in any of our forms."""
    d = re.sub(r"\D", "", phone)
    return d[1:] if len(d) == 11 and d.startswith("1") else d


def phone_forms(phone: str) -> list[str]:
    """Written forms: ``(555) 123-4567``, ``555.123.4567``, ``+1 555 123 4567``, ``555-123-4567``."""
    d = phone_digits(phone)
    a, e, n = d[:3], d[3:6], d[6:]
    return [f"({a}) {e}-{n}", f"{a}.{e}.{n}", f"+1 {a} {e} {n}", f"{a}-{e}-{n}", f"+1 ({a}) {e}-{n}"]


# ---------------------------------------------------------------- email


def email_local(first: str, last: str) -> str:
    """``first.last`` with only ASCII letters kept (O'Neil -> oneil)."""
    clean = lambda s: re.sub(r"[^a-z]", "", s.lower())  # noqa: E731
    return f"{clean(first)}.{clean(last)}"


def email_forms(email: str) -> list[str]:
    """Written forms: as stored (lower), upper case, and capitalised parts."""
    local, _, domain = email.partition("@")
    capital = ".".join(p.capitalize() for p in local.split(".")) + "@" + domain.capitalize()
    return [email, email, email.upper(), capital]


# ---------------------------------------------------------------- dates

_ORD = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}


def date_forms(d: dt.date) -> list[str]:
    """Written forms of one date, European, US, long and ISO."""
    month, mon = d.strftime("%B"), d.strftime("%b")
    return [
        d.isoformat(),  # 1985-03-14
        f"{d.day:02d}.{d.month:02d}.{d.year}",  # 14.03.1985
        f"{d.month}/{d.day}/{d.year % 100:02d}",  # 3/14/85
        f"{d.month}/{d.day}/{d.year}",  # 3/14/1985
        f"{month} {d.day}, {d.year}",  # March 14, 1985
        f"{d.day} {mon} {d.year}",  # 14 Mar 1985
        f"{d.day}{_ORD.get(d.day, 'th')} of {month} {d.year}",  # 14th of March 1985
    ]


def random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    """A uniformly drawn date in ``[start, end]``."""
    return start + dt.timedelta(days=rng.randint(0, max(0, (end - start).days)))


# ---------------------------------------------------------------- money


def money_forms(amount: int) -> list[str]:
    """Written forms of a yearly amount: ``$85,000``, ``85,000 USD``, ``85k``, ``USD 85,000``."""
    forms = [f"${amount:,}", f"{amount:,} USD", f"USD {amount:,}"]
    if amount >= 10_000 and amount % 500 == 0:
        forms.append(f"{amount / 1000:g}k")  # 85k, 85.5k
    return forms


def hourly(amount_per_year: int) -> str:
    """``$42.50`` for a salary over 2080 working hours (the ``/hour`` is not part of it)."""
    return f"${amount_per_year / 2080:,.2f}"
