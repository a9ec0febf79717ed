"""Build a free text from segments so the offsets of every planted PII span are exact.

A text is appended piece by piece: plain words with :meth:`TextBuilder.add`, personal data with
:meth:`TextBuilder.pii`, which records ``(start, end, type)`` at the moment the value is
appended. Nothing is searched afterwards, so a span is right even when the same string occurs
twice or inside another word.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from privtune.synth.vocab import PII_TYPES


@dataclass(frozen=True)
class Span:
    """One ground-truth PII span: ``text[start:end]`` is the planted value."""

    start: int
    end: int
    type: str


class TextBuilder:
    """Accumulate text segments and the spans of the personal ones."""

    def __init__(self, types: tuple[str, ...] = PII_TYPES) -> None:
        self._types = types
        self._parts: list[str] = []
        self._spans: list[Span] = []
        self._len = 0

    def add(self, text: str) -> TextBuilder:
        """Append text that carries no personal data."""
        self._parts.append(text)
        self._len += len(text)
        return self

    def pii(self, value: str, pii_type: str) -> TextBuilder:
        """Append a personal value and record its span."""
        if pii_type not in self._types:
            raise ValueError(f"unknown PII type {pii_type!r}")
        if not value or value != value.strip():
            raise ValueError("a PII value must be non-empty and unpadded")
        self._spans.append(Span(self._len, self._len + len(value), pii_type))
        return self.add(value)

    def sentence_break(self) -> TextBuilder:
        """A space between sentences (nothing at the very start)."""
        if self._len:
            self.add(" ")
        return self

    def build(self) -> tuple[str, list[Span]]:
        """The text and its spans, sorted by start."""
        return "".join(self._parts), sorted(self._spans, key=lambda s: (s.start, s.end))


@dataclass(frozen=True)
class Person:
    """A name to mention in a text (employee, manager, relative, colleague)."""

    first: str
    last: str
    gender: str = "Non-binary"

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"


_TITLES = {"Female": "Ms.", "Male": "Mr."}


def mention(
    b: TextBuilder,
    rng: random.Random,
    p: Person,
    *,
    possessive: bool = False,
    allow_first_only: bool = True,
) -> None:
    """Plant one mention of ``p`` in a varied form; a possessive ``'s`` stays outside the span.

    Forms: full name, first name, ``LAST, FIRST`` (either case), ``Ms. Last``, all lower or all
    upper case.
    """
    forms = ["full", "full", "full", "first", "last_first", "title", "lower", "upper"]
    if not allow_first_only:
        forms.remove("first")
    if possessive:
        forms.remove("last_first")  # "Garcia, Maria's" is not something people write
    form = rng.choice(forms)
    if form == "first":
        b.pii(p.first, "PERSON")
    elif form == "last_first":
        value = f"{p.last}, {p.first}"
        b.pii(value.upper() if rng.random() < 0.5 else value, "PERSON")
    elif form == "title" and p.gender in _TITLES:
        b.add(_TITLES[p.gender] + " ").pii(p.last, "PERSON")
    elif form == "lower":
        b.pii(p.full.lower(), "PERSON")
    elif form == "upper":
        b.pii(p.full.upper(), "PERSON")
    else:
        b.pii(p.full, "PERSON")
    if possessive:
        b.add("'s")


def pronouns(gender: str) -> tuple[str, str, str]:
    """(subject, object, possessive) pronouns: she/her/her, he/him/his, they/them/their."""
    if gender == "Female":
        return "she", "her", "her"
    if gender == "Male":
        return "he", "him", "his"
    return "they", "them", "their"


def refer(
    b: TextBuilder,
    rng: random.Random,
    p: Person,
    *,
    case: str = "subj",
    start: bool = False,
) -> None:
    """Refer again to someone already named: a pronoun, the first name, or a full mention.

    ``case`` is ``subj``, ``obj`` or ``poss`` (possessive: ``her``/``Maria's``). Pronouns carry
    no span; names do. Singular "they" is not used as a subject (verb agreement).
    """
    r = rng.random()
    subj, obj, poss = pronouns(p.gender)
    if r < 0.3 and not (case == "subj" and subj == "they"):
        word = {"subj": subj, "obj": obj, "poss": poss}[case]
        b.add(word[:1].upper() + word[1:] if start else word)
    elif r < 0.6:
        b.pii(p.first, "PERSON")
        if case == "poss":
            b.add("'s")
    else:
        mention(b, rng, p, possessive=case == "poss")
