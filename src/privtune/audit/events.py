"""The audit-log event as a typed record: what ``AuditLog`` writes and every reader gets back.

One row of ``audit_events`` (``privtune.store.audit_models``) is one ``AuditRecord``; its
fields are the table's columns in ``ROW_COLUMNS`` order, so the on-disk format is unchanged.
``detail`` stays the canonical JSON text that the hash chain covers (``detail_map()`` parses
it). Reading a row or an exported mapping goes through ``AuditRecord.from_mapping``: unknown or
missing keys and values of the wrong type are errors; a mapping may name its
``schema_version`` (rows stored before the field existed are version 1), older versions are
migrated on read and newer ones refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from privtune.audit.chain import ROW_COLUMNS

SCHEMA_VERSION = 1
_VERSION_KEY = "schema_version"
#: ``version -> function`` turning a mapping of that version into one of the next version.
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class EventFormatError(ValueError):
    """A stored or exported audit event does not have the record's shape."""


@dataclass(frozen=True)
class AuditRecord:
    """One audit event: position, time, who, what, outcome, and its place in the hash chain."""

    schema_version: ClassVar[int] = SCHEMA_VERSION

    seq: int
    ts: str
    actor: str
    role: str
    key_id: str
    op: str
    object: str
    outcome: str
    reason: str
    detail: str        # canonical JSON (sorted keys, ASCII), exactly as hashed
    prev_hash: str
    hash: str

    def detail_map(self) -> dict[str, Any]:
        value = json.loads(self.detail or "{}")
        if not isinstance(value, dict):
            raise EventFormatError(f"audit event {self.seq}: detail is not a JSON object")
        return value

    def row(self) -> tuple[Any, ...]:
        """The column values in ``ROW_COLUMNS`` order (as stored)."""
        return tuple(getattr(self, c) for c in ROW_COLUMNS)

    def to_dict(self) -> dict[str, Any]:
        """The columns as a mapping (``ROW_COLUMNS`` order), ``detail`` still canonical text."""
        return asdict(self)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> AuditRecord:
        """From column values in ``ROW_COLUMNS`` order (a driver's row tuple)."""
        if len(row) != len(ROW_COLUMNS):
            raise EventFormatError(f"an audit row has {len(row)} columns, expected {len(ROW_COLUMNS)}")
        return cls.from_mapping(dict(zip(ROW_COLUMNS, row, strict=True)))

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> AuditRecord:
        data = dict(m)
        version = data.pop(_VERSION_KEY, 1)
        if not isinstance(version, int) or version < 1 or version > SCHEMA_VERSION:
            raise EventFormatError(f"audit event schema version {version!r} is not one this "
                                   f"privtune reads (1..{SCHEMA_VERSION})")
        while version < SCHEMA_VERSION:
            data = _MIGRATIONS[version](data)
            version += 1
        missing = [c for c in ROW_COLUMNS if c not in data]
        unknown = sorted(k for k in data if k not in ROW_COLUMNS)
        if missing or unknown:
            raise EventFormatError(f"audit event has missing keys {missing} / unknown keys {unknown}")
        for f in fields(cls):
            want = int if f.name == "seq" else str
            v = data[f.name]
            if not isinstance(v, want) or isinstance(v, bool):
                raise EventFormatError(f"audit event field '{f.name}' is {type(v).__name__}, "
                                       f"expected {want.__name__}")
        return cls(**data)
