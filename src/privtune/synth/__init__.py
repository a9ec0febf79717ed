"""privtune.synth: a seeded, reproducible synthetic HR company for demos, tests and benchmarks.

``generate_company(n, seed, out_dir, fmt=...)`` writes employees and leave tables (csv, jsonl or
parquet), performance reviews and HR tickets with planted personal data (JSONL), the exact
ground-truth spans of that data, markdown HR policies and a ``company.json`` manifest.
``generic_hr_corpus(seed, n)`` returns non-personal HR prose for pre-training a tiny model.
Same seed, same bytes; nothing depends on the clock (``TODAY`` is fixed at 2026-06-30).
"""

from __future__ import annotations

from privtune.synth.company import MANIFEST, CompanyFiles, company_identity, generate_company
from privtune.synth.corpus import generic_hr_corpus
from privtune.synth.identifiers import iban_checksum_ok, ssn_is_valid
from privtune.synth.tables import EMPLOYEE_SCHEMA, FORMATS, LEAVE_SCHEMA, read_jsonl, read_table
from privtune.synth.vocab import (
    COMMON_WORD_NAMES,
    DECOY_PATTERNS,
    EMPLOYEE_COLUMNS,
    LEAVE_COLUMNS,
    LEAVE_TYPES,
    PII_TYPES,
    REVIEW_PERIOD,
    SCHEMA_VERSION,
    TICKET_CATEGORIES,
    TODAY,
)

__all__ = [
    "COMMON_WORD_NAMES",
    "DECOY_PATTERNS",
    "EMPLOYEE_COLUMNS",
    "EMPLOYEE_SCHEMA",
    "FORMATS",
    "LEAVE_COLUMNS",
    "LEAVE_SCHEMA",
    "LEAVE_TYPES",
    "MANIFEST",
    "PII_TYPES",
    "REVIEW_PERIOD",
    "SCHEMA_VERSION",
    "TICKET_CATEGORIES",
    "TODAY",
    "CompanyFiles",
    "company_identity",
    "generate_company",
    "generic_hr_corpus",
    "iban_checksum_ok",
    "read_jsonl",
    "read_table",
    "ssn_is_valid",
]
