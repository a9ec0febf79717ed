"""Schema mapping: which column of an HR export plays which role (employee id, first name, ...).

An export from another HRIS names its columns its own way (``emp_id``, ``Vorname``,
``Legal_Last_Name``, ``tel``). :func:`infer_mapping` proposes a role for every column from its
name (the synonym table ``schema-synonyms.yaml``: English, German, French, Spanish, Dutch and
the field names of Workday, SAP SuccessFactors, BambooHR, Personio and ADP exports) and from a
sample of its values (the value patterns of :mod:`privtune.pii.columns`), with a confidence
and the evidence (never a value). ``privtune schema infer`` writes the proposal as YAML for the
user to review; ``ingest`` stores the reviewed mapping in the vault beside the tables, and every
later reader (the roster, the person index, the column classes of ``scan`` and
``deidentify``) asks the mapping for a role's column instead of assuming a column name.

Fail safe: a column the mapping cannot place gets the role ``unknown``, whose column class is
``free_text`` (scanned and scrubbed, never kept raw) until the user sets its role.

File shape::

    version: 1
    tables:
      employees:
        columns:
          emp_id: {role: employee_id, confidence: 0.9, evidence: "column name is a synonym ..."}
          remarks: {role: unknown, confidence: 0.0, evidence: "unplaced: ..."}
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import pyarrow as pa
import yaml
from pydantic import Field, ValidationError, field_validator

from privtune.config import StrictModel, read_yaml
from privtune.errors import ConfigError, InputError
from privtune.pii.columns import DIRECT, FREE_TEXT, NON_PERSONAL, QUASI, SENSITIVE, classify_column

Role = Literal[
    "employee_id", "first_name", "middle_name", "last_name", "full_name", "email", "phone",
    "national_id", "date_of_birth", "gender", "ethnicity", "marital_status", "address", "city",
    "state", "zip", "country", "hire_date", "termination_date", "department", "job_title",
    "manager_id", "salary", "bonus", "performance_rating", "leave_days_taken", "medical", "iban",
    "emergency_contact_name", "emergency_contact_relation", "emergency_contact_phone",
    "free_text", "record_id", "leave_type", "start_date", "end_date", "created_at", "category",
    "unknown",
]
ROLES: tuple[str, ...] = get_args(Role)

#: The column class each role implies (``unknown``: sensitive free text until the user says).
ROLE_CLASS: dict[str, str] = {
    **dict.fromkeys(("employee_id", "first_name", "middle_name", "last_name", "full_name", "email",
                     "phone", "national_id", "address", "iban", "manager_id",
                     "emergency_contact_name", "emergency_contact_relation",
                     "emergency_contact_phone"), DIRECT),
    **dict.fromkeys(("date_of_birth", "gender", "marital_status", "city", "state", "zip",
                     "country", "hire_date", "termination_date", "department", "job_title",
                     "start_date", "end_date", "created_at"), QUASI),
    **dict.fromkeys(("ethnicity", "salary", "bonus", "performance_rating", "leave_days_taken",
                     "medical", "leave_type"), SENSITIVE),
    **dict.fromkeys(("free_text", "unknown"), FREE_TEXT),
    **dict.fromkeys(("record_id", "category"), NON_PERSONAL),
}
assert set(ROLE_CLASS) == set(ROLES)

#: Roles whose cells name a person (the roster and the surrogate exclusions read them).
PERSON_NAME_ROLES = ("first_name", "middle_name", "last_name", "full_name", "emergency_contact_name")
#: A usable person table needs an id column and a name column.
NAME_ROLES = ("full_name", "first_name", "last_name")
#: The mapping file ``privtune schema infer`` writes into the export directory by default.
MAPPING_FILE = "privtune-mapping.yaml"
#: The vault object ingest stores the completed mapping in (column names and roles, no values).
MAPPING_OBJECT = "schema-mapping"

SYNONYMS_PATH = Path(__file__).with_name("schema-synonyms.yaml")
EXACT, PARTIAL, BY_VALUE = 0.9, 0.5, 0.7
_MIN_PARTIAL = 6  # a synonym shorter than this never matches inside a longer name
_VALUE_ROLE = {"EMAIL": "email", "PHONE": "phone", "SSN": "national_id", "IBAN": "iban",
               "EMPLOYEE_ID": "employee_id"}


class ColumnRole(StrictModel):
    """One column's role, how sure the proposal is, and why (never a value)."""

    role: Role
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    evidence: str = "set by the user"

    @field_validator("confidence")
    @classmethod
    def _round(cls, v: float) -> float:
        return round(v, 2)


