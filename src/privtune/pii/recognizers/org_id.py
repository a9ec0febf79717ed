"""EMPLOYEE_ID and ORG_ID: organisation-specific identifiers from configurable regexes.

The employee id regex defaults to ``\\bE\\d{5}\\b`` (the synthetic company's ids). Other ids
(badge numbers, payroll numbers, case references that name a person) are declared as
``{label: regex}``; every match becomes an ``ORG_ID`` span whose ``source`` is the label.
A pattern that does not compile is a :class:`~privtune.errors.ConfigError`.

:class:`EmployeeIdShapeRecognizer` learns the shapes of a roster's ids (``E123456``: the letter
``E`` and six digits; ``EMP-0042``; ``ab12345``) and finds ids of those shapes that the roster
does not hold (former employees, typos), in any case, with score 0.8 (a roster hit is 1.0).
A shape is learnt when at least :data:`MIN_SHAPE_SHARE` of the ids have it and it has a
letter or a separator as well as at least three digits: a bare digit shape (``104523``) would
take every number of that length, so numeric ids are left to the roster's exact matches.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

from privtune.errors import ConfigError
from privtune.pii.scan import Bounded
from privtune.pii.spans import EMPLOYEE_ID, ORG_ID, Span

DEFAULT_EMPLOYEE_ID_REGEX = r"\bE\d{5}\b"


def _compile(pattern: str, label: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"identifier pattern '{label}' is not a valid regex: {exc.msg}") from None


_LEADING_BOUNDARY = re.compile(r"\\b([A-Za-z0-9])(?![?*+{])")


def _fast_form(pattern: str) -> str:
    """``\\bE\\d{5}\\b`` as ``E(?<!\\wE)\\d{5}\\b``: the same matches, but a pattern that starts
    with a literal lets the regex engine skip ahead to it in C (a leading ``\\b`` makes it try
    every position)."""
    m = _LEADING_BOUNDARY.match(pattern)
    if m is None:
        return pattern
    c = m.group(1)
    return rf"{c}(?<!\w{c})" + pattern[m.end() :]


class EmployeeIdRecognizer:
    name = "employee_id"
    types = (EMPLOYEE_ID,)

    def __init__(self, regex: str = DEFAULT_EMPLOYEE_ID_REGEX) -> None:
        _compile(regex, "employee_id")  # a bad pattern is reported as written
        self.regex = _compile(_fast_form(regex), "employee_id")

    def find(self, text: str) -> list[Span]:
        return [Span(m.start(), m.end(), EMPLOYEE_ID, source=self.name) for m in self.regex.finditer(text) if m.end() > m.start()]


class OrgIdRecognizer:
    name = "org_id"
    types = (ORG_ID,)

    def __init__(self, patterns: Mapping[str, str] | Iterable[str]) -> None:
        items = patterns.items() if isinstance(patterns, Mapping) else ((f"pattern{i}", p) for i, p in enumerate(patterns))
        self.patterns = [(label, _compile(p, label)) for label, p in items]

    def find(self, text: str) -> list[Span]:
        return [
            Span(m.start(), m.end(), ORG_ID, source=f"{self.name}:{label}")
            for label, rx in self.patterns
            for m in rx.finditer(text)
            if m.end() > m.start()
        ]


#: Share of the roster's ids a shape needs to be learnt.
MIN_SHAPE_SHARE = 0.05
_RUNS = re.compile(r"[A-Za-z]+|\d+|[^A-Za-z\d]+")


def id_shape(value: str) -> str | None:
    """A regex for ids shaped like ``value``; letters kept literally (``E``, ``EMP``), digit runs
    by length, separators literally. None when the shape is too weak to search free text for."""
    runs = _RUNS.findall(value.strip())
    if not runs or len(value) > 24:
        return None
    digits = sum(len(r) for r in runs if r.isdigit())
    if digits < 3 or all(r.isdigit() for r in runs):
        return None
    parts = []
    for r in runs:
        if r.isdigit():
            parts.append(rf"\d{{{len(r)}}}")
        elif r.isalpha():
            parts.append(re.escape(r.upper()) if len(r) <= 4 else rf"[A-Z]{{{len(r)}}}")
        elif r in ("-", "_", "/", "."):
            parts.append(re.escape(r))
        else:
            return None
    return "".join(parts)


class EmployeeIdShapeRecognizer:
    """Ids of the roster's shapes, known or not (case-insensitive, score 0.8 unless known)."""

    name = "employee_id_shape"
    types = (EMPLOYEE_ID,)

    def __init__(self, ids: Iterable[str]) -> None:
        ids = [i.strip() for i in ids if i and i.strip()]
        self.known = frozenset(i.upper() for i in ids)
        counts = Counter(s for s in map(id_shape, ids) if s)
        floor = max(1, MIN_SHAPE_SHARE * len(ids))
        self.shapes = sorted((s for s, c in counts.items() if c >= floor), key=len, reverse=True)
        #: Scanned from the characters that may precede an id, where one of the shapes' first
        #: characters follows (:class:`~privtune.pii.scan.Bounded`).
        self.scanner = (
            Bounded(
                r"\w-",
                "(?:" + "|".join(self.shapes) + r")(?![\w-])",
                re.I,
                first="".join(sorted({_first(s) for s in self.shapes})),
            )
            if self.shapes
            else None
        )

    def find(self, text: str) -> list[Span]:
        if self.scanner is None:
            return []
        return [
            Span(s, e, EMPLOYEE_ID, score=1.0 if text[s:e].upper() in self.known else 0.8, source=self.name)
            for s, e, _ in self.scanner.spans(text)
        ]


def _first(shape: str) -> str:
    """The character class of a shape's first character (``\\d``, ``A-Za-z``, ``Ee``, ``\\-``)."""
    if shape.startswith(r"\d"):
        return r"\d"
    if shape.startswith("[A-Z]"):
        return "A-Za-z"
    if shape.startswith("\\"):
        return shape[:2]
    return shape[0].upper() + shape[0].lower()
