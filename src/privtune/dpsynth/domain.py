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

A job title with families (``groups`` naming departments) is modelled by its **level**, a
public hierarchy: the word rule :data:`TITLE_LEVEL_RULES` or the domain file's ``levels``
mapping; the synthesiser measures marginals of the level and draws the title within the
record's department and level afterwards (``Column.coarse``, ``Column.within``). A title the
mapping does not place is modelled as itself.

Domain file shape (YAML)::

    columns:
      department: {values: [Engineering, Sales, Finance]}
      job_title: {values: [Engineer, Senior Engineer, Controller],
                  groups: {Engineering: [Engineer, Senior Engineer], Finance: [Controller]},
                  levels: {mid: [Engineer], senior: [Senior Engineer], manager: [Controller]},
                  within: department}     # levels: words (default) | none | a mapping
      salary: {bounds: [0, 400000], width: 10000}
      hire_date: {bounds: [1980, 2027], width: 2}     # years
      notes: {drop: true}
"""

from __future__ import annotations

import datetime as _dt
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
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

#: Public job levels, low to high (a career ladder: junior .. head, then the chief executive).
LEVELS = ("junior", "mid", "senior", "manager", "head", "executive")

#: The public rule placing a job title on a level by its words (case-insensitive): the first
#: rule that matches wins; a title none matches is ``mid``, the plain title of a ladder
#: ("Software Engineer"). Common usage, not any company's data: vice presidents, chiefs, heads,
#: directors and the general counsel lead a function; "Senior", "Staff", "Principal" mark the
#: senior individual contributor; "Junior", "Associate", "Assistant", "Intern", "Trainee",
#: "Apprentice", "Clerk", "Coordinator" the entry level; "Manager", "Lead", "Supervisor" a
#: manager. A user whose titles follow other words gives the levels in the domain file.
TITLE_LEVEL_RULES: tuple[tuple[str, str], ...] = (
    ("head", r"\b(vice president|[se]?vp)\b"),
    ("executive", r"\b(chief executive|ceo|president)\b"),
    ("head", r"\b(chief|head|director|general counsel|c[tfoi]o)\b"),
    ("senior", r"\b(senior|sr|staff|principal)\b"),
    ("junior", r"\b(junior|jr|associate|assistant|intern|trainee|apprentice|clerk|"
               r"coordinator)\b"),
    ("manager", r"\b(manager|lead|supervisor)\b"),
)


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
    #: the public hierarchy: the cell each code is modelled by (its level, or its group and
    #: level; a value outside the hierarchy, ``(other)`` and ``(missing)`` are cells of their
    #: own). The synthesiser measures marginals of the cells and draws the value within its
    #: cell afterwards. Empty: every value is modelled as itself.
    coarse: tuple[int, ...] = ()
    #: a column whose value names the group (``groups``) a drawn value must belong to (a job
    #: title drawn within the record's department and level); ``None``: none
    within: str | None = None
    #: the group name of each code (``None``: in no group), for ``within``
    group_names: tuple[str | None, ...] = ()
    #: the public level of each code (``None``: none), the hierarchy's other half
    levels: tuple[str | None, ...] = ()

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
        cols: dict[str, Any] = {}
        for c in self.columns:
            cols[c.name] = {"out": c.out, "role": c.role, "kind": c.kind, "size": c.size}
            if c.coarse:
                cols[c.name]["modelled_cells"] = len(set(c.coarse))
            if c.within:
                cols[c.name]["within"] = c.within
        return {"columns": cols, "left_out": dict(self.left_out)}

    def structure(self) -> dict[str, Any]:
        """The public structure the mechanisms use (keyword arguments of
        :func:`privtune.dpsynth.mechanisms.mst` and ``aim``): the groups rare values merge
        within, the hierarchy cells each column is modelled by, and for a column drawn within
        another's value, that column's index and the code of it each value belongs to (-1:
        none)."""
        within: dict[int, tuple[int, np.ndarray]] = {}
        for j, c in enumerate(self.columns):
            if c.within is not None:
                k = self.names.index(c.within)
                index = {lab: i for i, lab in enumerate(self.columns[k].labels[:-2])}
                within[j] = (k, np.array([index.get(g, -1) if g is not None else -1
                                          for g in c.group_names], dtype=np.int64))
        return {"groups": [c.groups for c in self.columns],
                "coarse": [c.coarse for c in self.columns], "within": within}


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
        group_spec = spec.get("groups", PUBLIC_GROUPS.get(role))
        names = _group_names(name, labels, group_spec)
        # a job title with families (groups) is modelled by its level by default; without
        # families its level alone would lose the title's department: the title is kept
        levels = _levels(name, labels, spec.get(
            "levels", "words" if role == "job_title" and group_spec is not None else None))
        within = spec.get("within")
        if within is not None and not isinstance(within, str):
            raise ConfigError(f"domain of column '{name}': 'within' names a column (or 'none')",
                              key=f"domains.{name}")
        return Column(name, str(spec.get("out", name)), role, "categorical", labels,
                      groups=_group_codes(labels, names) if group_spec is not None else (),
                      coarse=_cells(labels, levels, names, True),
                      within=within, group_names=names if group_spec is not None else (),
                      levels=levels)
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


def _group_names(name: str, labels: Sequence[str], spec: Any) -> tuple[str | None, ...]:
    """The group of each label from ``{value: group}`` or ``{group: [values]}`` (``None``: in
    no group; ``(other)`` and ``(missing)`` are in none)."""
    if spec is None:
        return tuple(None for _ in labels)
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
    return tuple(of.get(label) if i < len(labels) - 2 else None
                 for i, label in enumerate(labels))


def _group_codes(labels: Sequence[str], names: Sequence[str | None]) -> tuple[int, ...]:
    """A group code per label; a value in no group, ``(other)`` and ``(missing)`` each form a
    group of their own."""
    codes: dict[str, int] = {}
    return tuple(codes.setdefault(f"group:{g}" if g is not None else f"value:{i}", len(codes))
                 for i, g in enumerate(names))


def title_level(title: str) -> str:
    """The level of a job title by the public word rule (:data:`TITLE_LEVEL_RULES`)."""
    text = title.lower()
    for level, pattern in TITLE_LEVEL_RULES:
        if re.search(pattern, text):
            return level
    return "mid"


def _levels(name: str, labels: Sequence[str], spec: Any) -> tuple[str | None, ...]:
    """The level of each label: ``words`` (the public rule on title words), a mapping
    ``{level: [values]}``, or ``none``. A value the mapping does not place, ``(other)`` and
    ``(missing)`` have none (they are modelled as themselves)."""
    values = labels[:-2]
    if spec is None or spec == "none":
        return ()
    if spec == "words":
        return (*(title_level(v) for v in values), None, None)
    if not isinstance(spec, Mapping) or not all(isinstance(v, list) for v in spec.values()):
        raise ConfigError(f"domain of column '{name}': 'levels' is 'words', 'none' or a mapping "
                          "'{level: [values]}'", key=f"domains.{name}")
    of: dict[str, str] = {}
    for level, vals in spec.items():
        for v in vals:
            if str(v) in of or str(v) not in values:
                raise ConfigError(f"domain of column '{name}': the level '{level}' names a "
                                  "value twice or one not in 'values'", key=f"domains.{name}")
            of[str(v)] = str(level)
    return (*(of.get(v) for v in values), None, None)


def _cells(labels: Sequence[str], levels: Sequence[str | None],
           groups: Sequence[str | None], by_group: bool) -> tuple[int, ...]:
    """The hierarchy cell of each label: its level (and its group when ``by_group``); a value
    without a level, ``(other)`` and ``(missing)`` are cells of their own."""
    if not levels:
        return ()
    cells: dict[tuple[str, ...], int] = {}
    out = []
    for i, level in enumerate(levels):
        key = ("value", str(i)) if level is None else \
            ("cell", str(groups[i]) if by_group else "", level)
        out.append(cells.setdefault(key, len(cells)))
    return tuple(out)


def _resolve_within(columns: list[Column]) -> list[Column]:
    """A column with levels and groups is drawn within the value of the column its groups name
    (``within``; by default the categorical column whose values hold every group name): then
    modelled by its level alone; otherwise by its group and level."""
    by_name = {c.name: c for c in columns}
    out = []
    for c in columns:
        if not c.levels:
            out.append(c)
            continue
        names = {g for g in c.group_names if g is not None}
        within = c.within
        if within is None and names:
            within = next((o.name for o in columns if o is not c and o.kind == "categorical"
                           and names <= set(o.labels[:-2])), None)
        elif within == "none":
            within = None
        elif within is not None:
            other = by_name.get(within)
            if other is None or other is c or other.kind != "categorical" or not names:
                raise ConfigError(f"domain of column '{c.name}': 'within' must name another "
                                  "synthesised categorical column whose values name the "
                                  "'groups'", key=f"domains.{c.name}")
        out.append(replace(c, within=within,
                           coarse=_cells(c.labels, c.levels, c.group_names, within is None)))
    return out


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
    out = _resolve_within(out)
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