class TableMapping(StrictModel):
    """The roles of one table's columns (or of one set of text records' fields)."""

    columns: dict[str, ColumnRole] = Field(default_factory=dict)

    def role(self, column: str) -> str | None:
        c = self.columns.get(column)
        return c.role if c is not None else None

    def column(self, role: str) -> str | None:
        """The column holding ``role`` (the most confident one when several do)."""
        hits = [(c.confidence, name) for name, c in self.columns.items() if c.role == role]
        return max(hits, key=lambda h: h[0])[1] if hits else None

    def columns_of(self, *roles: str) -> list[str]:
        """Every column holding one of ``roles``, in table order."""
        return [name for name, c in self.columns.items() if c.role in roles]

    def value(self, row: Mapping[str, Any], role: str) -> str | None:
        """The stripped cell of ``row`` under ``role``'s column, or ``None``."""
        col = self.column(role)
        v = row.get(col) if col is not None else None
        if v is None or isinstance(v, bool):
            return None
        text = str(v).strip()
        return text or None


    def restricted(self, columns: Sequence[str]) -> TableMapping:
        """This mapping with only the columns in ``columns`` (another version of the table may
        lack some)."""
        keep = set(columns)
        return TableMapping(columns={n: c for n, c in self.columns.items() if n in keep})


class SchemaMapping(StrictModel):
    """A whole export's mapping: ``tables`` by name (employees, leave, reviews, tickets)."""

    version: Literal[1] = 1
    tables: dict[str, TableMapping] = Field(default_factory=dict)

    def table(self, name: str) -> TableMapping:
        return self.tables.get(name) or TableMapping()


# ---------------------------------------------------------------- the synonym table


def normalise(name: str) -> str:
    """``"Geburts-Datum"`` -> ``"geburtsdatum"``: lower case, no accents, letters and digits."""
    folded = unicodedata.normalize("NFKD", name.casefold().replace("ß", "ss"))
    return re.sub(r"[^a-z0-9]", "", "".join(c for c in folded if not unicodedata.combining(c)))


@functools.cache
def synonyms() -> dict[str, str]:
    """``{normalised synonym: role}`` from ``schema-synonyms.yaml`` (checked once)."""
    data = yaml.safe_load(SYNONYMS_PATH.read_text(encoding="utf-8")) or {}
    out: dict[str, str] = {}
    for role, names in data.items():
        if role not in ROLES:
            raise ConfigError(f"{SYNONYMS_PATH.name}: unknown role", key=str(role))
        for n in names:
            key = normalise(str(n))
            if key in out and out[key] != role:
                raise ConfigError(f"{SYNONYMS_PATH.name}: synonym listed under two roles", key=key)
            out[key] = role
    return out


def role_by_name(column: str) -> tuple[str, float, str] | None:
    """``(role, confidence, evidence)`` from the column name alone, or ``None``."""
    key = normalise(column)
    table = synonyms()
    if key in table:
        return table[key], EXACT, f"column name is a known synonym of {table[key]}"
    partial = [(len(s), s, r) for s, r in table.items() if len(s) >= _MIN_PARTIAL and s in key]
    if partial:
        _n, syn, role = max(partial)
        return role, PARTIAL, f"column name contains '{syn}', a synonym of {role}"
    return None


# ---------------------------------------------------------------- inference


def infer_column(name: str, sample: Sequence[object]) -> ColumnRole:
    """The proposed role of one column from its name and a sample of its values."""
    by_name = role_by_name(name)
    found = classify_column("", list(sample))  # value evidence only (no name given)
    value_role: str | None = None
    if "sampled values are" in found.evidence:
        kind = found.evidence.rsplit(" ", 1)[-1]
        value_role = _VALUE_ROLE.get(kind)
    elif found.kind == FREE_TEXT:
        value_role = "free_text"
    if by_name is not None:
        role, conf, why = by_name
        if value_role is None:
            return ColumnRole(role=role, confidence=conf, evidence=why)
        if value_role == role:
            return ColumnRole(role=role, confidence=min(0.99, conf + 0.09 if conf == EXACT else 0.8),
                              evidence=f"{why}; values agree ({found.evidence})")
        if ROLE_CLASS[role] == DIRECT and value_role != "free_text":
            return ColumnRole(role=role, confidence=conf * 0.8,
                              evidence=f"{why}; values look like {value_role} ({found.evidence})")
        return ColumnRole(role=value_role, confidence=0.6,
                          evidence=f"values say {value_role} ({found.evidence}); the name suggested {role}")
    if value_role is not None:
        return ColumnRole(role=value_role, confidence=BY_VALUE, evidence=found.evidence)
    return ColumnRole(role="unknown", confidence=0.0,
                      evidence="unplaced: treated as sensitive free text (scanned and scrubbed) "
                               "until you set its role")


