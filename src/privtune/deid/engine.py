"""Apply a :class:`~privtune.deid.policy.DeidPolicy` to tables and text records.

:class:`Deidentifier` holds the keyed environment (HMAC key, surrogates, person index) and
the operators built from the policy. Tables stream in Arrow record batches; text records are
processed in chunks on all cores (spawned worker processes) when there are many of them.
Statistics are counts only (per entity type, per operator), never values.

A de-identified text record also lists, under :data:`MENTIONS_KEY`, where its texts still name
a *third party* (anyone but the record's own person) in a linkable form (a consistent surrogate,
a pseudonym token, or the surface kept): the field, the span in the output text, the person's
pseudonym token (the same ``EMP-`` token as their table row when they are a known employee) and
whether they are one. The dataset build counts these for person-level privacy accounting and
replaces them with non-linkable placeholders in the DP recipe (docs/dp.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from privtune.deid.classify import classify_table, plan_column
from privtune.deid.fakes import Surrogates
from privtune.deid.keys import KeyedHash, person_key
from privtune.deid.operators import Env, Target, build_operator
from privtune.deid.operators.pseudonymize import pseudonym
from privtune.deid.parallel import chunked_map
from privtune.deid.people import PersonIndex
from privtune.deid.policy import DeidPolicy, DropOp, SurrogateOp, TextOp
from privtune.pii.columns import ColumnClass
from privtune.pii.detect import detect
from privtune.pii.mapping import TableMapping, mapping_for_table
from privtune.pii.roster import Roster
from privtune.progress import ProgressFn

#: Rows per Arrow batch when streaming a table.
BATCH_ROWS = 4096
#: The key of a de-identified text record listing its linkable third-party mentions.
MENTIONS_KEY = "_mentions"
#: Entity types that name a person.
PERSON_ENTITIES = frozenset({"PERSON", "EMAIL", "PHONE", "EMPLOYEE_ID"})
#: Operators whose output still links a span to its person (across records).
LINKABLE_OPERATORS = frozenset({"surrogate", "pseudonymize", "keep", "mask"})
#: Roles whose kept columns keep their own names (several columns may share them).
_NOT_RENAMED = frozenset({"unknown", "free_text", "record_id", "category"})

@dataclass
class TableOutcome:
    table: pa.Table
    classes: dict[str, ColumnClass]
    actions: dict[str, str]  # input column -> "operator" or "operator -> new name" (for reports)
    stats: Counter[str] = field(default_factory=Counter)
    renames: dict[str, str] = field(default_factory=dict)  # input column -> output column


class Deidentifier:
    """De-identify tables and texts with one policy and one key."""

    def __init__(self, policy: DeidPolicy, key: bytes, *, people: PersonIndex | None = None,
                 roster: Roster | None = None) -> None:
        keyed = KeyedHash(key)
        people = people or PersonIndex()
        self.policy = policy
        self.roster = roster
        self.env = Env(keyed, Surrogates(keyed, forbidden_names=people.full_names()), people)
        self._ops: dict[int, tuple[Any, Any]] = {}

    def _op(self, spec: Any) -> Any:
        hit = self._ops.get(id(spec))
        if hit is None or hit[0] is not spec:  # ids are only unique among live objects
            hit = self._ops[id(spec)] = (spec, build_operator(spec, self.env))
        return hit[1]

    def __getstate__(self) -> dict[str, Any]:  # sent to worker processes: no operator cache
        return {**self.__dict__, "_ops": {}}

    # ------------------------------------------------------------------ tables

    def table(self, table: pa.Table, progress: ProgressFn | None = None,
              mapping: TableMapping | None = None) -> TableOutcome:
        """The de-identified table (streamed in batches of :data:`BATCH_ROWS`).

        Columns are found by their role in ``mapping`` (inferred when not given): the policy's
        rules apply by column name or by role, and a kept column mapped to a role is written
        under the role's name (``Abteilung`` -> ``department``) so every later stage reads one
        schema whatever the export called it."""
        mapping = mapping_for_table(table, mapping)
        classes = classify_table(table, self.policy, mapping, self.roster)
        plan = [(c, plan_column(self.policy, c, classes[c], mapping.role(c))) for c in table.column_names]
        kept = [(c, s) for c, s in plan if not isinstance(s, DropOp)]
        roles = Counter(mapping.role(c) for c, _ in kept)
        renames: dict[str, str] = {}
        used = {c for c, s in kept if not s.rename}
        for c, s in kept:
            role = mapping.role(c)
            out_name = s.rename or (role if role and role != c and roles[role] == 1
                                    and role not in _NOT_RENAMED and role not in table.column_names else None)
            if out_name and out_name in used | set(renames.values()):
                out_name = f"{out_name}_{c}"  # two columns of one role under a role rule's rename
            if out_name:
                renames[c] = out_name
        actions = {c: ("drop" if isinstance(s, DropOp) else s.operator + (f" -> {renames[c]}" if c in renames else ""))
                   for c, s in plan}
        stats: Counter[str] = Counter()
        batches: list[pa.RecordBatch] = []
        done = 0
        pcol = _person_column(self.policy.person_column, mapping, table.column_names)
        for batch in table.to_batches(max_chunksize=BATCH_ROWS):
            persons = batch.column(pcol).to_pylist() if pcol is not None else [None] * batch.num_rows
            arrays, names = [], []
            for col, spec in kept:
                values = batch.column(col)
                if spec.operator == "keep":
                    arrays.append(values)
                else:
                    arrays.append(pa.array(self._column(col, spec, values.to_pylist(), persons, stats)))
                names.append(renames.get(col, col))
            batches.append(pa.RecordBatch.from_arrays(arrays, names=names))
            done += batch.num_rows
            if progress is not None:
                progress(done, table.num_rows, {})
        if batches:
            out = pa.Table.from_batches(batches)
        else:
            out = pa.table({renames.get(c, c): pa.array([], pa.string()) for c, _spec in kept})
        return TableOutcome(out, classes, actions, stats, renames)

    def _column(self, col: str, spec: Any, values: list[Any], persons: Sequence[Any],
                stats: Counter[str]) -> list[Any]:
        if isinstance(spec, TextOp):
            return [self.text(v, p, stats) if isinstance(v, str) else v for v, p in zip(values, persons)]
        op = self._op(spec)
        by_value = isinstance(spec, SurrogateOp) and spec.person == "value"
        out = []
        for v, p in zip(values, persons):
            who = v if (by_value or p is None or spec.operator == "pseudonymize") else p
            out.append(op.apply(v, Target(column=col, person=person_key(who) if who is not None else None)))
        return out

    # ------------------------------------------------------------------ texts

    def text(self, text: str, record_person: Any = None, stats: Counter[str] | None = None,
             mentions: list[dict[str, Any]] | None = None) -> str:
        """``text`` with every detected span replaced by its entity rule's output; linkable
        third-party mentions are appended to ``mentions`` (spans in the output text)."""
        spans = detect(text, self.roster)
        return self.replace(text, spans, record_person, stats, mentions) if spans else text

    def replace(self, text: str, spans: Sequence[Any], record_person: Any = None,
                stats: Counter[str] | None = None,
                mentions: list[dict[str, Any]] | None = None) -> str:
        """``text`` with the given sorted, non-overlapping spans replaced by their rules' output."""
        pieces: list[str] = []
        pos = out_len = 0
        rec = person_key(record_person) if record_person not in (None, "") else None
        for s in spans:
            surface = text[s.start : s.end]
            spec = self.policy.entity_op(s.type)
            if stats is not None:
                stats[f"{s.type}:{spec.operator}"] += 1
            pieces.append(text[pos : s.start])
            out_len += s.start - pos
            who = rec if s.type == "DATE" and rec else self._identity(s, surface)
            if spec.operator == "keep" or isinstance(spec, TextOp):
                new_text = surface
            else:
                new = self._op(spec).apply(surface, Target(entity=s.type, person=who, surface=surface))
                new_text = f"[{s.type}]" if new is None else str(new)
            pieces.append(new_text)
            if (mentions is not None and s.type in PERSON_ENTITIES and who != rec
                    and spec.operator in LINKABLE_OPERATORS and new_text != f"[{s.type}]"):
                mentions.append({"start": out_len, "end": out_len + len(new_text),
                                 "person": pseudonym(self.env.keyed, who),
                                 "employee": self.env.people.person(who) is not None})
            out_len += len(new_text)
            pos = s.end
        pieces.append(text[pos:])
        return "".join(pieces)

    def _identity(self, span: Any, surface: str) -> str:
        subject = getattr(span, "subject", None)
        if subject:
            return person_key(subject)
        known = self.env.people.lookup(surface)
        if known is not None:
            return person_key(known)
        key = person_key(surface)
        return key[:-2] if key.endswith(("'s", "’s")) else key

    def record(self, rec: Mapping[str, Any], stats: Counter[str] | None = None,
               mapping: TableMapping | None = None) -> dict[str, Any]:
        """A text record: policy columns by their rule (by field name or its role in
        ``mapping``), ``id`` kept, other strings scrubbed."""
        mapping = mapping or TableMapping()
        pfield = _person_column(self.policy.person_column, mapping, list(rec))
        person = rec.get(pfield) if pfield is not None else None
        out: dict[str, Any] = {}
        mentions: list[dict[str, Any]] = []
        for key, value in rec.items():
            rule = self.policy.rule(key, mapping.role(key))
            if key == MENTIONS_KEY:
                continue  # reserved: written below
            name = _field_name(key, mapping, rec)
            if rule is not None and rule.op is not None and not isinstance(rule.op, TextOp):
                if isinstance(rule.op, DropOp):
                    continue
                out[rule.op.rename or name] = self._column(key, rule.op, [value], [person], stats or Counter())[0]
            elif key == "id" or not isinstance(value, str):
                out[name] = value
            else:
                found: list[dict[str, Any]] = []
                out[name] = self.text(value, person, stats, found)
                mentions += [{"field": name, **m} for m in found]
        out[MENTIONS_KEY] = mentions
        return out

    def records(self, records: Sequence[Mapping[str, Any]], *, workers: int | None = None,
                progress: ProgressFn | None = None,
                mapping: TableMapping | None = None) -> tuple[list[dict[str, Any]], Counter[str]]:
        """De-identified copies of ``records`` (in order) and span counts per entity:operator."""
        out: list[dict[str, Any]] = []
        stats: Counter[str] = Counter()
        for part, st in chunked_map(_run, (self, mapping), records, workers=workers, progress=progress):
            out += part
            stats.update(st)
        return out, stats


def _run(job: tuple[Deidentifier, TableMapping | None],
         chunk: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], Counter[str]]:
    deid, mapping = job
    stats: Counter[str] = Counter()
    return [deid.record(r, stats, mapping) for r in chunk], stats


def _field_name(key: str, mapping: TableMapping, rec: Mapping[str, Any]) -> str:
    """A text record's field is written under its role's name (``Personalnummer`` ->
    ``employee_id``) when it is the role's column and the record has no field of that name."""
    role = mapping.role(key)
    if role is None or role == key or role in _NOT_RENAMED or role in rec or mapping.column(role) != key:
        return key
    return role


def _person_column(person: str, mapping: TableMapping, names: Sequence[str]) -> str | None:
    """The column saying whose row it is: the policy's ``person_column`` when the table has a
    column of that name, else the column the mapping gives that role."""
    if person in names:
        return person
    col = mapping.column(person)
    return col if col in names else None
