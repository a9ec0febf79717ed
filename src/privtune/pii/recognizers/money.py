"""MONEY: amounts with a currency sign, code or word, and shorthand thousands.

``$85,000``, ``$ 85,000.00``, ``US$85k``, ``85,000 USD``, ``USD 85,000``, ``EUR 4.500``,
``€4,500``, ``£30k``, ``$42.50`` (of ``$42.50/hour``), ``85k``, ``85K``, ``$1.2M``, ``1.2 million
dollars``, ``85,000 dollars``. A bare number is never money; ``3 days`` or ``v2`` stay clean.
"""

from __future__ import annotations

import re

from privtune.pii.spans import MONEY, Span

_AMOUNT = r"(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:\.\d{3})+(?!\d)|\d+)(?:[.,]\d{1,2})?"
_SCALE = r"(?:[ ]?(?:[kKmM]|bn)(?![a-zA-Z])|[ ](?:thousand|million|billion)(?![a-zA-Z]))"
_CODES = r"(?:USD|EUR|GBP|CHF|CAD|AUD)"
MONEY_RE = re.compile(
    rf"""
    (?<![\w$€£.,])(?:
        (?:US|C|A)?[$€£][ ]?{_AMOUNT}{_SCALE}?
      | {_CODES}[ ]?{_AMOUNT}{_SCALE}?
      | {_AMOUNT}{_SCALE}?[ ]?(?:{_CODES}|dollars|euros|pounds)
      | \d{{1,4}}(?:\.\d{{1,2}})?[kK]
    )(?![\w])(?!,\d)(?!\.\d)
    """,
    re.X,
)


class MoneyRecognizer:
    name = "money"
    types = (MONEY,)

    def find(self, text: str) -> list[Span]:
        return [Span(m.start(), m.end(), MONEY, source=self.name) for m in MONEY_RE.finditer(text)]
