"""Row MACs: security-relevant rows of the metadata store are authenticated, checked on every read.

Every table named in ``AUTHENTICATED_TABLES`` gets a ``mac`` column (added by ``Base`` when the
model class is declared, so a model defined elsewhere, e.g. the privacy ledger in ``dp/``, is
covered by naming its table here). The column holds
``HMAC-SHA256(row key, canonical(table, every column except mac))``: columns added to such a
table later are covered without a change here. The canonical encoding is a JSON array of the
table name and ``[column, tagged value]`` pairs sorted by column name; values are tagged by
type (``n`` None, ``b`` bool, ``i`` int, ``f`` float (repr), ``s`` str, ``x`` bytes (hex),
``t`` datetime (UTC, microseconds; a zone-less value from SQLite is read as UTC), ``j`` JSON
(sorted keys)), so no two different rows encode alike.

The MAC is written by the ORM (``after_insert`` / ``after_update``: the row's primary key and
defaults are known then) and checked when a row is loaded (``load`` / ``refresh``); a mismatch
raises :class:`IntegrityError` naming the table and the row's primary key, never its values.
Bulk ``UPDATE`` statements bypass the ORM and so must not be used on these tables (the next
read of the row would fail, closed).

The row key is a callable kept in each session's ``info`` (``MetadataStore.row_key``): the
workspace derives it from its secret, which only the unlocked KEK unwraps
(``privtune.vault.wskeys``). A session without one cannot read or write these rows
(``KeyMissing``): fail closed. What a MAC does not give: freshness. Restoring a row's earlier,
authentic state (an old copy of the database, a deleted row) is not detected here.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, event, inspect
from sqlalchemy.orm import Mapper, Session, object_session

from privtune.errors import IntegrityError, KeyMissing

#: Tables whose rows carry a MAC: users and roles, API keys, manifests, data keys, audit
#: verdicts, privacy budgets and the privacy ledger.
AUTHENTICATED_TABLES = frozenset({
    "users", "api_keys", "object_versions", "data_keys", "audits", "privacy_budgets",
    "privacy_ledger", "privacy_charges", "privacy_source_budgets", "releases", "gate_policies",
    "incidents", "alerts",  # issue 20: security operations
    "subject_requests",
    "retention_holds",  # legal holds block retention expiry
    "backup_repos",  # the backup repositories an erasure must reach
})
#: Authenticated tables no model declares any more: listed so that a workspace still holding
#: one has it sealed by the 2 -> 3 migration; the migration that drops it checks each row's
#: MAC (with :func:`compute`) before trusting it. ``privacy_budgets``: ledger schema 1.
LEGACY_TABLES = frozenset({"privacy_budgets"})
MAC_COLUMN = "mac"
#: ``Session.info`` key of the row-key callable.
ROW_KEY_INFO = "privtune.row_key"
#: ``Session.info`` key that turns the read check off (schema migration only: it seals rows).
UNCHECKED_INFO = "privtune.row_mac_unchecked"

RowKey = Callable[[], bytes]


def _table(mapper: Mapper[Any]) -> Table:
    return cast(Table, mapper.local_table)


def _tag(value: Any) -> list[Any]:
    if value is None:
        return ["n"]
    if isinstance(value, bool):
        return ["b", int(value)]
    if isinstance(value, int):
        return ["i", str(value)]
    if isinstance(value, float):
        return ["f", repr(value)]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ["x", bytes(value).hex()]
    if isinstance(value, datetime):
        v = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
        return ["t", v.isoformat(timespec="microseconds")]
    if isinstance(value, (dict, list)):
        return ["j", json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)]
    raise TypeError(f"no canonical encoding for a {type(value).__name__} column value")


def canonical(table: str, values: Mapping[str, Any]) -> bytes:
    """The bytes a row's MAC covers: the table name and every (column, value) but the MAC."""
    pairs = [[name, _tag(values[name])] for name in sorted(values) if name != MAC_COLUMN]
    return json.dumps([table, pairs], separators=(",", ":"), ensure_ascii=True).encode("ascii")


def compute(key: bytes, table: str, values: Mapping[str, Any]) -> str:
    return hmac.new(key, canonical(table, values), "sha256").hexdigest()


def _columns(mapper: Mapper[Any], target: Any) -> dict[str, Any] | None:
    """Column name -> value of ``target`` (None when a column is not loaded)."""
    state_dict = inspect(target).dict
    out: dict[str, Any] = {}
    for col in _table(mapper).columns:
        if col.name == MAC_COLUMN:
            continue
        attr = mapper.get_property_by_column(col).key
        if attr not in state_dict:
            return None
        out[col.name] = state_dict[attr]
    return out


def _row_id(mapper: Mapper[Any], target: Any) -> str:
    ident = [str(getattr(target, mapper.get_property_by_column(c).key, "?"))
             for c in _table(mapper).primary_key.columns]
    return "/".join(ident)


def _key(session: Session | None, table: str) -> bytes:
    source = session.info.get(ROW_KEY_INFO) if session is not None else None
    if source is None:
        raise KeyMissing(f"rows of table '{table}' are authenticated: their key needs the "
                         "unlocked vault (open the store through the workspace)")
    return source()


def row_key(session: Session | None, table: str) -> bytes:
    """The row key of ``session`` (KeyMissing without one), for a check outside the ORM."""
    return _key(session, table)


def _authenticated(mapper: Mapper[Any]) -> bool:
    return _table(mapper).name in AUTHENTICATED_TABLES


