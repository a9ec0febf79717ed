"""SSN: ``123-45-6789``, ``123 45 6789``, ``123456789`` with the SSA's structural rules.

Area not 000, 666 or 9xx; group not 00; serial not 0000; the two separators agree; not preceded
by ``#``/``$``/a currency sign (order numbers, amounts) nor inside a longer number or code.
"""

from __future__ import annotations

import re

from privtune.pii.spans import SSN, Span

SSN_RE = re.compile(
    # the first digit is matched before the look-behinds (which then look one character further
    # back): a pattern that starts with a digit lets the regex engine skip ahead to digits in C
    r"(?P<area>\d(?<![\w#$€£/.-]\d)(?<![#$]\s\d)(?<!\d\s\d)\d{2})"
    r"(?P<sep>[- ]?)(?P<group>\d{2})(?P=sep)(?P<serial>\d{4})"
    r"(?!\w)(?![-./]\d)"
)


def ssn_is_valid(area: str, group: str, serial: str) -> bool:
    """SSA structural rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


class SsnRecognizer:
    name = "ssn"
    types = (SSN,)

    def find(self, text: str) -> list[Span]:
        return [
            Span(m.start(), m.end(), SSN, source=self.name)
            for m in SSN_RE.finditer(text)
            if ssn_is_valid(m.group("area"), m.group("group"), m.group("serial"))
        ]
