"""MONEY: amounts with a currency sign, code or word, and shorthand thousands.

``$85,000``, ``$ 85,000.00``, ``US$85k``, ``85,000 USD``, ``USD 85,000``, ``EUR 4.500``,
``€4,500``, ``£30k``, ``$42.50`` (of ``$42.50/hour``), ``85k``, ``85K``, ``$1.2M``, ``1.2 million
dollars``, ``85,000 dollars``. A bare number is never money; ``3 days`` or ``v2`` stay clean.
"""

from __future__ import annotations

import re

from privtune.pii.scan import Bounded
from privtune.pii.spans import MONEY, Span

_AMOUNT = r"(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:\.\d{3})+(?!\d)|\d+)(?:[.,]\d{1,2})?"
_SCALE = r"(?:[ ]?(?:[kKmM]|bn)(?![a-zA-Z])|[ ](?:thousand|million|billion)(?![a-zA-Z]))"
_CODES = r"(?:USD|EUR|GBP|CHF|CAD|AUD)"
_BODY = rf"""
    (?:
        (?:US|C|A)?[$€£][ ]?{_AMOUNT}{_SCALE}?
      | {_CODES}[ ]?{_AMOUNT}{_SCALE}?
      | {_AMOUNT}{_SCALE}?[ ]?(?:{_CODES}|dollars|euros|pounds)
      | \d{{1,4}}(?:\.\d{{1,2}})?[kK]
    )(?![\w])(?!,\d)(?!\.\d)
    """
#: Not after a word character, a currency sign, a dot or a comma; scanned from the characters
#: that may precede an amount (:class:`~privtune.pii.scan.Bounded`). An amount starts with a
#: digit, a currency sign or a currency code's first letter.
AMOUNTS = Bounded(r"\w$€£.,", _BODY, re.X, first=r"\d$€£UCAEG")
MONEY_RE = AMOUNTS.pattern


class MoneyRecognizer:
    name = "money"
    types = (MONEY,)

    def find(self, text: str) -> list[Span]:
        return [Span(s, e, MONEY, source=self.name) for s, e, _ in AMOUNTS.spans(text)]