def _fill_defaults(mapper: Mapper[Any], target: Any) -> None:
    """Before an insert: give every unset column its Python default (or None), so that every
    value the MAC covers is known when the row is sealed after the insert."""
    state_dict = inspect(target).dict
    for col in _table(mapper).columns:
        attr = mapper.get_property_by_column(col).key
        if attr in state_dict or col.name == MAC_COLUMN:
            continue
        if col.primary_key and col.autoincrement in (True, "auto") and col.default is None:
            continue  # assigned by the database; known after the insert
        default = col.default
        if default is None:
            value = None
        elif getattr(default, "is_scalar", False):
            value = default.arg  # type: ignore[attr-defined]
        elif getattr(default, "is_callable", False):
            value = default.arg(None)  # type: ignore[attr-defined]
        else:
            raise IntegrityError(f"table '{_table(mapper).name}' column '{col.name}' has a "
                                 "database-side default: its rows cannot be authenticated")
        setattr(target, attr, value)


def _seal(mapper: Mapper[Any], connection: Any, target: Any) -> None:
    if not _authenticated(mapper):
        return
    table = _table(mapper)
    values = _columns(mapper, target)
    if values is None:
        raise IntegrityError(f"cannot authenticate a row of table '{table.name}' "
                             f"(id {_row_id(mapper, target)}): a column is not loaded")
    mac = compute(_key(object_session(target), table.name), table.name, values)
    pk = table.primary_key.columns
    cond = [c == values[c.name] for c in pk]
    connection.execute(table.update().where(*cond).values({MAC_COLUMN: mac}))
    from sqlalchemy.orm.attributes import set_committed_value

    set_committed_value(target, mapper.get_property_by_column(table.c[MAC_COLUMN]).key, mac)


def check(session: Session | None, mapper: Mapper[Any], target: Any) -> None:
    """Raise IntegrityError unless ``target``'s stored MAC matches its columns."""
    if not _authenticated(mapper) or (session is not None and session.info.get(UNCHECKED_INFO)):
        return
    values = _columns(mapper, target)
    if values is None:
        return  # a partial refresh: the full row was checked when it was loaded
    table = _table(mapper).name
    stored = inspect(target).dict.get(mapper.get_property_by_column(_table(mapper).c[MAC_COLUMN]).key)
    expected = compute(_key(session, table), table, values)
    if not isinstance(stored, str) or not hmac.compare_digest(stored, expected):
        raise IntegrityError(f"row {_row_id(mapper, target)} of table '{table}' failed its integrity "
                             "check (changed outside privtune, or written without the workspace key)")


def install(base: type) -> None:
    """Listen on every mapped subclass of ``base`` (idempotent per base)."""
    if getattr(base, "_privtune_rowmac", False):
        return
    base._privtune_rowmac = True  # type: ignore[attr-defined]

    @event.listens_for(base, "before_insert", propagate=True)
    def _before_insert(mapper: Mapper[Any], connection: Any, target: Any) -> None:
        if _authenticated(mapper):
            _key(object_session(target), _table(mapper).name)  # no key: refused before writing
            _fill_defaults(mapper, target)

    @event.listens_for(base, "after_insert", propagate=True)
    def _after_insert(mapper: Mapper[Any], connection: Any, target: Any) -> None:
        _seal(mapper, connection, target)

    @event.listens_for(base, "after_update", propagate=True)
    def _after_update(mapper: Mapper[Any], connection: Any, target: Any) -> None:
        _seal(mapper, connection, target)

    @event.listens_for(base, "load", propagate=True)
    def _on_load(target: Any, context: Any) -> None:
        check(context.session, inspect(target).mapper, target)

    @event.listens_for(base, "refresh", propagate=True)
    def _on_refresh(target: Any, context: Any, attrs: Any) -> None:
        if attrs is None:
            check(context.session, inspect(target).mapper, target)


def seal_all(session: Session, base: type, *, reflect_all: bool = False) -> int:
    """Compute and store the MAC of every row of every authenticated table (migration).

    A table whose model is not imported in this process (the privacy ledger lives in ``dp/``,
    above the store) is read through a reflected table instead; ``reflect_all`` forces that
    path (tests). Trusts the rows as they are now: run it only on a database nobody else could
    write. Returns the number of rows sealed."""
    from sqlalchemy import MetaData, select
    from sqlalchemy import Table as CoreTable

    mappers = {m.local_table.name: m for m in base.registry.mappers}  # type: ignore[attr-defined]
    count = 0
    session.info[UNCHECKED_INFO] = True
    try:
        key = _key(session, "*")
        bind = session.get_bind()
        for name in sorted(AUTHENTICATED_TABLES):
            if not inspect(bind).has_table(name):
                continue
            mapper = None if reflect_all else mappers.get(name)
            if mapper is not None:
                table = _table(mapper)
                rows = [_columns(mapper, obj) for obj in session.scalars(select(mapper.class_))]
            else:
                table = CoreTable(name, MetaData(), autoload_with=session.connection())
                rows = [dict(r._mapping) for r in session.execute(select(table))]
            for values in rows:
                assert values is not None
                values = {k: v for k, v in values.items() if k != MAC_COLUMN}
                mac = compute(key, name, values)
                cond = [c == values[c.name] for c in table.primary_key.columns]
                session.execute(table.update().where(*cond).values({MAC_COLUMN: mac}))
                count += 1
    finally:
        session.info.pop(UNCHECKED_INFO, None)
    return count
