"""The append-only audit log in the metadata database, safe under concurrent processes.

``append`` runs one short transaction per event: take the log's lock (``BEGIN IMMEDIATE`` on
SQLite, a transaction-scoped advisory lock on PostgreSQL), read the last (seq, hash), insert
the next event, sign a checkpoint every ``CHECKPOINT_EVERY`` events or when the last one is
``CHECKPOINT_SECONDS`` old, commit. Any failure raises ``AuditWriteFailed``; callers treat that
as a refusal (fail closed).

Checkpoints (``privtune.audit.head``): each signs the head, the previous checkpoint and the vault
heads; after its commit the head is written to the head file ``DIR/audit-head.json`` and to the
external anchor, if one is configured. ``seal()`` (called when a Workspace closes, i.e. after
every CLI command) signs the head if this log appended since its last checkpoint. A checkpoint is
never signed over a log that no longer extends the head file's or the anchor's head (a truncated
or rolled-back log): its events stay unsigned and ``verify`` keeps reporting the rollback.
Checkpoints are signed with the key the ``signer`` callable gives (the workspace's wrapped key,
``WorkspaceKeys.signing_key``: it needs the unlocked KEK); the heads kept outside are checked with
the public key pinned in the workspace config (``public_key``), never one read from ``keys/``.

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
import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.engine import make_url

from privtune.audit.anchor import Anchor, open_anchor
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
from privtune.audit.head import (
    SignedHead,
    canonical_heads,
    checkpoint_message_v2,
    compare,
    head_path,
    heads_digest,
    read_head_file,
    write_head_file,
)
from privtune.errors import AuditWriteFailed, IntegrityError, PrivtuneError, WorkspaceError

CHECKPOINT_EVERY = 1000
CHECKPOINT_SECONDS = 60.0  # a long run signs its head at least this often (on its next event)
ANCHOR_TAIL_BYTES = 1 << 16  # the anchor's tail read before each checkpoint (verify reads it all)
PG_LOCK_ID = 0x70726976  # "priv": the advisory lock that serialises appends on PostgreSQL
SQLITE_BUSY_MS = 60_000
SYNC_MODES = ("full", "normal")
MAX_BATCH = 512  # events written by one group commit at most
GATHER_S = 0.0005  # a committer waits at most this long for the previous batch's writers
_COLS = ", ".join(ROW_COLUMNS)
_T = TypeVar("_T")


class SigningKeyUnavailable(AuditWriteFailed):
    """The checkpoint signing key could not be had (missing, unreadable, vault locked)."""


def _serialised(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Run the method holding the log's connection lock (threads share one connection)."""

    @functools.wraps(fn)
    def inner(self: AuditLog, *args: Any, **kwargs: Any) -> _T:
        with self._io:
            return fn(self, *args, **kwargs)

    return inner


def now_ts() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def checkpoint_message(seq: int, hash_: str, ts: str) -> bytes:
    return f"privtune-audit-checkpoint\x1f{seq}\x1f{hash_}\x1f{ts}".encode()


@dataclass(frozen=True)
class Appended:
    seq: int
    hash: str


@dataclass(eq=False)
class _Pending:
    """One caller's event waiting in the group-commit queue."""

    values: list[str]
    det: str
    done: bool = False
    result: Appended | None = None
    error: AuditWriteFailed | None = None


