"""privtune.pii: find personal data in HR tables and texts.

Detection: validated pattern recognizers (:mod:`recognizers`, one per file), the company roster
(:mod:`roster`), a name gazetteer for people outside it and an optional NER backend, combined by
:class:`Detector` and :func:`detect`; :mod:`columns` classifies whole columns; :mod:`mapping`
says which column of an export plays which role (employee id, name, e-mail, ...). Replacing what
is found (tokens, surrogates, placeholders) is :mod:`privtune.deid`'s job.
"""

from privtune.pii.columns import COLUMN_CLASSES, ColumnClass, classify_column, classify_columns
from privtune.pii.detect import detect, iter_detect
from privtune.pii.detector import Detector
from privtune.pii.iban import iban_is_valid
from privtune.pii.patterns import DEFAULT_EMPLOYEE_ID_REGEX, PatternDetector, find_patterns
from privtune.pii.roster import Roster
from privtune.pii.spans import ENTITY_TYPES, Span, resolve_overlaps

__all__ = [
    "COLUMN_CLASSES",
    "DEFAULT_EMPLOYEE_ID_REGEX",
    "ENTITY_TYPES",
    "ColumnClass",
    "Detector",
    "PatternDetector",
    "Roster",
    "Span",
    "classify_column",
    "classify_columns",
    "detect",
    "find_patterns",
    "iban_is_valid",
    "iter_detect",
    "resolve_overlaps",
]
