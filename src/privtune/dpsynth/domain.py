"""The synthesiser's domain: which columns it models and the values each can take, fixed
before any row is read.

A marginal-based synthesiser counts combinations of values; the set of values must not come
from the data, or the domain itself leaks (a rare job title, a salary of 1.2 M). So every
column's domain is **data-independent**:

* categorical columns take the values of public knowledge for their schema role (genders, the
  EEO-1 ethnicity categories, US states, marital statuses, ratings 1-5, yes/no) or the values a
  user confirmed in a domain file (``--domains FILE``: departments, job titles); a value outside
  the domain falls into one ``(other)`` bucket, never into a new value;
* numeric and date columns (salary, bonus, leave days, birth and hire dates: tenure and age
  follow from them) are binned with fixed public bounds and widths, the bottom and top bins
  open (a salary of 1.2 M counts in the top bin ``>=400k``);
* direct identifiers (ids, names, contact data, the manager link), free text, places finer than
  a state and columns of an unknown role are left out: they are not synthesised at all (the
  synthetic rows get fresh ``SYN-`` ids).

The column roles come from the export's stored schema mapping (``schema-mapping``, which the
user reviewed at ingest). :func:`build_domain` is a pure function of the mapping, the table's
column names and the domain file: the same inputs give the same domain (tests check it).

Domain file shape (YAML)::

    columns:
      department: {values: [Engineering, Sales, Finance]}
      salary: {bounds: [0, 400000], width: 10000}
      hire_date: {bounds: [1980, 2027], width: 2}     # years
      notes: {drop: true}
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from privtune.errors import ConfigError, InputError

OTHER = "(other)"
MISSING = "(missing)"
ID_PREFIX = "SYN-"

US_STATES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
    "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
    "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
    "VT", "VA", "WA", "WV", "WI", "WY",
)

#: Public categorical domains by schema role.
PUBLIC_VALUES: dict[str, tuple[str, ...]] = {
    "gender": ("Female", "Male", "Non-binary"),
    # the US EEO-1 race/ethnicity categories
    "ethnicity": ("White", "Hispanic or Latino", "Black or African American", "Asian",
                  "Two or More Races", "American Indian or Alaska Native",
                  "Native Hawaiian or Other Pacific Islander", "Prefer not to say"),
    "marital_status": ("Single", "Married", "Domestic partnership", "Divorced", "Widowed"),
    "state": US_STATES,
    "performance_rating": ("1", "2", "3", "4", "5"),
    "medical": ("false", "true"),
}

#: The US Census Bureau's four regions (public), for grouping states.
US_REGIONS: dict[str, tuple[str, ...]] = {
    "Northeast": ("CT", "ME", "MA", "NH", "RI", "VT", "NJ", "NY", "PA"),
    "Midwest": ("IL", "IN", "MI", "OH", "WI", "IA", "KS", "MN", "MO", "NE", "ND", "SD"),
    "South": ("DE", "DC", "FL", "GA", "MD", "NC", "SC", "VA", "WV", "AL", "KY", "MS", "TN",
              "AR", "LA", "OK", "TX"),
    "West": ("AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY", "AK", "CA", "HI", "OR", "WA"),
}

#: Public groups of categorical values by schema role (value -> group name).
PUBLIC_GROUPS: dict[str, dict[str, str]] = {
    "state": {s: region for region, states in US_REGIONS.items() for s in states},
}

#: Public coarse widths by schema role: adjacent bins of one coarse width form a group.
PUBLIC_COARSE: dict[str, float] = {
    "salary": 40_000, "bonus": 20_000, "leave_days_taken": 10, "date_of_birth": 10,
    "hire_date": 10, "termination_date": 10,
}

#: Public bins by schema role: (low, high, width, unit, output column name). Years for dates.
PUBLIC_BINS: dict[str, tuple[float, float, float, str, str]] = {
    "salary": (20_000, 400_000, 10_000, "money", "salary_band"),
    "bonus": (0, 100_000, 5_000, "money", "bonus_band"),
    "leave_days_taken": (0, 60, 5, "count", "leave_days_band"),
    "date_of_birth": (1940, 2010, 5, "year", "birth_year"),
    "hire_date": (1980, 2028, 2, "year", "hire_year"),
    "termination_date": (1980, 2028, 2, "year", "termination_year"),
}

#: Roles never synthesised: they identify someone, link people, or are free text.
LEFT_OUT_ROLES = frozenset({
    "employee_id", "first_name", "middle_name", "last_name", "full_name", "email", "phone",
    "national_id", "address", "city", "zip", "iban", "manager_id", "emergency_contact_name",
    "emergency_contact_relation", "emergency_contact_phone", "free_text", "record_id", "unknown",
})


@dataclass(frozen=True)
class Column:
    """One synthesised column: its source name, its output name and its value labels."""

    name: str
    out: str
    role: str
    kind: str                      # "categorical" or "binned"
    labels: tuple[str, ...]        # the value of each code (the last ones: other, missing)
    edges: tuple[float, ...] = ()  # binned: the inner bin edges (len(labels) - 2 of them)
    unit: str = ""
    #: a public coarse group of each code (census region of a state, department of a job
    #: title, a run of adjacent bins): the synthesiser merges rare values only within a group
    groups: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Domain:
    columns: tuple[Column, ...]
    left_out: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (column, why)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(c.size for c in self.columns)

    def describe(self) -> dict[str, Any]:
        """The domain as recorded in the privacy record (public: no value from the data)."""
        return {"columns": {c.name: {"out": c.out, "role": c.role, "kind": c.kind,
                                     "size": c.size} for c in self.columns},
                "left_out": dict(self.left_out)}


def load_domain_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the domain file {p.name}: {type(exc).__name__}",
                          key="domains") from None
    if not isinstance(data, dict) or not isinstance(data.get("columns", {}), dict):
        raise ConfigError(f"domain file {p.name}: expected a mapping 'columns: {{name: spec}}'",
                          key="domains")
    return dict(data.get("columns") or {})


def demo_domains() -> dict[str, Any]:
    """The departments and job titles of the demo company (``privtune synth-company``): public,
    they are the generator's vocabulary."""
    from privtune.synth.vocab import CEO_TITLE, DEPARTMENTS, EXECUTIVE

    titles: list[str] = [CEO_TITLE]
    groups: dict[str, str] = {CEO_TITLE: EXECUTIVE}
    for name, d in DEPARTMENTS.items():
        titles.append(str(d["head"]))
        for level in ("manager", "senior", "mid", "junior"):
            titles.extend(str(t) for t in d[level])  # type: ignore[attr-defined]
        groups.update({t: name for t in titles if t not in groups})
    return {"department": {"values": [EXECUTIVE, *DEPARTMENTS]},
            "job_title": {"values": titles, "groups": groups}}


