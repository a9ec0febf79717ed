"""EMPLOYEE_ID and ORG_ID: organisation-specific identifiers from configurable regexes.

The employee id regex defaults to ``\\bE\\d{5}\\b`` (the synthetic company's ids). Other ids
(badge numbers, payroll numbers, case references that name a person) are declared as
``{label: regex}``; every match becomes an ``ORG_ID`` span whose ``source`` is the label.
A pattern that does not compile is a :class:`~privtune.errors.ConfigError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from privtune.errors import ConfigError
from privtune.pii.spans import EMPLOYEE_ID, ORG_ID, Span

DEFAULT_EMPLOYEE_ID_REGEX = r"\bE\d{5}\b"


def _compile(pattern: str, label: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"identifier pattern '{label}' is not a valid regex: {exc.msg}") from None


class EmployeeIdRecognizer:
    name = "employee_id"
    types = (EMPLOYEE_ID,)

    def __init__(self, regex: str = DEFAULT_EMPLOYEE_ID_REGEX) -> None:
        self.regex = _compile(regex, "employee_id")

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
