"""The de-identification policy: a validated YAML file saying what happens to every column,
every entity type found in free text, and which privacy model the result must satisfy.

Shape (see ``configs/deid-policy.yaml`` and ``docs/deid.md``)::

    version: 1
    person_column: employee_id          # the column that says whose row it is
    columns:                            # per column (or JSONL field) name, in any table
      employee_id: {operator: pseudonymize, kind: EMP}
      salary: {operator: generalize, method: band, width: 10000, rename: salary_band}
      department: {class: quasi_identifier, operator: keep}   # class override
    defaults:                           # per column class, for columns not listed above
      direct_identifier: {operator: drop}
      free_text: {operator: text}
    entities:                           # per entity type found in free text
      PERSON: {operator: surrogate}
      default: {operator: redact}
    privacy: {k: 5, l: 2, quasi_identifiers: [...], sensitive: [...], max_suppression: 0.1}

Every operator spec is a pydantic model selected by ``operator``; a bad policy is a
:class:`~privtune.errors.ConfigError` naming the key and the allowed values.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from privtune.config import StrictModel, read_yaml
from privtune.errors import ConfigError
from privtune.pii.columns import COLUMN_CLASSES
from privtune.pii.spans import ENTITY_TYPES

ColumnKind = Literal["direct_identifier", "quasi_identifier", "sensitive", "free_text", "non_personal"]
SURROGATE_KINDS = ("auto", "name", "first_name", "last_name", "email", "phone", "ssn", "address", "iban")
GENERALIZE_METHODS = ("year", "month", "age_band", "zip3", "band", "prefix")


class _Op(StrictModel):
    rename: str | None = None  # output column name (columns only)


class DropOp(_Op):
    """Remove the column (or, for an entity in text, the span without a trace)."""

    operator: Literal["drop"]


class KeepOp(_Op):
    """Keep the value as it is."""

    operator: Literal["keep"]


class RedactOp(_Op):
    """Replace with a placeholder; ``{type}`` is the entity type (or ``REDACTED`` in columns)."""

    operator: Literal["redact"]
    placeholder: str = "[{type}]"


class MaskOp(_Op):
    """Mask letters and digits with ``char``, keeping the first/last N of them (separators stay)."""

    operator: Literal["mask"]
    keep_last: int = Field(default=4, ge=0)
    keep_first: int = Field(default=0, ge=0)
    char: str = Field(default="*", min_length=1, max_length=1)


class PseudonymizeOp(_Op):
    """``KIND-`` + 10 hex of HMAC-SHA256(workspace key, person key): the same person, the same
    token in every table and text (the hex part does not depend on ``kind``)."""

    operator: Literal["pseudonymize"]
    kind: str = Field(default="ID", pattern=r"^[A-Z][A-Z0-9]{0,15}$")


class SurrogateOp(_Op):
    """A realistic fake value seeded by the keyed hash of the person: the same person gets the
    same fake name (and a matching e-mail) wherever and however their name is written.

    ``person``: whose surrogate a column holds: ``row`` (the row's ``person_column``) or ``value``
    (the cell itself names the person, e.g. an emergency contact). ``locale``: the Faker locale
    of fake names, e-mails, addresses and IBANs (phones and SSNs are US forms)."""

    operator: Literal["surrogate"]
    entity: Literal["auto", "name", "first_name", "last_name", "email", "phone", "ssn", "address", "iban"] = "auto"
    person: Literal["row", "value"] = "row"
    locale: str = "en_US"

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, v: str) -> str:
        from faker.config import AVAILABLE_LOCALES

        if v not in AVAILABLE_LOCALES:
            raise ValueError("unknown Faker locale; e.g. en_US, en_GB, de_DE, fr_FR, es_ES")
        return v


class GeneralizeOp(_Op):
    """Coarser values: ``year``/``month`` of a date, ``age_band`` (``width`` years at
    ``reference_date``), ``zip3`` (with ``hipaa: true`` the 17 restricted prefixes become
    ``000``), ``band`` of a number (``width``; ``80k-90k``), ``prefix`` (first ``width`` chars)."""

    operator: Literal["generalize"]
    method: Literal["year", "month", "age_band", "zip3", "band", "prefix"]
    width: int = Field(default=10, ge=1)
    hipaa: bool = False
    reference_date: dt.date | None = None


class DateShiftOp(_Op):
    """Shift dates by a keyed per-person offset in ``[-max_days, max_days]`` (never 0): intervals
    between one person's dates survive, calendar dates do not."""

    operator: Literal["date_shift"]
    max_days: int = Field(default=180, ge=1, le=3650)


class SuppressOp(_Op):
    """Replace the value by null (columns) or remove it (text)."""

    operator: Literal["suppress"]


class TextOp(_Op):
    """Free text: find personal data (``privtune.pii.detect``) and apply the ``entities`` rules."""

    operator: Literal["text"]


OperatorSpec = Annotated[
    DropOp | KeepOp | RedactOp | MaskOp | PseudonymizeOp | SurrogateOp | GeneralizeOp | DateShiftOp | SuppressOp | TextOp,
    Field(discriminator="operator"),
]
OPERATORS: tuple[str, ...] = ("drop", "keep", "redact", "mask", "pseudonymize", "surrogate",
                              "generalize", "date_shift", "suppress", "text")


class ColumnRule(StrictModel):
    """One column: an optional class override and an optional operator (else the class default)."""

    class_: ColumnKind | None = Field(default=None, alias="class")
    op: OperatorSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        out: dict[str, Any] = {}
        if "class" in data:
            out["class"] = data.pop("class")
        if data:
            out["op"] = data
        return out


class Hierarchy(StrictModel):
    """Generalisation levels of one quasi-identifier for the k-anonymity search (level 0 is the
    value itself, the last level is ``*``): ``band`` (numbers, ``widths``), ``prefix`` (strings
    such as ZIPs, ``lengths``), ``date`` (ISO dates: month, year, then ``widths`` year bands),
    ``categorical`` (value, then ``*``)."""

    type: Literal["band", "prefix", "date", "categorical"]
    widths: list[int] = Field(default_factory=list)
    lengths: list[int] = Field(default_factory=list)


class PrivacyModel(StrictModel):
    """The privacy model the de-identified person table must satisfy."""

    table: str = "employees"
    k: int = Field(default=5, ge=1)
    l: int = Field(default=1, ge=1)  # noqa: E741 - the name of the model
    quasi_identifiers: list[str] | None = None  # output names; None: columns classed quasi_identifier
    sensitive: list[str] | None = None  # None: columns classed sensitive
    max_suppression: float = Field(default=0.05, ge=0.0, le=1.0)
    search: bool = True
    hierarchies: dict[str, Hierarchy] = Field(default_factory=dict)


class DeidPolicy(StrictModel):
    """A whole de-identification policy (see the module docstring)."""

    version: Literal[1] = 1
    person_column: str = "employee_id"
    columns: dict[str, ColumnRule] = Field(default_factory=dict)
    defaults: dict[ColumnKind, OperatorSpec] = Field(default_factory=dict)
    entities: dict[str, OperatorSpec] = Field(default_factory=dict)
    privacy: PrivacyModel = Field(default_factory=PrivacyModel)

    @field_validator("entities")
    @classmethod
    def _known_entities(cls, v: dict[str, Any]) -> dict[str, Any]:
        allowed = (*ENTITY_TYPES, "default")
        for name in v:
            if name not in allowed:
                raise ValueError(f"unknown entity type; allowed: {', '.join(allowed)}")
        return v

    # -------------------------------------------------------------- lookups

    def rule(self, column: str, role: str | None = None) -> ColumnRule | None:
        """The rule for ``column``: by its own name, else by its role in the schema mapping
        (``salary:`` applies to a column ``Gehalt`` mapped to the role salary)."""
        rule = self.columns.get(column)
        if rule is None and role is not None:
            rule = self.columns.get(role)
        return rule

    def column_class(self, column: str, role: str | None = None) -> str | None:
        rule = self.rule(column, role)
        return rule.class_ if rule is not None else None

    def column_op(self, column: str, kind: str, role: str | None = None) -> Any:
        """The operator for ``column`` of class ``kind``: explicit rule (by name, else by
        role), else class default."""
        rule = self.rule(column, role)
        if rule is not None and rule.op is not None:
            return rule.op
        if kind in self.defaults:
            return self.defaults[kind]
        return _BUILTIN_DEFAULTS[kind]

    def entity_op(self, entity: str) -> Any:
        return self.entities.get(entity) or self.entities.get("default") or RedactOp(operator="redact")


#: Safe fall-backs per column class when a policy names none: identifiers go, text is scrubbed.
_BUILTIN_DEFAULTS: dict[str, Any] = {
    "direct_identifier": DropOp(operator="drop"),
    "quasi_identifier": KeepOp(operator="keep"),
    "sensitive": KeepOp(operator="keep"),
    "free_text": TextOp(operator="text"),
    "non_personal": KeepOp(operator="keep"),
}
assert set(_BUILTIN_DEFAULTS) == set(COLUMN_CLASSES)

DEFAULT_POLICY_PATH = Path(__file__).parent.parent / "configs" / "deid-policy.yaml"


def load_policy(path: str | Path | None = None) -> DeidPolicy:
    """Read and validate a policy file (``None``: the shipped default policy)."""
    p = Path(path) if path is not None else DEFAULT_POLICY_PATH
    return parse_policy(read_yaml(p), source=str(p))


def parse_policy(data: dict[str, Any], *, source: str = "policy") -> DeidPolicy:
    """Validate a policy mapping; the first problem becomes a ConfigError naming key and choices."""
    try:
        return DeidPolicy.model_validate(data)
    except ValidationError as exc:
        raise _policy_error(exc, source) from None


def _policy_error(exc: ValidationError, source: str) -> ConfigError:
    err = exc.errors()[0]
    raw = [str(p) for p in err["loc"]]
    tags = [p for p in raw if p in _UNION_TAGS]
    loc = [p for p in raw if p not in _UNION_TAGS]
    loc = [p for p in loc if p != "op"]
    key = ".".join(loc) or "policy"
    etype = err["type"]
    ctx = err.get("ctx") or {}
    if etype in ("union_tag_invalid", "union_tag_not_found"):
        msg = f"'operator' must be one of: {', '.join(OPERATORS)}"
        key = key + ".operator" if not key.endswith("operator") else key
    elif etype == "extra_forbidden":
        msg = "unknown key"
        parent = operator_fields(tags[-1]) if tags else _allowed_keys(loc)
        if parent:
            msg += f"; allowed keys here: {', '.join(parent)}"
    elif "expected" in ctx:
        msg = f"must be one of {ctx['expected']}"
    else:
        msg = err["msg"].removeprefix("Value error, ")
    return ConfigError(f"{source}: invalid policy key '{key}': {msg}", key=key)


_UNION_TAGS = set(OPERATORS)
_OP_MODELS = {m.model_fields["operator"].annotation.__args__[0]: m  # type: ignore[union-attr]
              for m in (DropOp, KeepOp, RedactOp, MaskOp, PseudonymizeOp, SurrogateOp, GeneralizeOp,
                        DateShiftOp, SuppressOp, TextOp)}


def _allowed_keys(loc: list[str]) -> list[str]:
    if len(loc) == 1:
        return sorted(DeidPolicy.model_fields)
    if loc[0] == "privacy":
        if len(loc) == 2:
            return sorted(PrivacyModel.model_fields)
        return sorted(Hierarchy.model_fields)
    return []


def operator_fields(name: str) -> list[str]:
    """The parameter names an operator accepts (for documentation and error messages)."""
    return sorted(_OP_MODELS[name].model_fields)
