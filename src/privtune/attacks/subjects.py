"""Who the audit is about, read from the vault: training and held-out employees, canaries, and
the secrets of each (raw identifiers), linked to the pseudonyms the training data uses.

The raw employees table is found through lineage: an ancestor of the training set named
``employees`` (what ``ingest`` writes). Pseudonyms are recomputed with the workspace's
pseudonym key, so a training example's ``EMP-...`` token maps back to a raw row in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from privtune.attacks.canaries import Canary, CanarySpec, is_canary, load_canaries
from privtune.attacks.secrets import SecretIndex
from privtune.errors import NotFoundError
from privtune.io import read_json, read_jsonl, read_table
from privtune.pii.mapping import MAPPING_OBJECT, TableMapping, mapping_for_table, parse_mapping
from privtune.vault import Vault

RAW_EMPLOYEES = "employees"
MAX_DEPTH = 6


@dataclass
class Subjects:
    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    members: set[str]                  # pseudonyms of training employees
    non_members: set[str]              # pseudonyms of held-out employees
    index: SecretIndex
    canaries: list[Canary] = field(default_factory=list)
    canary_spec: CanarySpec | None = None
    canaries_ref: str | None = None
    by_pseudonym: dict[str, str] = field(default_factory=dict)   # pseudonym -> index subject

    def own_examples(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        rev = self.by_pseudonym
        for ex in self.train:
            for e in ex.get("employee_ids") or []:
                subj = e if is_canary(e) else rev.get(e)
                if subj:
                    out.setdefault(subj, []).append(ex)
        return out

    def pseudonyms(self) -> dict[str, str]:
        return {subj: p for p, subj in self.by_pseudonym.items() if not is_canary(p)}


def _raw_employees_ref(vault: Vault, start: str) -> str | None:
    seen, frontier = set(), [start]
    for _ in range(MAX_DEPTH):
        nxt = []
        for ref in frontier:
            if ref in seen:
                continue
            seen.add(ref)
            m = vault.manifest(ref)
            if m.name == RAW_EMPLOYEES and m.kind == "table":
                return m.ref
            nxt += list(m.parents or [])
        frontier = nxt
    return None


def _stored_mapping(vault: Vault) -> TableMapping | None:
    """The employees table's mapping ingest stored (``schema-mapping``), if any."""
    if not vault.exists(MAPPING_OBJECT):
        return None
    return parse_mapping(read_json(vault, MAPPING_OBJECT)).table(RAW_EMPLOYEES)


def load_subjects(vault: Vault, train_ref: str, val_ref: str,
                  pseudonym_key: Callable[[], bytes]) -> Subjects:
    """Who ``train_ref`` / ``val_ref`` are about; ``pseudonym_key`` reads the workspace's key
    (raising NotFoundError when there is none: then only the canaries are linked)."""
    train, val = read_jsonl(vault, train_ref), read_jsonl(vault, val_ref)
    members = {e for ex in train for e in ex.get("employee_ids") or [] if not is_canary(e)}
    non_members = {e for ex in val for e in ex.get("employee_ids") or []} - members
    index = SecretIndex()
    subjects = Subjects(train, val, members, non_members, index)
    meta = vault.manifest(train_ref).meta or {}
    if meta.get("canaries"):
        subjects.canaries_ref = meta["canaries"]
        subjects.canaries, subjects.canary_spec = load_canaries(vault.get(meta["canaries"]))
        for c in subjects.canaries:
            if c.included:
                # Only a planted canary whose secret is an EMP- token is an extraction target
                # (a field value or a category is guessed from its small space by chance).
                if c.space is None:
                    index.add_canary(c.id, c.name, c.secret)
                subjects.by_pseudonym[c.id] = c.id
    raw_ref = _raw_employees_ref(vault, train_ref)
    if raw_ref is not None:
        from privtune.deid.keys import KeyedHash
        from privtune.deid.operators.pseudonymize import pseudonym

        try:
            pseudo = KeyedHash(pseudonym_key())
        except NotFoundError:
            pseudo = None
        if pseudo is not None:
            wanted = members | non_members
            table = read_table(vault, raw_ref)
            mapping = mapping_for_table(table, _stored_mapping(vault))
            for row in table.to_pylist():
                rid = mapping.value(row, "employee_id") or ""
                token = pseudonym(pseudo, rid) if rid else ""
                if token in wanted:
                    index.add_employee(rid, row, mapping)
                    subjects.by_pseudonym[token] = rid
    return subjects