def infer_table(columns: Mapping[str, Sequence[object]]) -> TableMapping:
    """Roles of every column of one table, ``{column: sample of values}``."""
    return TableMapping(columns={name: infer_column(name, sample) for name, sample in columns.items()})


def table_samples(table: pa.Table, size: int = 200) -> dict[str, list[object]]:
    """``{column: up to size values spread over the table}`` (not only its head)."""
    n = table.num_rows
    idx = list(range(0, n, max(1, n // size)))[:size] if n else []
    return {c: table.column(c).take(idx).to_pylist() if idx else [] for c in table.column_names}


def record_samples(records: Sequence[Mapping[str, Any]], size: int = 200) -> dict[str, list[object]]:
    """``{field: values}`` of text records, fields in first-seen order."""
    fields: dict[str, list[object]] = {}
    step = max(1, len(records) // size)
    for rec in list(records)[::step][:size]:
        for k, v in rec.items():
            fields.setdefault(k, []).append(v)
    return fields


def rows_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Rows (dicts) as an all-string table, columns in first-seen order."""
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    return pa.table({n: pa.array([None if r.get(n) is None else str(r[n]) for r in rows], pa.string())
                     for n in names})


def mapping_for_table(table: pa.Table, mapping: TableMapping | None = None) -> TableMapping:
    """``mapping`` completed for ``table``: columns it lacks are inferred (fail safe)."""
    mapping = mapping or TableMapping()
    missing = [c for c in table.column_names if c not in mapping.columns]
    if not missing:
        return mapping
    inferred = infer_table({c: s for c, s in table_samples(table).items() if c in missing})
    return TableMapping(columns={**mapping.columns, **inferred.columns})


def mapping_for_records(records: Sequence[Mapping[str, Any]],
                        mapping: TableMapping | None = None) -> TableMapping:
    """``mapping`` completed for text records: the roles of the fields it does not name are
    inferred from their names and values (fail safe), its own roles win."""
    inferred = infer_table(record_samples(records))
    return TableMapping(columns={**inferred.columns, **(mapping or TableMapping()).columns})


def check_person_table(mapping: TableMapping, mapping_path: str | Path, table_path: str | Path) -> None:
    """Raise :class:`SchemaMappingError` when no id or no name column is mapped."""
    if mapping.column("employee_id") is None:
        raise SchemaMappingError(
            "no employee id column found; set `role: employee_id` on the column that identifies "
            f"each person in the mapping file {mapping_path} (write it with `privtune schema "
            "infer EXPORT`) and ingest again with --mapping", mapping_path=mapping_path,
            table_path=table_path, role="employee_id")
    if not mapping.columns_of(*NAME_ROLES):
        raise SchemaMappingError(
            "no name column found; set `role: full_name` (or first_name and last_name) on the "
            f"name columns in the mapping file {mapping_path} (write it with `privtune schema "
            "infer EXPORT`) and ingest again with --mapping", mapping_path=mapping_path,
            table_path=table_path, role="full_name")


class SchemaMappingError(InputError):
    """The export cannot be used as the mapping stands; names the mapping file to edit."""

    def __init__(self, message: str, *, mapping_path: str | Path, table_path: str | Path,
                 role: str) -> None:
        super().__init__(message, path=table_path, field=role)
        self.mapping_path = str(mapping_path)
        self.role = role


# ---------------------------------------------------------------- files


def load_mapping(path: str | Path) -> SchemaMapping:
    """Read and validate a mapping file; a bad one is a :class:`ConfigError` naming the key."""
    return parse_mapping(read_yaml(path), source=str(path))


def parse_mapping(data: Any, *, source: str = "mapping") -> SchemaMapping:
    try:
        return SchemaMapping.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "mapping"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "literal_error" and key.endswith(".role"):
            msg = "unknown role; allowed: " + ", ".join(ROLES)
        raise ConfigError(f"{source}: invalid mapping key '{key}': {msg}", key=key) from None


def dump_mapping(mapping: SchemaMapping) -> str:
    """The mapping as reviewable YAML (a header says how to use it)."""
    head = ("# privtune schema mapping: one role per column (roles: privtune/pii/mapping.py, docs/ingest.md).\n"
            "# Review every role (low confidence first), then: privtune ingest EXPORT --mapping THIS_FILE\n"
            "# A column left as `unknown` is treated as sensitive free text (scanned, scrubbed).\n")
    return head + yaml.safe_dump(mapping.model_dump(mode="json"), sort_keys=False, allow_unicode=True,
                                 width=120)