def _bin_labels(lo: float, hi: float, width: float, unit: str) -> tuple[tuple[str, ...],
                                                                         tuple[float, ...]]:
    n = math.ceil((hi - lo) / width)
    edges = tuple(lo + i * width for i in range(n + 1))

    def fmt(x: float) -> str:
        if unit == "money":
            return f"{x / 1000:g}k"
        return f"{x:g}"

    labels = [f"<{fmt(lo)}"]
    for a, b in itertools.pairwise(edges):
        labels.append(f"{fmt(a)}-{fmt(b - 1)}" if unit in ("year", "count") else
                      f"{fmt(a)}-{fmt(b)}")
    labels.append(f">={fmt(edges[-1])}")
    return tuple(labels), edges


def _spec_column(name: str, role: str, spec: Mapping[str, Any]) -> Column:
    if "values" in spec:
        values = spec["values"]
        if not isinstance(values, list) or not values or \
                len({str(v) for v in values}) != len(values):
            raise ConfigError(f"domain of column '{name}': 'values' must be a list of distinct "
                              "values", key=f"domains.{name}")
        labels = (*(str(v) for v in values), OTHER, MISSING)
        return Column(name, str(spec.get("out", name)), role, "categorical", labels,
                      groups=_value_groups(name, labels, spec.get("groups",
                                                                  PUBLIC_GROUPS.get(role))))
    if "bounds" in spec:
        b, width = spec["bounds"], spec.get("width")
        if not (isinstance(b, list) and len(b) == 2 and all(isinstance(x, int | float) for x in b)
                and b[0] < b[1] and isinstance(width, int | float) and width > 0):
            raise ConfigError(f"domain of column '{name}': 'bounds: [lo, hi]' with lo < hi and "
                              "a positive 'width'", key=f"domains.{name}")
        if (b[1] - b[0]) / width > 200:
            raise ConfigError(f"domain of column '{name}': at most 200 bins", key=f"domains.{name}")
        unit = str(spec.get("unit") or PUBLIC_BINS.get(role, (0, 0, 0, "number", ""))[3])
        labels, edges = _bin_labels(float(b[0]), float(b[1]), float(width), unit)
        default_out = PUBLIC_BINS[role][4] if role in PUBLIC_BINS else f"{name}_band"
        coarse = spec.get("coarse", PUBLIC_COARSE.get(role))
        if coarse is not None and not (isinstance(coarse, int | float) and coarse >= width):
            raise ConfigError(f"domain of column '{name}': 'coarse' must be a width of at "
                              "least 'width'", key=f"domains.{name}")
        groups: tuple[int, ...] = ()
        if coarse is not None:
            inner = [1 + int((e - edges[0]) // coarse) for e in edges[:-1]]
            # the open bottom bin, the inner bins by coarse width, the open top bin, missing
            groups = (0, *inner, inner[-1] + 1, inner[-1] + 2)
        return Column(name, str(spec.get("out", default_out)), role, "binned",
                      (*labels, MISSING), edges, unit, groups)
    raise ConfigError(f"domain of column '{name}': give 'values', 'bounds' and 'width', or "
                      "'drop: true'", key=f"domains.{name}")


def _value_groups(name: str, labels: Sequence[str], spec: Any) -> tuple[int, ...]:
    """A group per label from ``{value: group}`` or ``{group: [values]}``; a value in no group,
    ``(other)`` and ``(missing)`` each form a group of their own."""
    if spec is None:
        return ()
    if not isinstance(spec, Mapping):
        raise ConfigError(f"domain of column '{name}': 'groups' must map a group to its values",
                          key=f"domains.{name}")
    of: dict[str, str] = {}
    for k, v in spec.items():
        if isinstance(v, list):
            for x in v:
                if str(x) in of:
                    raise ConfigError(f"domain of column '{name}': a value in two groups",
                                      key=f"domains.{name}")
                of[str(x)] = str(k)
        else:
            of[str(k)] = str(v)
    names: dict[str, int] = {}
    out = []
    for i, label in enumerate(labels):
        g = of.get(label) if i < len(labels) - 2 else None
        key = f"group:{g}" if g is not None else f"value:{i}"
        out.append(names.setdefault(key, len(names)))
    return tuple(out)


def build_domain(columns: Sequence[str], roles: Mapping[str, str | None],
                 config: Mapping[str, Any] | None = None) -> Domain:
    """The domain of a table with these ``columns`` (in order), their schema ``roles`` and the
    user's domain ``config``. Reads no value."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(columns))
    if unknown:
        raise ConfigError(f"the domain file names columns the table does not have: "
                          f"{', '.join(unknown)}", key="domains")
    out: list[Column] = []
    left: list[tuple[str, str]] = []
    for name in columns:
        role = roles.get(name) or "unknown"
        spec = config.get(name)
        if spec is not None and not isinstance(spec, Mapping):
            raise ConfigError(f"domain of column '{name}' must be a mapping", key=f"domains.{name}")
        if spec is not None and spec.get("drop"):
            left.append((name, "dropped by the domain file"))
        elif role in LEFT_OUT_ROLES:
            left.append((name, f"role {role}: identifies or links people, or free text"))
        elif spec is not None:
            out.append(_spec_column(name, role, spec))
        elif role in PUBLIC_VALUES:
            out.append(_spec_column(name, role, {"values": list(PUBLIC_VALUES[role])}))
        elif role in PUBLIC_BINS:
            lo, hi, width, unit, o = PUBLIC_BINS[role]
            out.append(_spec_column(name, role, {"bounds": [lo, hi], "width": width,
                                                 "unit": unit, "out": o}))
        else:
            left.append((name, f"role {role}: no data-independent domain (give one with "
                               "--domains)"))
    if len(out) < 2:
        raise InputError("fewer than two columns have a data-independent domain: nothing to "
                         "synthesise (give domains with --domains)", field="domains")
    return Domain(tuple(out), tuple(left))


# encoding -------------------------------------------------------------------------------------

def _number(value: Any, unit: str) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if unit == "year":
        if isinstance(value, _dt.date):
            return float(value.year)
        text = str(value).strip()
        head = text[:4]
        if head.isdigit():
            return float(head)
        return None
    try:
        x = float(str(value).replace(",", ""))
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def encode(rows: Sequence[Mapping[str, Any]], domain: Domain) -> np.ndarray:
    """The rows as an ``(n, columns)`` array of codes. A value outside a categorical domain is
    ``(other)``; an unreadable number or date is ``(missing)`` (never an error naming it)."""
    data = np.zeros((len(rows), len(domain.columns)), dtype=np.int64)
    for j, col in enumerate(domain.columns):
        missing = col.size - 1
        if col.kind == "categorical":
            index = {v: i for i, v in enumerate(col.labels[:-2])}
            other = col.size - 2
            for i, r in enumerate(rows):
                v = r.get(col.name)
                if v is None or str(v).strip() == "":
                    data[i, j] = missing
                else:
                    s = str(v).lower() if isinstance(v, bool) else str(v)
                    data[i, j] = index.get(s, other)
        else:
            edges = np.asarray(col.edges)
            for i, r in enumerate(rows):
                x = _number(r.get(col.name), col.unit)
                data[i, j] = missing if x is None else int(np.searchsorted(edges, x, "right"))
    return data


def decode(codes: np.ndarray, domain: Domain, ids: Sequence[str]) -> list[dict[str, Any]]:
    """Synthetic rows: a fresh ``employee_id`` each, then every column's label (``None`` for
    missing)."""
    out = []
    for i in range(codes.shape[0]):
        row: dict[str, Any] = {"employee_id": ids[i]}
        for j, col in enumerate(domain.columns):
            label = col.labels[int(codes[i, j])]
            row[col.out] = None if label == MISSING else label
        out.append(row)
    return out
