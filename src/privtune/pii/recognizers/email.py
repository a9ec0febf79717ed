"""EMAIL: RFC-5322-ish addresses in any case; a local part with ``..`` is rejected."""

from __future__ import annotations

import re

from privtune.pii.spans import EMAIL, Span

EMAIL_RE = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9_%+-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w-])"
)


class EmailRecognizer:
    name = "email"
    types = (EMAIL,)

    def find(self, text: str) -> list[Span]:
        if "@" not in text:
            return []
        return [
            Span(m.start(), m.end(), EMAIL, source=self.name)
            for m in EMAIL_RE.finditer(text)
            if ".." not in m.group()
        ]
