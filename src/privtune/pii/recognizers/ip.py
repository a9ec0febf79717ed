"""IP_ADDRESS: dotted-quad IPv4 (each octet 0-255, no leading zeros) and IPv6 (validated by
:mod:`ipaddress`, compressed ``::`` forms included).

Version strings stay clean: a quad right after ``v``/``version``/``release`` is skipped, and a
quad inside a longer dotted number (``1.2.3.4.5``) does not match.
"""

from __future__ import annotations

import ipaddress
import re

from privtune.pii.scan import Bounded
from privtune.pii.spans import IP_ADDRESS, Span

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
#: Not after a word character or a dot (which also rules out a longer dotted number before it);
#: scanned from the characters that may precede a quad (:class:`~privtune.pii.scan.Bounded`).
QUADS = Bounded(r"\w.", rf"{_OCTET}(?:\.{_OCTET}){{3}}(?![\w.]\w|\.\d|\w)", first=r"\d")
IPV4_RE = QUADS.pattern
IPV6_RE = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)"
    r"(?:[0-9A-Fa-f:]{2,29}:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]{2,39})(?![\w:])(?!\.\d)"
)
_VERSION_CUE = re.compile(r"(?:\bv|\bversion\s*|\brelease\s*|\bbuild\s*)$", re.I)


class IpRecognizer:
    name = "ip"
    types = (IP_ADDRESS,)

    def find(self, text: str) -> list[Span]:
        v6: list[Span] = []
        if "::" in text or text.count(":") >= 2:
            for m in IPV6_RE.finditer(text):
                value = m.group()
                if value.count(":") < 2:
                    continue
                try:
                    ipaddress.IPv6Address(value)
                except ValueError:
                    continue
                if re.fullmatch(r"[\d:]+", value) and "::" not in value:  # 10:30:00 is a time
                    continue
                v6.append(Span(m.start(), m.end(), IP_ADDRESS, source=self.name))
        out = list(v6)
        if "." in text:
            for start, end, _ in QUADS.spans(text):
                if _VERSION_CUE.search(text, max(0, start - 10), start):
                    continue
                if any(s.start <= start and end <= s.end for s in v6):
                    continue
                out.append(Span(start, end, IP_ADDRESS, source=self.name))
        return out
