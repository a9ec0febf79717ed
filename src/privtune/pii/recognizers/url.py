"""URL: ``http(s)://`` and ``ftp://`` links, ``www.`` hosts, and bare ``host.tld/path`` links.

Never inside an e-mail address (no ``@`` before the host, no match in ``name@host.com``).
Trailing sentence punctuation (``.``, ``,``, ``)``, ``!``, ``?``) is left outside.
A bare host needs a path and a common top-level domain, so ``v2.3.1`` or ``file.txt`` stay clean.
"""

from __future__ import annotations

import re

from privtune.pii.spans import URL, Span

_TLDS = "com|org|net|edu|gov|io|co|uk|de|fr|nl|es|it|eu|us|ca|au|info|biz|app|dev|ai|me|ly"
URL_RE = re.compile(
    rf"""
    (?<![\w@.%+-])
    (?:
        (?:https?|ftp)://[^\s<>"'@]+(?:@[^\s<>"']+)?
      | www\.[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:[/?#][^\s<>"']*)?
      | [A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:{_TLDS})/[^\s<>"']*
    )
    """,
    re.X | re.I,
)
#: Every URL holds ``://``, ``www.`` or ``.tld/`` (any case): texts with none are skipped.
_TLD_SLASH = re.compile(rf"\.(?:{_TLDS})/", re.I)
_TRAIL = ".,;:!?)]}'\""


class UrlRecognizer:
    name = "url"
    types = (URL,)

    def find(self, text: str) -> list[Span]:
        if "://" not in text and "www." not in text.lower() and not _TLD_SLASH.search(text):
            return []
        out = []
        for m in URL_RE.finditer(text):
            start, end = m.span()
            while end > start and text[end - 1] in _TRAIL:
                if text[end - 1] == ")" and text.count("(", start, end) >= text.count(")", start, end):
                    break
                end -= 1
            if end - start > 4 and (end >= len(text) or text[end] != "@"):
                out.append(Span(start, end, URL, source=self.name))
        return out
