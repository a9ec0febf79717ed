"""The append-only audit log in the metadata database, safe under concurrent processes.

``append`` runs one short transaction per event: take the log's lock (``BEGIN IMMEDIATE`` on
SQLite, a transaction-scoped advisory lock on PostgreSQL), read the last (seq, hash), insert
the next event, sign a checkpoint every ``CHECKPOINT_EVERY`` events, commit. Any failure
raises ``AuditWriteFailed``; callers treat that as a refusal (fail closed).

Durability (``sync``, the workspace setting ``audit_sync``):

* ``full`` (default): SQLite in WAL mode with ``synchronous=FULL`` (the WAL is fsynced on
  every commit, so an event is on disk before the operation starts); PostgreSQL with
  ``synchronous_commit=on``. One fsync per event: the disk's fsync latency bounds appends/s.
* ``normal``: SQLite WAL with ``synchronous=NORMAL``; PostgreSQL ``synchronous_commit=off``.
  Commits stay atomic and ordered and survive a crash of the process; an OS crash or power
  loss can lose the most recent events (never corrupt the chain). The metadata store still
  commits with fsync, and a WAL fsync covers every earlier frame, so an event is durable no
  later than the manifest of the object version its operation wrote.

The hot paths use the DB-API driver directly (sqlite3, psycopg 3) on the tables declared in
``privtune.store.audit_models``; SQLAlchemy creates the schema and runs the filtered queries.
Each event is written from an ``AuditRecord`` (``privtune.audit.events``) and read back as one
(``iter_events``); only the chain walker reads raw row tuples (``iter_rows``), for speed.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import make_url

from privtune.audit.chain import (
    GENESIS,
    ROW_COLUMNS,
    ChainResult,
    canonical_detail,
    check_field,
    event_hash,
    verify_rows,
)
from privtune.audit.events import AuditRecord
from privtune.errors import AuditWriteFailed, WorkspaceError

CHECKPOINT_EVERY = 1000
PG_LOCK_ID = 0x70726976  # "priv": the advisory lock that serialises appends on PostgreSQL
SQLITE_BUSY_MS = 60_000
SYNC_MODES = ("full", "normal")
_COLS = ", ".join(ROW_COLUMNS)


def now_ts() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def checkpoint_message(seq: int, hash_: str, ts: str) -> bytes:
    return f"privtune-audit-checkpoint\x1f{seq}\x1f{hash_}\x1f{ts}".encode()


@dataclass(frozen=True)
class Appended:
    seq: int
    hash: str


class AuditLog:
    """Append to and verify the chain stored at ``db_url``; ``signer`` gives the checkpoint
    signing key (``WorkspaceKeys.signing_key``: it unwraps the key on first use)."""

    def __init__(self, db_url: str, signer: Callable[[], Ed25519PrivateKey] | None = None, *,
                 sync: str = "full") -> None:
        if sync not in SYNC_MODES:
            raise WorkspaceError(f"audit_sync must be one of {', '.join(SYNC_MODES)}")
        self.sync = sync
        url = make_url(db_url)
        self.dialect = url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise WorkspaceError(f"the audit log supports SQLite and PostgreSQL, not {self.dialect}")
        self._url = url
        self.signer = signer
        self._conn: Any = None
        self._signer: Ed25519PrivateKey | None = None
        self.ph = "?" if self.dialect == "sqlite" else "%s"

    # ------------------------------------------------------------ connection
    def _connect(self) -> Any:
        if self._conn is not None:
            return self._conn
        conn: Any
        if self.dialect == "sqlite":
            conn = sqlite3.connect(self._url.database or ":memory:", timeout=SQLITE_BUSY_MS / 1000,
                                   isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.sync.upper()}")
            conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        else:
            import psycopg

            conn = psycopg.connect(self._url.set(drivername="postgresql").render_as_string(
                hide_password=False), autocommit=False)
            if self.sync == "normal":
                conn.execute("SET synchronous_commit = off")
                conn.commit()
        self._conn = conn
        return conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _begin_locked(self, cur: Any) -> None:
        if self.dialect == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
        else:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK_ID,))

    def _commit(self, conn: Any, cur: Any) -> None:
        if self.dialect == "sqlite":
            cur.execute("COMMIT")
        else:
            conn.commit()

    def _rollback(self) -> None:
        conn = self._conn
        if conn is None:
            return
        with contextlib.suppress(Exception):  # the connection is dropped below either way
            if self.dialect == "sqlite":
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            else:
                conn.rollback()
        self.close()

    # ------------------------------------------------------------ append
    def append(self, *, actor: str, role: str, key_id: str, op: str, object: str = "",
               outcome: str = "allow", reason: str = "", detail: dict[str, Any] | None = None) -> Appended:
        """Write one event durably; raise AuditWriteFailed (and change nothing) otherwise."""
        try:
            values = [check_field(n, v) for n, v in (("actor", actor), ("role", role),
                      ("key_id", key_id), ("op", op), ("object", object), ("outcome", outcome),
                      ("reason", reason))]
            det = canonical_detail(detail)
        except (ValueError, TypeError) as exc:
            raise AuditWriteFailed(f"audit event refused ({exc}); operation refused") from None
        try:
            return self._append(values, det)
        except AuditWriteFailed:
            self._rollback()
            raise
        except Exception as exc:
            self._rollback()
            raise AuditWriteFailed(
                f"audit event could not be written ({type(exc).__name__}); operation refused"
            ) from None

    def _append(self, values: list[str], det: str) -> Appended:
        conn = self._connect()
        cur = conn.cursor()
        self._begin_locked(cur)
        cur.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        last = cur.fetchone()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        ts = now_ts()
        fields = [seq, ts, *values, det]
        h = event_hash(prev, fields)
        actor, role, key_id, op, obj, outcome, reason = values
        event = AuditRecord(seq=seq, ts=ts, actor=actor, role=role, key_id=key_id, op=op,
                            object=obj, outcome=outcome, reason=reason, detail=det,
                            prev_hash=prev, hash=h)
        ph = self.ph
        sql = f"INSERT INTO audit_events ({_COLS}) VALUES ({', '.join([ph] * 12)})"  # noqa: S608  (constant names and the driver's placeholders; values are bound)
        cur.execute(sql, event.row())
        if seq % CHECKPOINT_EVERY == 0:
            self._insert_checkpoint(cur, seq, h)
        self._commit(conn, cur)
        return Appended(seq, h)

    def _insert_checkpoint(self, cur: Any, seq: int, h: str) -> None:
        if self.signer is None:
            return
        if self._signer is None:
            self._signer = self.signer()
        ts = now_ts()
        sig = self._signer.sign(checkpoint_message(seq, h, ts)).hex()
        ph = self.ph
        sql = f"INSERT INTO audit_checkpoints (seq, hash, ts, signature) VALUES ({ph}, {ph}, {ph}, {ph})"  # noqa: S608  (constant names and the driver's placeholders; values are bound)
        cur.execute(sql, (seq, h, ts, sig))

    def checkpoint(self) -> int:
        """Sign a checkpoint at the current head now (e.g. before an export); return its seq."""
        try:
            conn = self._connect()
            cur = conn.cursor()
            self._begin_locked(cur)
            cur.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            last = cur.fetchone()
            if last is None:
                self._commit(conn, cur)
                return 0
            sql = f"SELECT 1 FROM audit_checkpoints WHERE seq = {self.ph}"  # noqa: S608  (constant names and the driver's placeholders; values are bound)
            cur.execute(sql, (last[0],))
            if cur.fetchone() is None:
                self._insert_checkpoint(cur, last[0], last[1])
            self._commit(conn, cur)
            return int(last[0])
        except Exception as exc:
            self._rollback()
            raise AuditWriteFailed(f"checkpoint could not be written ({type(exc).__name__})") from None

    # ------------------------------------------------------------ verify
    def iter_events(self, batch: int = 20_000) -> Iterator[AuditRecord]:
        """Every event, in order, as a typed record."""
        for row in self.iter_rows(batch):
            yield AuditRecord.from_row(row)

    def iter_rows(self, batch: int = 20_000) -> Iterator[tuple[Any, ...]]:
        """Raw row tuples (``ROW_COLUMNS`` order) for the chain walker's tight loop."""
        conn = self._connect()
        sql = f"SELECT {_COLS} FROM audit_events ORDER BY seq"  # noqa: S608  (constant names and the driver's placeholders; values are bound)
        if self.dialect == "sqlite":
            cur = conn.execute(sql)
        else:
            conn.commit()
            cur = conn.cursor(name="privtune_audit_verify")
            cur.itersize = batch
            cur.execute(sql)
        try:
            while True:
                rows = cur.fetchmany(batch)
                if not rows:
                    break
                yield from rows
        finally:
            cur.close()
            if self.dialect != "sqlite":
                conn.commit()

    def checkpoints(self) -> list[tuple[int, str, str, str]]:
        conn = self._connect()
        cur = conn.cursor()
        cur.execute("SELECT seq, hash, ts, signature FROM audit_checkpoints ORDER BY seq")
        rows = [tuple(r) for r in cur.fetchall()]
        if self.dialect != "sqlite":
            conn.commit()
        return rows

    def hashes_at(self, seqs: list[int]) -> dict[int, str]:
        if not seqs:
            return {}
        conn = self._connect()
        cur = conn.cursor()
        out: dict[int, str] = {}
        for i in range(0, len(seqs), 500):
            part = seqs[i:i + 500]
            sql = f"SELECT seq, hash FROM audit_events WHERE seq IN ({', '.join([self.ph] * len(part))})"  # noqa: S608  (constant names and the driver's placeholders; values are bound)
            cur.execute(sql, part)
            out.update({int(s): h for s, h in cur.fetchall()})
        if self.dialect != "sqlite":
            conn.commit()
        return out

    def verify_chain(self) -> ChainResult:
        return verify_rows(self.iter_rows())
