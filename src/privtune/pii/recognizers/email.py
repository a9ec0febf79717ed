"""EMAIL: RFC-5322-ish addresses in any case; a local part with ``..`` is rejected."""

from __future__ import annotations

import re

from privtune.pii.scan import anchored
from privtune.pii.spans import EMAIL, Span

EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)

_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")


def _local(ch: str) -> bool:
    """A character of an address's local part (the regex is tried only from the run of these
    before each ``@``)."""
    return ch in _LOCAL


class EmailRecognizer:
    name = "email"
    types = (EMAIL,)

    def find(self, text: str) -> list[Span]:
        if "@" not in text:
            return []
        return [
            Span(m.start(), m.end(), EMAIL, source=self.name)
            for m in anchored(EMAIL_RE, "@", _local, text)
            if ".." not in m.group()
        ]
