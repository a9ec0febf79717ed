"""DATE: calendar dates in the written forms HR texts use.

ISO ``1985-03-14`` and ``2024/03/14``; European ``14.03.1985`` / ``14-03-1985``; US
``3/14/1985``, ``3/4/19``; ``March 14, 1985``, ``Mar. 14th 1985``, ``May 5``; ``14 Mar 2024``,
``14th of March 1985``, ``14 March``; ``March 2023``; an optional weekday in front
(``Monday, March 8, 2023``); French, German, Spanish and Dutch day-first forms (``3 février 2025``,
``14. März 2025``, ``3 de marzo de 2025``, ``5 mei``); a time of day right after a date is part
of it (``1986-08-06 23:57:40.908386``, ``March 3, 2025 10:30 am``). Month names are matched capitalised or all upper case; a bare
month word (``may``) is never a date. Version strings, times and counts do not match.
"""

from __future__ import annotations

import re

from privtune.pii.scan import Bounded
from privtune.pii.spans import DATE, Span

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?"
    r"|JAN(?:UARY)?|FEB(?:RUARY)?|MAR(?:CH)?|APR(?:IL)?|MAY|JUNE?|JULY?|AUG(?:UST)?"
    r"|SEP(?:T(?:EMBER)?)?|OCT(?:OBER)?|NOV(?:EMBER)?|DEC(?:EMBER)?)"
)
_FOREIGN_MONTH = (
    r"(?:janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|decembre"
    r"|Januar|Februar|März|Maerz|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember"
    r"|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre"
    r"|januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december)"
)
_LONG_MONTH = r"(?:January|February|March|April|June|July|August|September|October|November|December)"
_WEEKDAY = r"(?:(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?\.?,?[ ])"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MON_NUM = r"(?:0?[1-9]|1[0-2])"
_YEAR4 = r"(?:19|20)\d{2}"
_ORD = r"(?:st|nd|rd|th)?"

_BODY = rf"""
    (?:
        {_YEAR4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])           # 1985-03-14
      | {_YEAR4}/(?:0?[1-9]|1[0-2])/{_DAY}                           # 2024/03/14
      | {_DAY}\.{_MON_NUM}\.(?:{_YEAR4}|\d{{2}}(?![\d.]))           # 14.03.1985 / 14.03.85
      | {_DAY}-{_MON_NUM}-{_YEAR4}                                   # 14-03-1985
      | {_MON_NUM}/{_DAY}/(?:{_YEAR4}|\d{{2}})                       # 3/14/1985, 3/4/19
      | {_WEEKDAY}?{_MONTH}\.?[ ]{_DAY}{_ORD}(?:,?[ ]{_YEAR4})?       # March 14, 1985 / May 5
      | {_WEEKDAY}?{_DAY}{_ORD}[ ](?:of[ ])?{_MONTH}\.?,?(?:[ ]{_YEAR4})?  # 14 Mar 1985 / 14th of March
      | {_DAY}\.?[ ](?:de[ ])?{_FOREIGN_MONTH}(?:[ ](?:de[ ])?{_YEAR4})?   # 3 février 2025, 14. März, 3 de marzo de 2025
      | {_LONG_MONTH}[ ]{_YEAR4}                                     # March 2023
    )(?:[ T](?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{{1,6}})?)?(?:[ ]?(?:[AaPp][Mm]\b|[AaPp]\.[Mm]\.))?)?  # a time of day after the date
    (?![\w/-])(?!\.\d)(?!:\d)
    """
#: Not after a letter, digit, dot, slash or dash; scanned from the characters that may precede a
#: date (:class:`~privtune.pii.scan.Bounded`: the engine skips ahead in C). Every date starts
#: with a digit or a capital letter (a month, a weekday).
DATES = Bounded(r"\w./-", _BODY, re.X, first=r"\dA-Z")
DATE_RE = DATES.pattern


class DateRecognizer:
    name = "date"
    types = (DATE,)

    def find(self, text: str) -> list[Span]:
        return [Span(s, e, DATE, source=self.name) for s, e, _ in DATES.spans(text)]
