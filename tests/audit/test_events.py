"""The audit-log event record: written and read through one type; strict about its shape."""

from __future__ import annotations

import pytest

from privtune.audit.chain import ROW_COLUMNS
from privtune.audit.events import SCHEMA_VERSION, AuditRecord, EventFormatError
from privtune.audit.log import AuditLog
from privtune.store import MetadataStore


def _log(tmp_path) -> AuditLog:
    url = f"sqlite:///{tmp_path}/m.db"
    MetadataStore(url).create()
    return AuditLog(url, None)


def test_events_read_back_as_records(tmp_path) -> None:
    log = _log(tmp_path)
    log.append(actor="u-1", role="admin", key_id="k", op="data.read", object="o@1",
               detail={"b": 2, "a": "x"})
    log.append(actor="-", role="-", key_id="", op="auth", outcome="deny", reason="bad key")
    events = list(log.iter_events())
    assert [e.seq for e in events] == [1, 2]
    first = events[0]
    assert isinstance(first, AuditRecord) and first.op == "data.read" and first.object == "o@1"
    assert first.detail == '{"a":"x","b":2}' and first.detail_map() == {"a": "x", "b": 2}
    assert events[1].prev_hash == first.hash and events[1].outcome == "deny"
    assert AuditRecord.from_row(first.row()) == first
    assert AuditRecord.from_mapping(first.to_dict()) == first
    assert list(first.to_dict()) == list(ROW_COLUMNS)
    log.close()


def test_unknown_missing_or_mistyped_keys_are_errors(tmp_path) -> None:
    log = _log(tmp_path)
    log.append(actor="u-1", role="admin", key_id="k", op="data.read")
    good = next(log.iter_events()).to_dict()
    log.close()
    with pytest.raises(EventFormatError, match="unknown"):
        AuditRecord.from_mapping({**good, "extra": 1})
    missing = dict(good)
    del missing["actor"]
    with pytest.raises(EventFormatError, match="missing"):
        AuditRecord.from_mapping(missing)
    with pytest.raises(EventFormatError, match="seq"):
        AuditRecord.from_mapping({**good, "seq": "1"})
    with pytest.raises(EventFormatError, match="columns"):
        AuditRecord.from_row(tuple(good.values())[:-1])


def test_schema_version(tmp_path) -> None:
    log = _log(tmp_path)
    log.append(actor="u-1", role="admin", key_id="k", op="data.read")
    good = next(log.iter_events()).to_dict()
    log.close()
    assert AuditRecord.schema_version == SCHEMA_VERSION
    assert AuditRecord.from_mapping({**good, "schema_version": SCHEMA_VERSION}).seq == 1
    with pytest.raises(EventFormatError, match="schema version"):
        AuditRecord.from_mapping({**good, "schema_version": SCHEMA_VERSION + 1})
