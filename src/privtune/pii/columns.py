"""Classify the columns of a table by how personal they are.

Classes (:data:`COLUMN_CLASSES`):

* ``direct_identifier``: identifies a person on its own (name, e-mail, phone, SSN, address,
  IBAN, employee id, emergency contact),
* ``quasi_identifier``: identifies in combination (birth date, gender, zip, city, hire date,
  department, job title),
* ``sensitive``: special-category or confidential attributes (salary, health, ethnicity,
  performance),
* ``free_text``: prose that may mention anyone,
* ``non_personal``: none of the above.

Evidence comes from the column name first, then from a sample of values run through the
pattern detectors; a sample in which most values *are* an e-mail / phone / SSN / IBAN makes
the column a direct identifier whatever its name. Evidence strings name patterns and
fractions, never values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from privtune.pii.patterns import find_patterns
from privtune.pii.spans import DATE, EMAIL, EMPLOYEE_ID, IBAN, PHONE, SSN

DIRECT = "direct_identifier"
QUASI = "quasi_identifier"
SENSITIVE = "sensitive"
FREE_TEXT = "free_text"
NON_PERSONAL = "non_personal"
COLUMN_CLASSES: tuple[str, ...] = (DIRECT, QUASI, SENSITIVE, FREE_TEXT, NON_PERSONAL)

# (class, what the name suggests, name pattern); first match wins. Names are lower-cased before matching.
_NAME_RULES: tuple[tuple[str, str, str], ...] = (
    (DIRECT, "a person's name", r"(^|_)(first|last|middle|full|given|family|sur|maiden)_?name$|^name$|^employee_name$"),
    (DIRECT, "an emergency contact", r"emergency_contact|next_of_kin"),
    (DIRECT, "an e-mail address", r"e_?mail"),
    (DIRECT, "a phone number", r"phone|mobile|cell|fax"),
    (DIRECT, "a national identifier", r"(^|_)(ssn|sin|nino|social_security|national_id|passport|tax_id|tin)($|_)"),
    (DIRECT, "a bank account", r"iban|account_number|bank_account|routing|credit_card"),
    (DIRECT, "an address", r"address|street"),
    (DIRECT, "a person identifier", r"(^|_)(employee|manager|reviewer|person|staff|user)_?id$"),
    (NON_PERSONAL, "a record identifier", r"^id$|(^|_)(leave|ticket|review|record|request|case)_?id$"),
    (SENSITIVE, "pay or health data", r"salary|bonus|pay|compensation|wage|income|medical|health|diagnos|disab"),
    (SENSITIVE, "a special-category or appraisal attribute", r"ethnic|race|religio|sexual|union|criminal|rating|performance|leave"),
    (QUASI, "a demographic attribute", r"birth|dob|(^|_)age($|_)|gender|(^|_)sex($|_)|marital|(^|_)zip|postal|postcode"),
    (QUASI, "a place or employment date", r"(^|_)(city|state|county|country|region)($|_)|hire|start_date|end_date"),
    (QUASI, "a role in the organisation", r"department|job_title|(^|_)title$|position|role|nationality"),
    (FREE_TEXT, "free text", r"(^|_)(text|comment|comments|notes?|description|body|message|feedback)$"),
)

_VALUE_DIRECT = (EMAIL, PHONE, SSN, IBAN, EMPLOYEE_ID)
SAMPLE_SIZE = 200
_MAJORITY = 0.5


@dataclass(frozen=True)
class ColumnClass:
    """How personal one column is, and why (``evidence`` never quotes values)."""

    kind: str
    evidence: str
    #: The text detector found identifiers in a column that would otherwise be kept raw: it is
    #: scrubbed as free text whatever the policy's rule for it says.
    scrub: bool = False


def classify_columns(table: pa.Table, sample_size: int = SAMPLE_SIZE) -> dict[str, ColumnClass]:
    """``{column: ColumnClass}`` for every column of ``table``."""
    return {
        name: classify_column(name, table.column(name).slice(0, sample_size).to_pylist())
        for name in table.column_names
    }


def classify_column(name: str, sample: list[object]) -> ColumnClass:
    """Classify one column from its name and a sample of its values."""
    values = [str(v).strip() for v in sample if v is not None and str(v).strip()]
    whole = [_whole_value_types(v) for v in values]
    by_value = _value_evidence(whole)
    if by_value is not None:
        return by_value
    lowered = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    for kind, label, pattern in _NAME_RULES:
        if re.search(pattern, lowered):
            return ColumnClass(kind, f"column name suggests {label}")
    if values and _is_prose(values):
        return ColumnClass(FREE_TEXT, f"sampled values average {_avg_words(values):.0f} words")
    if values and _fraction(whole, DATE) >= _MAJORITY:
        return ColumnClass(QUASI, f"{_fraction(whole, DATE):.0%} of {len(values)} sampled values are dates")
    return ColumnClass(NON_PERSONAL, "no identifying name pattern or value pattern")


def _whole_value_types(value: str) -> frozenset[str]:
    """Entity types of the patterns that match the whole of ``value``."""
    if len(value) > 64:
        return frozenset()
    return frozenset(s.type for s in find_patterns(value) if s.start == 0 and s.end == len(value))


def _value_evidence(whole: list[frozenset[str]]) -> ColumnClass | None:
    if not whole:
        return None
    for kind in _VALUE_DIRECT:
        frac = _fraction(whole, kind)
        if frac >= _MAJORITY:
            return ColumnClass(DIRECT, f"{frac:.0%} of {len(whole)} sampled values are {kind}")
    return None


def _fraction(whole: list[frozenset[str]], kind: str) -> float:
    return sum(kind in w for w in whole) / len(whole) if whole else 0.0


def _avg_words(values: list[str]) -> float:
    return sum(len(v.split()) for v in values) / len(values)


def _is_prose(values: list[str]) -> bool:
    return _avg_words(values) >= 8
