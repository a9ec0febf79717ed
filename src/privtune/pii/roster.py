"""Find the names (and other known identifiers) of a company's people in free text.

A :class:`Roster` is built from the employees table: every employee's and every emergency
contact's name, plus the known e-mails, employee ids and phone numbers. Name matching is a
single pass over the word tokens of the text with dictionary look-ups of the longest token
sequence first (an Aho-Corasick-like scan over tokens), so it costs O(tokens) per text whatever
the roster size.

Forms matched, with word boundaries:

* full name (``Maria Garcia``, any case, any whitespace between the parts),
* ``LAST, FIRST`` (``Garcia, Maria``, any case),
* first-only and last-only mentions (``Maria``, ``Garcia``). Case-insensitive, except that a
  name which is also a common English word (``May``, ``Grant``, ``Long``; see
  :mod:`privtune.pii.wordlist`) or has at most two letters must be capitalised, and a month
  name followed by a number (``May 5``) is a date, not a name.

A possessive ``'s`` is left outside the span. The longest match at a position wins; matches
never overlap.

Every span carries ``subject``: the employee id of the person it names when the roster knows
exactly one person with that name form (``None`` for an ambiguous first name shared by two
employees, and for emergency contacts, who are not employees). Known e-mails, employee ids and
phone numbers carry their employee's id too.

Common-word policy (``May``, ``Long``, ``Grant``, ``Will``): a *full* name is matched in any
case and is never skipped; a *single* word that is also a common English word must be
capitalised, must not start a stock phrase (``Will be``, ``Grant access``, ``Best regards``),
and a month name before a number is a date. So "Grant will review it" names Grant, "grant
access" and "May 5" do not; at a sentence start a capitalised common-word name is taken (we
prefer a masked word to a leaked name).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from privtune.errors import InputError
from privtune.pii.mapping import NAME_ROLES, TableMapping, mapping_for_table, rows_table
from privtune.pii.scan import Bounded, anchored, keys, words
from privtune.pii.spans import EMAIL, EMPLOYEE_ID, PERSON, PHONE, Span
from privtune.pii.wordlist import COMMON_WORDS

_TOKEN = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*|,")
_COMMA = re.compile(",")
_HONORIFICS = frozenset(
    ["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "jr", "sr", "ii", "iii", "iv", "md", "phd", "dds", "dvm", "esq"]
)
_MONTHS = frozenset(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"]
)
_AFTER_MONTH = re.compile(r"\s+\d")
_NEXT_WORD = re.compile(r"[ \t]+([A-Za-z']+)")
#: Word-names that begin a stock phrase rather than name someone ("Best regards", "May I").
_COLLOCATIONS: dict[str, frozenset[str]] = {
    w: frozenset(nxt.split())
    for w, nxt in {
        "best": "regards wishes practice practices",
        "kind": "regards",
        "warm": "regards wishes",
        "will": "be have you not do",
        "may": "be i we you have not",
        "grant": "access permission",
        "mark": "the as",
        "hope": "this that you all",
        "long": "term",
        "little": "bit",
        "black": "friday",
        "white": "paper",
        "rich": "text",
        "good": "morning afternoon evening luck",
        "bill": "to",
        "faith": "effort",
        "key": "account accounts",
    }.items()
}
#: An id token: letters, digits, ``_`` and ``-``, holding a digit.
_ID_BODY = r"(?=[A-Za-z_-]*\d)[A-Za-z0-9][A-Za-z0-9_-]*(?![\w-])"


@lru_cache(maxsize=8)
def _id_tokens(ids: frozenset[str]) -> Bounded | None:
    """The id-token scanner for a roster's ids: scanned from the characters that may precede a
    token (:class:`~privtune.pii.scan.Bounded`), and only where one of the ids' first characters
    follows (``E`` for ``E00042``), so the engine skips in C past every other word."""
    first = "".join(sorted({i[0] for i in ids if i[0].isascii() and i[0].isalnum()}))
    return Bounded(r"\w-", _ID_BODY, first=first) if first else None


_PHONE_LIKE = Bounded(r"\w+", r"(?:\+?1[ .-]?)?\(?\d{3}\)?[ .-]?\d{3}[ .-]?\d{4}(?!\w)", first=r"+(\d")
_EMAIL_LIKE = re.compile(r"[^\s@<>(),;:\"']+@[^\s@<>(),;:\"']+[A-Za-z]")
_NOT_LOCAL = frozenset("@<>(),;:\"'")


def _email_local(ch: str) -> bool:
    """A character :data:`_EMAIL_LIKE` allows before the ``@``."""
    return not ch.isspace() and ch not in _NOT_LOCAL

#: A word glued to one of these (a digit, an underscore) is not a name.
_GLUE = frozenset("0123456789_")


def _name_parts(name: str) -> list[str]:
    """Casefolded word tokens of a name, honorifics and suffixes dropped."""
    parts = [t.casefold() for t in _TOKEN.findall(name) if t != ","]
    return [p for p in parts if p.rstrip(".") not in _HONORIFICS]


def _digits10(value: str) -> str | None:
    d = re.sub(r"\D", "", value)
    if len(d) == 11 and d.startswith("1"):
        d = d[1:]
    return d if len(d) == 10 else None


class Roster:
    """Known people and identifiers of one company; :meth:`find` locates their names."""

    def __init__(
        self,
        names: Iterable[str | tuple[str, str]] = (),
        *,
        emails: Iterable[str] = (),
        employee_ids: Iterable[str] = (),
        phones: Iterable[str] = (),
    ) -> None:
        self._full: dict[tuple[str, ...], str | None] = {}  # name form -> subject (None: ambiguous)
        self._single: dict[str, bool] = {}  # token -> must be capitalised
        self._single_subject: dict[str, str | None] = {}
        self._lengths: dict[str, list[int]] = {}  # first token of a full form -> its lengths, longest first
        self._email_subject: dict[str, str] = {}
        self._id_subject: dict[str, str] = {}
        self._phone_subject: dict[str, str] = {}
        for name in names:
            if isinstance(name, tuple):
                self.add_name(*name)
            else:
                self.add_name(name)
        self.emails = frozenset(e.strip().casefold() for e in emails if e and e.strip())
        self.employee_ids = frozenset(i.strip() for i in employee_ids if i and i.strip())
        self.phones = frozenset(d for d in (_digits10(p) for p in phones if p) if d)

    # ------------------------------------------------------------ building

    def add_name(self, first: str, last: str | None = None, *, subject: str | None = None) -> None:
        """Add a person: ``add_name("Maria", "Garcia")`` or ``add_name("Maria Garcia")``.

        ``subject`` is the person's employee id; mentions of a name form that two different
        people share get ``subject=None``.
        """
        firsts = _name_parts(first or "")
        lasts = _name_parts(last or "") if last is not None else []
        if last is None and len(firsts) > 1:
            firsts, lasts = firsts[:1] + firsts[1:-1], firsts[-1:]
        parts = firsts + lasts
        if not parts:
            return
        forms: set[tuple[str, ...]] = set()
        if len(parts) > 1:
            forms.add(tuple(parts))
        if firsts and lasts:
            forms.add((firsts[0], lasts[-1]))
            forms.add(tuple(lasts) + (",",) + tuple(firsts))
            forms.add((lasts[-1], ",", firsts[0]))
            if len(lasts) > 1:
                forms.add(tuple(lasts))
        for form in forms:
            _claim(self._full, form, subject)
            known = self._lengths.setdefault(form[0], [])
            if len(form) not in known:
                known.append(len(form))
                known.sort(reverse=True)
        for token in {parts[0], parts[-1], *lasts[-1:]}:
            self._single[token] = token in COMMON_WORDS or len(token) <= 2
            _claim(self._single_subject, token, subject)

    @classmethod
    def from_employees(cls, table: pa.Table | Iterable[Mapping[str, Any]],
                       mapping: TableMapping | None = None, *, path: str | Path | None = None) -> Roster:
        """Roster of every employee and every other person (emergency contacts) a table names.

        Columns are found by their role in ``mapping`` (:mod:`privtune.pii.mapping`; inferred
        from the table when not given), never by a fixed column name."""
        table = table if isinstance(table, pa.Table) else rows_table(list(table))
        mapping = mapping_for_table(table, mapping)
        if table.num_rows and not mapping.columns_of(*NAME_ROLES):
            raise InputError("no name column for the roster (set a role: full_name, or first_name "
                             "and last_name, in the schema mapping)", path=path, field="full_name")
        rows = table.to_pylist()
        roster = cls()
        emails: list[str] = []
        ids: list[str] = []
        phones: list[str] = []
        own_phone = mapping.column("phone")
        phone_cols = mapping.columns_of("phone", "emergency_contact_phone")
        email_cols = mapping.columns_of("email")
        other_names = [c for c in mapping.columns_of("emergency_contact_name")]
        for r in rows:
            eid = mapping.value(r, "employee_id")
            full = mapping.value(r, "full_name")
            first, last = mapping.value(r, "first_name"), mapping.value(r, "last_name")
            if first or last:
                roster.add_name(first or "", last or "", subject=eid)
            if full:
                roster.add_name(full, subject=eid)
            for col in other_names:
                if r.get(col):
                    roster.add_name(str(r[col]), subject=None)
            for col in email_cols:
                if r.get(col):
                    emails.append(str(r[col]))
                    if eid:
                        _claim(roster._email_subject, str(r[col]).strip().casefold(), eid)
            if eid:
                ids.append(eid)
                roster._id_subject[eid] = eid
            phones += [str(r[c]) for c in phone_cols if r.get(c)]
            digits = _digits10(str(r[own_phone])) if own_phone and r.get(own_phone) else None
            if digits and eid:
                _claim(roster._phone_subject, digits, eid)
        roster.emails = frozenset(e.strip().casefold() for e in emails)
        roster.employee_ids = frozenset(i.strip() for i in ids)
        roster.phones = frozenset(d for d in (_digits10(p) for p in phones) if d)
        return roster

    def subject_of_name(self, name: str) -> str | None:
        """The employee id that a mention ``name`` refers to, if exactly one person fits."""
        parts = tuple(t.casefold() for t in _TOKEN.findall(name))
        if len(parts) == 1:
            return self._single_subject.get(parts[0])
        return self._full.get(parts)

    def __len__(self) -> int:
        return len(self._single)

    # ------------------------------------------------------------ matching

    def _tokens(self, text: str) -> list[tuple[int, int, str, bool, bool]]:
        """``(start, end, key, possessive, capitalised)`` per word token (and per comma).

        The words are the text's shared tokens (:func:`privtune.pii.scan.words`, computed once
        per detection); a word glued to a digit or an underscore (``5th``, ``id_jane``) is not a
        name."""
        n = len(text)
        toks = [
            (s, e - 2, k[:-2], True, w[:1].isupper())
            if len(w) > 2 and w[-1] in "sS" and w[-2] in "'’"
            else (s, e, k, False, w[:1].isupper())
            for (s, e, w), k in zip(words(text), keys(text))
            if not ((s and text[s - 1] in _GLUE) or (e < n and text[e] in _GLUE))
        ]
        if "," in text:
            toks += [(m.start(), m.start() + 1, ",", False, False) for m in _COMMA.finditer(text)]
            toks.sort()
        return toks

    def find(self, text: str) -> list[Span]:
        """PERSON spans of roster names in ``text``, sorted, non-overlapping.

        One pass over the word tokens; at each token only the name-form lengths that start
        with that token are tried (longest first), so the cost is O(tokens), independent of
        the roster size (a token-level Aho-Corasick without failure links: forms are at most
        a few tokens long).
        """
        if not self._single:
            return []
        toks = self._tokens(text)
        out: list[Span] = []
        i, n = 0, len(toks)
        lengths, single = self._lengths, self._single
        while i < n:
            key = toks[i][2]
            if key not in single and key not in lengths:
                i += 1
                continue
            length = self._match_at(text, toks, i)
            if length:
                if length == 1:
                    subject = self._single_subject.get(key)
                else:
                    subject = self._full.get(tuple(t[2] for t in toks[i : i + length]))
                out.append(Span(toks[i][0], toks[i + length - 1][1], PERSON, subject=subject, source="roster"))
                i += length
            else:
                i += 1
        return out

    def _match_at(self, text: str, toks: list[tuple[int, int, str, bool, bool]], i: int) -> int:
        _start, end, key, possessive, capitalised = toks[i]
        for length in self._lengths.get(key, ()):
            if i + length > len(toks):
                continue
            seq = toks[i : i + length]
            if seq[-1][2] == "," or any(t[3] for t in seq[:-1]):
                continue
            if tuple(t[2] for t in seq) in self._full and _joined(text, seq):
                return length
        must_cap = self._single.get(key)
        if must_cap is None or (must_cap and not capitalised):
            return 0
        if key in _MONTHS and _AFTER_MONTH.match(text, end):
            return 0
        if must_cap and key in _COLLOCATIONS and not possessive:
            nxt = _NEXT_WORD.match(text, end)
            if nxt and nxt.group(1).casefold() in _COLLOCATIONS[key]:
                return 0
        return 1

    def find_known(self, text: str) -> list[Span]:
        """Spans of known e-mails, employee ids and phone numbers written in any format."""
        out: list[Span] = []
        scanner = _id_tokens(self.employee_ids) if self.employee_ids else None
        if scanner is not None:
            out += [
                Span(s, e, EMPLOYEE_ID, subject=self._id_subject.get(text[s:e]), source="roster")
                for s, e, _ in scanner.spans(text)
                if text[s:e] in self.employee_ids
            ]
        if self.phones:
            for s, e, _ in _PHONE_LIKE.spans(text):
                digits = _digits10(text[s:e])
                if digits in self.phones:
                    out.append(Span(s, e, PHONE, subject=self._phone_subject.get(digits), source="roster"))
        if self.emails and "@" in text:
            for m in anchored(_EMAIL_LIKE, "@", _email_local, text):
                key = m.group().casefold()
                if key in self.emails:
                    out.append(Span(*m.span(), EMAIL, subject=self._email_subject.get(key), source="roster"))
        return out


def _claim(table: dict, key, subject: str | None) -> None:
    """Record ``subject`` for ``key``; two different subjects make it ambiguous (``None``)."""
    if key in table and table[key] != subject:
        table[key] = None
    else:
        table[key] = subject


def _joined(text: str, seq: list[tuple[int, int, str, bool, bool]]) -> bool:
    """True when only whitespace (or a comma plus whitespace) separates the tokens."""
    for a, b in itertools.pairwise(seq):
        gap = text[a[1] : b[0]]
        if gap and not gap.isspace():
            return False
        if "\n\n" in gap or len(gap) > 3:
            return False
    return True