class AuditLog:
    """Append to and verify the chain stored at ``db_url``.

    ``signer`` gives the checkpoint signing key (``WorkspaceKeys.signing_key``: it unwraps the key
    on first use; None: no checkpoints are signed). ``public_key`` gives the key that heads kept
    outside the database are checked with before a checkpoint is signed over them, and that the
    vault's signed heads are checked with: the workspace passes its *pinned* key
    (``Workspace.pinned_public_key``); None, or a callable returning None, is a failure (nothing
    is signed over an unchecked head), never a skip. ``head_dir`` holds the head file
    (``DIR/audit-head.json``; None: a bare log without one, e.g. a benchmark's); ``anchor`` is the
    ``audit_anchor`` config line ('' for none)."""

    def __init__(self, db_url: str, signer: Callable[[], Ed25519PrivateKey] | None = None, *,
                 sync: str = "full", anchor: str = "", head_dir: Path | None = None,
                 public_key: Callable[[], Ed25519PublicKey | None] | None = None) -> None:
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
        self._public_key = public_key
        self.head_dir = None if head_dir is None else Path(head_dir)
        self.ph = "?" if self.dialect == "sqlite" else "%s"
        self.anchor_spec = anchor
        self._anchor: Anchor | None = None
        self._dirty = False  # appended since this log's last checkpoint
        self._last_cp = time.monotonic()
        self._valid_sigs: set[str] = set()  # signatures of heads already checked
        #: why the last checkpoint attempt was refused (the log no longer extends a kept head)
        self.rollback: str | None = None
        #: Group commit: appends queue here; the holder of ``_io`` (one thread at a time uses the
        #: connection) writes the whole queue in one transaction.
        self._queue: list[_Pending] = []
        lock = threading.Lock()
        self._cond = threading.Condition(lock)     # a batch was committed
        self._arrived = threading.Condition(lock)  # an event was queued
        self._committing = False
        self._last_batch = 0
        self._io = threading.RLock()

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

    @_serialised
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
        """Write one event durably; raise AuditWriteFailed (and change nothing) otherwise.

        Thread-safe, with group commit: the event joins the queue of pending appends; the first
        caller to find no commit under way becomes the committer and writes every queued event
        in one transaction (one fsync), in queue order. Every caller returns only once its own
        event is committed; if the transaction fails, every caller of that batch raises."""
        try:
            values = [check_field(n, v) for n, v in (("actor", actor), ("role", role),
                      ("key_id", key_id), ("op", op), ("object", object), ("outcome", outcome),
                      ("reason", reason))]
            det = canonical_detail(detail)
        except (ValueError, TypeError) as exc:
            raise AuditWriteFailed(f"audit event refused ({exc}); operation refused") from None
        slot = _Pending(values, det)
        with self._cond:
            self._queue.append(slot)
            self._arrived.notify()  # only a gathering committer waits on this
            while True:
                while not slot.done and self._committing:
                    self._cond.wait()
                if slot.done:
                    break
                # No commit under way: this caller commits everything queued, its own event too.
                self._committing = True
                self._gather()
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                self._cond.release()
                try:
                    with self._io:
                        self._commit_batch(batch)
                finally:
                    self._cond.acquire()
                    for s in batch:  # interrupted (BaseException): never leave a caller waiting
                        if not s.done:
                            s.error = AuditWriteFailed("audit event could not be written "
                                                       "(interrupted); operation refused")
                            s.done = True
                    self._committing = False
                    self._last_batch = len(batch)
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        assert slot.result is not None
        return slot.result

    def _gather(self) -> None:
        """Let the callers of the previous batch queue their next events (held: the queue lock).

        Those callers were woken together when it committed; waiting up to ``GATHER_S`` for
        them (never longer, never when the last batch was a lone event) keeps batches as large
        as the number of writers instead of alternating a lone event with the rest."""
        want = min(self._last_batch, MAX_BATCH)
        if want <= 1 or len(self._queue) >= want:
            return
        deadline = time.monotonic() + GATHER_S
        while len(self._queue) < want:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._arrived.wait(left)

    def _commit_batch(self, batch: list[_Pending]) -> None:
        """Write ``batch`` in one transaction; settle every slot (result, or the same error)."""
        try:
            results, cps = self._append_batch(batch)
        except Exception as exc:
            self._rollback()
            err = exc if isinstance(exc, AuditWriteFailed) else AuditWriteFailed(
                f"audit event could not be written ({type(exc).__name__}); operation refused")
            for s in batch:
                s.error, s.done = err, True
            return
        for s, r in zip(batch, results, strict=True):
            s.result, s.done = r, True
        try:
            for cp in cps:
                self._publish(cp)
        except Exception as exc:  # the events are durable, the head could not be kept outside
            err = exc if isinstance(exc, AuditWriteFailed) else AuditWriteFailed(
                f"audit-log head could not be published ({type(exc).__name__})")
            for s in batch:
                s.error = err

    def _append_batch(self, batch: list[_Pending]) -> tuple[list[Appended], list[SignedHead]]:
        conn = self._connect()
        cur = conn.cursor()
        self._begin_locked(cur)
        cur.execute("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        last = cur.fetchone()
        seq, prev = (last[0], last[1]) if last else (0, GENESIS)
        ph = self.ph
        sql = f"INSERT INTO audit_events ({_COLS}) VALUES ({', '.join([ph] * 12)})"  # noqa: S608  (constant names and the driver's placeholders; values are bound)
        rows: list[tuple[Any, ...]] = []
        results: list[Appended] = []
        cps: list[SignedHead] = []
        for item in batch:
            seq += 1
            ts = now_ts()
            h = event_hash(prev, [seq, ts, *item.values, item.det])
            rows.append((seq, ts, *item.values, item.det, prev, h))
            results.append(Appended(seq, h))
            prev = h
            if seq % CHECKPOINT_EVERY == 0:  # signed in the transaction of its event (verify)
                cur.executemany(sql, rows)
                rows = []
                cp = self._insert_checkpoint(cur, seq, h)
                if cp is not None:
                    cps.append(cp)
        if rows:
            cur.executemany(sql, rows)
        if not cps and self.signer is not None and \
                time.monotonic() - self._last_cp >= CHECKPOINT_SECONDS:
            cp = self._insert_checkpoint(cur, seq, prev)
            if cp is not None:
                cps.append(cp)
        self._commit(conn, cur)
        self._dirty = not cps or cps[-1].seq != seq
        return results, cps

    # ------------------------------------------------------------ checkpoints
    def public_key(self) -> Ed25519PublicKey | None:
        """The pinned public key (None: none is pinned, which fails every check that needs it)."""
        return None if self._public_key is None else self._public_key()

    def head_file(self) -> Path | None:
        """The head file ``DIR/audit-head.json`` (None: a bare log keeps none)."""
        return None if self.head_dir is None else head_path(self.head_dir)

    def _signing_key(self) -> Ed25519PrivateKey:
        if self.signer is None:  # pragma: no cover - callers check first
            raise WorkspaceError("this audit log has no signing key")
        if self._signer is None:
            self._signer = self.signer()
        return self._signer

    @_serialised
    def workspace_id(self) -> str:
        """The vault id: what names this workspace's lines in a shared anchor."""
        conn = self._connect()
        cur = conn.cursor()
        cur.execute(f"SELECT value FROM store_meta WHERE key = {self.ph}", ("vault_id",))  # noqa: S608  (constant names and the driver's placeholders; values are bound)
        row = cur.fetchone()
        if self.dialect != "sqlite":
            conn.commit()
        return str(row[0]) if row else "-"

    def anchor(self) -> Anchor | None:
        """The configured external anchor (opened once)."""
        if self._anchor is None and self.anchor_spec.strip():
            self._anchor = open_anchor(self.anchor_spec, self.workspace_id())
        return self._anchor

    def _hash_at(self, cur: Any, seq: int) -> str | None:
        cur.execute(f"SELECT hash FROM audit_events WHERE seq = {self.ph}", (seq,))  # noqa: S608  (constant names and the driver's placeholders; values are bound)
        row = cur.fetchone()
        return None if row is None else str(row[0])

    def _rollback_problem(self, cur: Any, last_seq: int,
                          heads: dict[str, int] | None = None) -> str | None:
        """Why the log ending at ``last_seq`` (with vault ``heads``) may not be signed: it no
        longer extends the head kept in the head file or the anchor (truncated, rolled back,
        rewritten), or a vault name's latest version went below its signed one; None if fine."""
        pub = self.public_key()
        path = self.head_file()
        try:
            kept = None if path is None else read_head_file(path)
        except IntegrityError as exc:
            return exc.message
        if heads is not None:
            for prior in (kept, self._db_head(cur)):
                for name, v in sorted((prior.heads or {}).items() if prior else ()):
                    if heads.get(name, 0) < v:
                        return (f"vault object '{name}' was rolled back below its signed version "
                                f"{v} (checkpoint at event {prior.seq})")  # type: ignore[union-attr]
        if kept is None:
            if path is not None:  # a workspace's log: once a head was signed, the file must be there
                cur.execute("SELECT 1 FROM audit_checkpoint_meta")
                if cur.fetchone() is not None:
                    return "the audit-log head file is missing"
        else:
            bad = compare(kept, "the head file", last_seq, lambda s: self._hash_at(cur, s), pub)
            if bad is not None:
                return bad[1]
        anchor = self.anchor()
        if anchor is not None and anchor.readable:
            try:
                top = anchor.latest(pub, tail_bytes=ANCHOR_TAIL_BYTES)
            except IntegrityError as exc:
                return exc.message
            if top is not None:
                bad = compare(top, f"the anchor {anchor.spec}", last_seq,
                              lambda s: self._hash_at(cur, s), pub)
                if bad is not None:
                    return bad[1]
        return None

    def _insert_checkpoint(self, cur: Any, seq: int, h: str) -> SignedHead | None:
        """Sign the head ``(seq, h)`` inside the caller's transaction; None if not signed (no
        signer, or the log was rolled back: ``self.rollback`` says why). The signing key is
        unwrapped here (it needs the unlocked KEK); a missing or unreadable one raises."""
        if self.signer is None:
            return None
        cur.execute("SELECT name, MAX(version) FROM object_versions GROUP BY name")
        heads = {str(n): int(v) for n, v in cur.fetchall()}
        problem = self._rollback_problem(cur, seq, heads)
        self.rollback = problem
        if problem is not None:
            return None
        try:
            signer = self._signing_key()
        except PrivtuneError as exc:
            raise SigningKeyUnavailable(f"the audit signing key is not available: {exc.message}") from None
        cur.execute("SELECT MAX(seq) FROM audit_checkpoints")
        prev = int(cur.fetchone()[0] or 0)
        ts = now_ts()
        digest = heads_digest(heads)
        sig = signer.sign(checkpoint_message_v2(seq, h, ts, prev, digest)).hex()
        ph = self.ph
        sql = f"INSERT INTO audit_checkpoints (seq, hash, ts, signature) VALUES ({ph}, {ph}, {ph}, {ph})"  # noqa: S608  (constant names and the driver's placeholders; values are bound)
        cur.execute(sql, (seq, h, ts, sig))
        sql = f"INSERT INTO audit_checkpoint_meta (seq, prev_seq, heads_digest, heads) VALUES ({ph}, {ph}, {ph}, {ph})"  # noqa: S608  (constant names and the driver's placeholders; values are bound)
        cur.execute(sql, (seq, prev, digest, canonical_heads(heads)))
        self._last_cp = time.monotonic()
        return SignedHead(seq, h, ts, prev, digest, sig, heads)

    def _db_head(self, cur: Any, seq: int | None = None) -> SignedHead | None:
        """The signed head stored with the (newest, or ``seq``'s) v2 checkpoint."""
        where = "" if seq is None else f"WHERE c.seq = {self.ph} "
        sql = ("SELECT c.seq, c.hash, c.ts, m.prev_seq, m.heads_digest, c.signature, m.heads "  # noqa: S608  (constant names and the driver's placeholders; values are bound)
               "FROM audit_checkpoints c JOIN audit_checkpoint_meta m ON m.seq = c.seq "
               f"{where}ORDER BY c.seq DESC LIMIT 1")
        cur.execute(sql, () if seq is None else (seq,))
        row = cur.fetchone()
        if row is None:
            return None
        try:
            heads = json.loads(row[6])
        except ValueError:
            heads = None
        if not isinstance(heads, dict):
            raise IntegrityError(f"the vault heads of the audit-log checkpoint at event {row[0]} "
                                 "are damaged")
        return SignedHead(int(row[0]), row[1], row[2], int(row[3]), row[4], row[5], heads)

    def _publish(self, head: SignedHead, *, to_anchor: bool = False) -> None:
        """Keep ``head`` outside the database: the head file, then (if the file moved, or
        ``to_anchor``) the anchor."""
        path = self.head_file()
        written = True  # a bare log has no head file: every head goes to the anchor
        if path is not None:
            try:
                written = write_head_file(path, head)
            except OSError as exc:
                raise AuditWriteFailed(f"the audit-log head file could not be written "
                                       f"({type(exc).__name__})") from None
        anchor = self.anchor()
        if (written or to_anchor) and anchor is not None:
            anchor.publish(head)

    @_serialised
    def checkpoint(self, *, strict: bool = True) -> int:
        """Sign a checkpoint at the current head now and keep it outside the database; return
        its seq. If the log no longer extends the kept head (truncated or rolled back), nothing
        is signed: ``strict`` raises IntegrityError, otherwise the refusal is left in
        ``self.rollback`` for ``verify`` to report."""
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
                cp = self._insert_checkpoint(cur, last[0], last[1])
            elif self.signer is not None:  # signed already: make sure it is kept outside too
                self.rollback = self._rollback_problem(cur, last[0])
                cp = None if self.rollback else self._db_head(cur, last[0])
            else:
                cp = None
            self._commit(conn, cur)
        except SigningKeyUnavailable as exc:
            self._rollback()
            if strict:
                raise AuditWriteFailed(f"checkpoint could not be written: {exc.message}") from None
            # The end of a session: its events stay unsigned, and verify fails on the missing key
            # (``verify_signing_key``) rather than this close hiding the command's own result.
            self.rollback = exc.message
            self._dirty = False
            return int(last[0])
        except PrivtuneError as exc:
            self._rollback()
            raise AuditWriteFailed(f"checkpoint could not be written: {exc.message}") from None
        except Exception as exc:
            self._rollback()
            raise AuditWriteFailed(f"checkpoint could not be written ({type(exc).__name__})") from None
        if cp is not None:
            self._publish(cp, to_anchor=strict)
        self._dirty = False
        if self.rollback is not None and strict:
            raise IntegrityError(f"checkpoint refused: {self.rollback} (see privtune audit-log verify)")
        return int(last[0])

    def seal(self) -> None:
        """Sign the head if this log appended since its last checkpoint (end of a session).

        A write failure raises; a signing key that cannot be had (missing, unreadable) leaves
        the events unsigned and says why in ``self.rollback``: ``verify`` fails on it."""
        if self._dirty and self.signer is not None:
            self._dirty = False  # tried once: a failure is raised here, not again at every close
            self.checkpoint(strict=False)

    @_serialised
    def signed_heads(self) -> tuple[str, dict[str, int]]:
        """The vault heads of the newest signed head (database or head file), checked.

        Returns ``(where, {name: latest version})``; an invalid signature is an IntegrityError.
        """
        if self.signer is None and self.head_dir is None:
            return "", {}
        conn = self._connect()
        cur = conn.cursor()
        try:
            found = [(h, f"the audit-log checkpoint at event {h.seq}") for h in [self._db_head(cur)]
                     if h is not None]
        finally:
            if self.dialect != "sqlite":
                conn.commit()
        path = self.head_file()
        kept = None if path is None else read_head_file(path)
        if kept is not None:
            found.append((kept, f"the audit-log head file (event {kept.seq})"))
        if not found:
            return "", {}
        pub = self.public_key()
        if pub is None:
            raise IntegrityError("no pinned audit-log public key in the workspace config "
                                 "(audit_public_key): the signed vault heads cannot be checked")
        for h, label in found:
            if h.signature not in self._valid_sigs:
                if h.heads is None or not h.valid(pub):
                    raise IntegrityError(f"{label} has an invalid signature or vault heads")
                self._valid_sigs.add(h.signature)
        head, label = max(found, key=lambda x: x[0].seq)
        return label, dict(head.heads or {})

    @_serialised
    def last_seq(self) -> int:
        conn = self._connect()
        cur = conn.cursor()
        cur.execute("SELECT MAX(seq) FROM audit_events")
        row = cur.fetchone()
        if self.dialect != "sqlite":
            conn.commit()
        return int(row[0] or 0)

    @_serialised
    def checkpoint_meta(self) -> dict[int, tuple[int, str]]:
        """``seq -> (prev_seq, heads_digest)`` of every v2 checkpoint."""
        conn = self._connect()
        cur = conn.cursor()
        cur.execute("SELECT seq, prev_seq, heads_digest FROM audit_checkpoint_meta")
        out = {int(s): (int(p), d) for s, p, d in cur.fetchall()}
        if self.dialect != "sqlite":
            conn.commit()
        return out

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

    @_serialised
    def checkpoints(self) -> list[tuple[int, str, str, str]]:
        conn = self._connect()
        cur = conn.cursor()
        cur.execute("SELECT seq, hash, ts, signature FROM audit_checkpoints ORDER BY seq")
        rows = [tuple(r) for r in cur.fetchall()]
        if self.dialect != "sqlite":
            conn.commit()
        return rows

    @_serialised
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
