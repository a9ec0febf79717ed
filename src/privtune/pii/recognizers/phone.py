"""PHONE: every number ``phonenumbers`` (Google's libphonenumber metadata) parses for the
workspace's regions, validated so that dates, amounts and ids are not taken for phones.

Candidates are digit runs of 7-15 digits, optionally grouped by single spaces, dots, dashes, a
slash or parentheses, with an optional ``+``/``00`` prefix and an optional extension
(``x123``, ``ext. 12``, ``extension 7``, ``Durchwahl 12``, ``poste 4``). A candidate is a phone
when:

* it has a ``+`` prefix and is a *possible* number for its country (right length), or a ``00``
  prefix and is valid (or possible with a phone word near it): ``+44 20 7946 0958``,
  ``+44 7700 900123`` (the UK's range reserved for fiction is possible, not valid),
  ``0033 1 42 68 53 00``, ``+49 (0)30 901820``;
* it has the US/NANP shape (``(555) 123-4567``, ``555.123.4567``, ``555 123 4567``, the two
  separators agreeing; ``(920)575-5947``);
* it is a *valid* national number in one of the regions (``(03) 5342 5757`` AU,
  ``0496 78 75 49`` BE, ``020 7946 0018`` GB, ``04 27 80 01 48`` FR, ``0420428235`` AU mobile,
  ``030/1234567`` DE, run-on ``2125550143`` US), not right after an id word (``order``,
  ``invoice``, ``ticket``, ``#``...);
* or it is merely *possible* in a region and a phone word (``phone``, ``call``, ``mobile``,
  ``Tel.``, ``Handy``, ``portable``, ``teléfono``, ``bellen``...) stands in the 40 characters
  before it: ``call 07700 900123``, ``ext: 555-0143``.

Rejected: dates (``14.03.1985``, ``2024-03-14``, ``3-14-85``), thousands-grouped amounts
(``3.500.000``, ``1 250 000``), anything after a currency sign or before ``%``/a currency
word, SSN-shaped ``123-45-6789``, IPv4 quads, runs of 16+ digits (cards, IBANs), and ids glued to letters
(``E123456``, ``INC-2093145``). A candidate that fails whole is retried without its trailing
groups (``call 555-123-4567 2 times``).

Regions: :data:`DEFAULT_REGIONS` unless the workspace says otherwise (``Detector(phone_regions=)``);
the detector adds the regions of the roster's own phone numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache, lru_cache

import phonenumbers

from privtune.pii.scan import finditer
from privtune.pii.spans import PHONE, Span

#: Regions whose national formats (no ``+`` prefix) are recognised by default.
DEFAULT_REGIONS: tuple[str, ...] = ("US", "GB", "DE", "FR", "ES", "NL", "BE", "AU", "CA", "IE")

US_PHONE_RE = re.compile(
    r"""
    (?:(?:\+1|001|1)[ .-]?)?\(\d{3}\)[ ]?\d{3}[-. ]\d{4}
  | (?:(?:\+1|001|1)[ .-])?\d{3}(?P<sep>[-. ])\d{3}(?P=sep)\d{4}
    """,
    re.X,
)

_CANDIDATE = re.compile(
    r"""
    (?<![\w+@/.:#$€£¥-])
    (?P<num>
        (?:(?:\+|\b00)[ ]?)?
        (?:\(\+?\d{1,5}\)[ .-]?|\d)
        (?:(?:[ .\-/]|[ ]?-[ ])?(?:\(\d{1,5}\)|\d)){4,17}
    )
    (?P<ext>[ ]?,?[ ]?(?:x|ext\.?|extension|Durchwahl|DW|poste|Apparat)[ ]?:?[ ]?\d{1,6})?
    (?![\w%$€£])(?![.,/-]\d)
    """,
    re.X | re.I,
)
#: Where a candidate can start: a digit, ``+`` or ``(``, not after the characters the
#: candidate's look-behind refuses (the engine skips ahead to these in C).
_CANDIDATE_START = re.compile(r"[\d+(](?<![\w+@/.:#$€£¥-].)")
_GROUP_SPLIT = re.compile(r"[ .\-/()]+")
_DATE_SHAPE = re.compile(
    r"(?:\d{1,2}(?P<a>[./-])\d{1,2}(?P=a)(?:\d{2}|\d{4})|(?:19|20)\d{2}(?P<b>[./-])\d{1,2}(?P=b)\d{1,2})"
)
_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:(?P<s>[. ,'])\d{3})(?:(?P=s)\d{3})+|[1-9]\d{0,2}\.\d{3}")
_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}")
_CURRENCY_AFTER = re.compile(r"[ ]?(?:%|percent|dollars?|euros?|eur|usd|gbp|chf|pounds?|k\b|m\b)", re.I)

PHONE_WORDS: frozenset[str] = frozenset(
    ["phone", "phones", "messages", "answering", "voicemail", "mobile:", "office", "telephone", "tel", "tele", "call", "called", "calling", "ring", "mobile", "mob", "cell", "cellphone",
     "cellular", "landline", "fax", "sms", "text", "texted", "whatsapp", "signal", "dial", "reach", "reached", "contact",
     "number", "no", "nr", "hotline", "helpline", "voicemail", "extension", "ext", "direct", "switchboard", "phoned",
     "telefon", "telefonnummer", "rufnummer", "handy", "handynummer", "mobil", "mobilnummer", "anrufen", "erreichbar",
     "festnetz", "tél", "téléphone", "telephone", "portable", "numéro", "numero", "joindre", "appeler", "joignable",
     "teléfono", "telefono", "móvil", "movil", "celular", "llamar", "llama", "número", "telefoonnummer", "mobiel",
     "bellen", "nummer", "bereikbaar", "gsm", "m", "t", "p", "ph", "o", "w", "h"]
)  # fmt: skip
#: A word right before the number that makes it an identifier, not a phone.
ID_WORDS: frozenset[str] = frozenset(
    ["order", "invoice", "ticket", "case", "ref", "reference", "account", "acct", "id", "iban", "card", "ssn", "po", "tracking",
     "serial", "badge", "payroll", "routing", "policy", "claim", "contract", "item", "sku", "isbn", "member", "receipt",
     "transaction", "booking", "confirmation", "version", "build", "release", "batch", "lot", "room", "code", "pin",
     "bestellung", "rechnung", "vertrag", "kundennummer", "facture", "commande", "dossier", "factura", "pedido", "referentie",
     "factuur", "bestelling", "personalnummer", "matricule", "zip", "postcode", "plz"]
)  # fmt: skip
_WORD_AFTER = re.compile(r"[ ]?[-(]?[ ]?([^\W\d_]+)")
#: A word right after a number that makes it a phone ("office", "mobile", "fax").
AFTER_WORDS = frozenset(["office", "mobile", "fax", "home", "work", "cell", "phone", "tel", "direct", "landline", "mob", "handy", "portable", "móvil"])
_GLUED_BEFORE = re.compile(r"\d[ .-]\Z")  # "DE89 3704 ...": a number that continues an earlier token
_NANP = frozenset(["US", "CA"])
_NO_TRUNK = frozenset(["ES", "IT", "PT", "DK", "NO", "GR", "LU"])
_SEPS = re.compile(r"[ .\-/]")
_YEAR_GROUP = re.compile(r"(?:19|20)\d{2}")
_WORDS = re.compile(r"[^\W\d_]+")


@lru_cache(maxsize=4096)
def _national(digits: str, regions: tuple[str, ...]) -> tuple[str | None, bool]:
    """(a region where the number, written without prefix, is valid; possible in some region).

    Outside NANP every default region writes national numbers with the trunk ``0``, except the
    regions in :data:`_NO_TRUNK` (Spain, Italy...); a number that does not fit that is not
    looked up there.
    """
    possible = False
    for region in regions:
        if region in _NANP:
            if digits[0] == "0" or len(digits) not in (7, 10, 11) or (len(digits) == 11 and digits[0] != "1"):
                continue
        elif digits[0] != "0" and region not in _NO_TRUNK:
            continue
        if len(digits) > _longest(region):
            continue  # too long for the region's plan even after its longest national prefix
        try:
            number = phonenumbers.parse(digits, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return region, True
        possible = possible or phonenumbers.is_possible_number(number)
    return None, possible


@cache
def _longest(region: str) -> int:
    """The most digits a national number of ``region`` can have with its longest national
    prefix (``phonenumbers`` metadata: possible lengths, and the width of the prefix pattern);
    a longer run is neither valid nor possible there, so it is not parsed (a parse costs
    ~50 us)."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None:
        return 99
    desc = meta.general_desc
    if desc is None:
        return 99
    lengths = [*(desc.possible_length or ()), *(desc.possible_length_local_only or ())]
    prefix = meta.national_prefix_for_parsing or meta.national_prefix or ""
    try:
        width = _parse_width(prefix)
    except Exception:  # an unexpected metadata pattern: never skip on it
        return 99
    return (max(lengths) if lengths else 99) + width


def _parse_width(pattern: str) -> int:
    from re import _parser  # type: ignore[attr-defined]  # the stdlib's regex parser: a pattern's widest match

    return int(min(_parser.parse(pattern).getwidth()[1], 99)) if pattern else 0


@lru_cache(maxsize=4096)
def _international(digits: str) -> tuple[bool, bool]:
    """(valid, possible) for a number written with a country code; a national part that starts
    with ``0`` or is all zeros is never merely possible (``+44 0000 0000``)."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return False, False
    nsn = phonenumbers.national_significant_number(number)
    possible = phonenumbers.is_possible_number(number) and nsn[:1] not in ("0", "") and nsn.count("0") < len(nsn) - 2
    return phonenumbers.is_valid_number(number), possible


@lru_cache(maxsize=4096)
def _intl_possible(digits: str) -> bool:
    """The ``possible`` of :func:`_international`, without the validity check (a ``+`` number
    needs only this). A NANP number (``1`` and ten digits, area code 2-9) is possible by its
    length alone, and is not parsed."""
    if len(digits) == 11 and digits[0] == "1" and "2" <= digits[1] <= "9":
        return digits.count("0", 1) < 8
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return False
    nsn = phonenumbers.national_significant_number(number)
    return phonenumbers.is_possible_number(number) and nsn[:1] not in ("0", "") and nsn.count("0") < len(nsn) - 2


def intl_phone_is_valid(value: str) -> bool:
    """True when ``value`` (``+`` or ``00`` prefix) is a valid number for its country."""
    digits = re.sub(r"\D", "", value)
    if value.lstrip().startswith("00"):
        digits = digits[2:]
    return bool(digits) and _international(digits)[0]


class PhoneRecognizer:
    name = "phone"
    types = (PHONE,)

    def __init__(self, regions: Iterable[str] = DEFAULT_REGIONS) -> None:
        self.regions = tuple(dict.fromkeys(r.upper() for r in regions))
        unknown = [r for r in self.regions if r not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            from privtune.errors import ConfigError

            raise ConfigError(f"unknown phone region(s): {', '.join(unknown)}", key="phone_regions")

    def find(self, text: str) -> list[Span]:
        out: list[Span] = []
        for m in finditer(_CANDIDATE, _CANDIDATE_START, text):
            end = self._accept(text, m.start("num"), m.group("num"))
            if end:
                if m.group("ext") and end == m.end("num"):
                    end = m.end("ext")
                out.append(Span(m.start("num"), end, PHONE, source=self.name))
        return out

    def _accept(self, text: str, start: int, num: str) -> int:
        """End offset of the phone starting at ``start`` (0: none). Retries without trailing groups."""
        if num.startswith(" ") or _GLUED_BEFORE.search(text, max(0, start - 3), start):
            return 0
        us = US_PHONE_RE.match(num)
        if us and us.end() < len(num) and num[us.end()] == " ":  # "555-123-4567 2 times"
            num = num[: us.end()]
        ctx = _Context(text, start, start + len(num))
        cand = num
        for _ in range(4):
            cand = cand.rstrip(" .-/(")
            if self._is_phone(cand, text, start + len(cand), ctx):
                return 0 if ctx.id_word() else start + len(cand)
            cut = cand.rfind(" ")  # only a space-separated tail is another token
            if cut <= 0:
                return 0
            cand = cand[:cut]
        return 0

    def _is_phone(self, cand: str, text: str, end: int, ctx: _Context) -> bool:
        digits = "".join(ch for ch in cand if ch.isdigit())
        n = len(digits)
        if n < 6 or n > 15 or _CURRENCY_AFTER.match(text, end):
            return False
        if cand.startswith("+"):
            return _intl_possible(digits) and (n >= 7 or ctx.phone_word())
        if n < 7 and not ctx.phone_word():
            return False
        if cand.startswith("00") and n > 9:
            valid, possible = _international(digits[2:])
            if valid or (possible and ctx.phone_word()):
                return True
        if _DATE_SHAPE.fullmatch(cand) or _SSN_SHAPE.fullmatch(cand) or _IPV4_SHAPE.fullmatch(cand):
            return False
        groups = [g for g in _GROUP_SPLIT.split(cand) if g]
        if sum(len(g) == 1 for g in groups[1:]) > 0 or (len(groups) > 1 and all(_YEAR_GROUP.fullmatch(g) for g in groups)):
            return False  # "1 2 3 4 5 6 7", "2019 2020 2021"
        if _THOUSANDS.fullmatch(cand) and not ctx.phone_word():
            return False
        if US_PHONE_RE.fullmatch(cand):
            return True
        if n <= 12 and n != len(cand) and ctx.phone_word():
            return True  # a grouped number right after a phone word: any national plan's format
        seps = set(_SEPS.findall(cand.replace(") ", ")")))
        if len(seps) > 1:
            return False  # "555-123.4567": mixed separators are not how anyone writes a number
        region, possible = _national(digits, self.regions)
        if region:
            grouped = n != len(cand)
            # run-on digits: a valid number, and either a phone word, or a trunk-0 / NANP length
            return grouped or (digits[0] == "0" and n >= 9) or n in (10, 11) or ctx.phone_word()
        return possible and ctx.phone_word()


class _Context:
    """The words around a candidate, looked at only when a rule needs them (lazily, once)."""

    __slots__ = ("_phone", "end", "start", "text")

    def __init__(self, text: str, start: int, end: int) -> None:
        self.text, self.start, self.end = text, start, end
        self._phone: bool | None = None

    def phone_word(self) -> bool:
        """A phone word in the 40 characters before (``call``, ``Tel.``) or right after (``office``)."""
        if self._phone is None:
            before = self.text[max(0, self.start - 40) : self.start].casefold()
            found = any(w in PHONE_WORDS for w in _WORDS.findall(before))
            if not found:  # "31 75 62 office", "0328 0152557-Office"
                after = _WORD_AFTER.match(self.text, self.end)
                found = bool(after and after.group(1).casefold() in AFTER_WORDS)
            self._phone = found
        return self._phone

    def id_word(self) -> bool:
        """The word right before is an id word (``order``, ``invoice``, ``#``)."""
        before = self.text[max(0, self.start - 24) : self.start].rstrip(" :#.-(\t\n").split()
        return bool(before) and before[-1].casefold().strip("#:.(") in ID_WORDS
