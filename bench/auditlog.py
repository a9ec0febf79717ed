"""Audit-log throughput: appends/s (one process, and 4 concurrent processes) with durability
on, 8 writer threads in one process sharing one log (group commit), and verification in events/s, on SQLite and (when a server is reachable) PostgreSQL.

Durability, both modes of the ``audit_sync`` setting: ``full`` = SQLite WAL +
synchronous=FULL / PostgreSQL synchronous_commit=on (one fsync per event); ``normal`` = SQLite
WAL + synchronous=NORMAL / PostgreSQL synchronous_commit=off (survives process crashes).
Peer, side by side: the same append done the ordinary way, one SQLAlchemy ORM session per
event (what a straightforward implementation would do), and verification with a JSON
canonical encoding per event instead of the joined-fields encoding.
PostgreSQL: $PRIVTUNE_TEST_PG_URL, else `.ci/pg-start` is tried.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write
from privtune.audit.chain import GENESIS, ROW_COLUMNS, event_hash
from privtune.audit.log import AuditLog
from privtune.audit.verify import verify_log
from privtune.store import MetadataStore

APPENDS = int(os.environ.get("BENCH_AUDIT_APPENDS", "5000"))  # sync=normal; full: a fifth
VERIFY_EVENTS = int(os.environ.get("BENCH_AUDIT_VERIFY", "200000"))
PROCS = 4
THREADS = int(os.environ.get("BENCH_AUDIT_THREADS", "8"))


def _signer(raw_hex: str):
    """A checkpoint signer from raw key bytes (the workspace unwraps its key from keys/)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return lambda: Ed25519PrivateKey.from_private_bytes(bytes.fromhex(raw_hex))


def _append_n(url: str, signer_hex: str, n: int, tag: int, sync: str = "full") -> float:
    log = AuditLog(url, _signer(signer_hex), sync=sync)
    log.append(actor="u-warm", role="admin", key_id="k", op="metadata.read", object="warm")
    t0 = time.perf_counter()
    for i in range(n):
        log.append(actor=f"u-{tag:04d}", role="admin", key_id="0123456789ab", op="data.read",
                   object=f"employees@{i % 7 + 1}", detail={"kind": "table"})
    dt = time.perf_counter() - t0
    log.close()
    return dt


def _append_threads(url: str, signer_hex: str, threads: int, each: int, sync: str) -> tuple[float, float]:
    """``threads`` writer threads in one process sharing one AuditLog (group commit); returns
    (seconds, mean events per transaction)."""
    import threading

    log = AuditLog(url, _signer(signer_hex), sync=sync)
    log.append(actor="u-warm", role="admin", key_id="k", op="metadata.read", object="warm")
    sizes: list[int] = []
    orig = log._append_batch

    def counted(batch):  # type: ignore[no-untyped-def]
        sizes.append(len(batch))
        return orig(batch)

    log._append_batch = counted  # type: ignore[method-assign]

    def writer(t: int) -> None:
        for i in range(each):
            log.append(actor=f"u-{t:04d}", role="admin", key_id="0123456789ab", op="data.read",
                       object=f"employees@{i % 7 + 1}", detail={"kind": "table"})

    ts = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.perf_counter() - t0
    log.close()
    return dt, sum(sizes) / max(1, len(sizes))


def _fsync_ms(directory: Path, n: int = 200) -> float:
    """The disk's fsync latency here (8 KiB write + fsync), the bound of any durable append."""
    path = directory / f"fsync-{secrets.token_hex(4)}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            os.write(fd, b"x" * 8192)
            os.fsync(fd)
        return (time.perf_counter() - t0) / n * 1000
    finally:
        os.close(fd)
        path.unlink()


def _orm_append_n(url: str, n: int) -> float:
    """The peer: one ORM session (transaction) per event, default SQLAlchemy handling."""
    from sqlalchemy import select

    from privtune.store.audit_models import AuditEvent

    store = MetadataStore(url)
    t0 = time.perf_counter()
    for i in range(n):
        with store.session() as s:
            if store.engine.dialect.name == "postgresql":
                from sqlalchemy import text
                s.execute(text("SELECT pg_advisory_xact_lock(1)"))
            last = s.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
            seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            fields = [seq, "2026-01-01T00:00:00.000000Z", "u-orm", "admin", "k", "data.read",
                      f"employees@{i % 7 + 1}", "allow", "", '{"kind":"table"}']
            s.add(AuditEvent(**dict(zip(ROW_COLUMNS, fields + [prev, event_hash(prev, fields)]))))
    dt = time.perf_counter() - t0
    store.dispose()
    return dt


def _fill(url: str, n: int) -> None:
    """Write a valid chain of n events quickly (bulk, one transaction) for the verify bench."""
    store = MetadataStore(url)
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        f = [seq, f"2026-01-01T00:00:00.{seq % 1000000:06d}Z", f"u-{seq % 50:016x}", "ml-engineer",
             "0123456789ab", "training.read", f"trainset@{seq % 9 + 1}", "allow", "", '{"kind":"examples"}']
        h = event_hash(prev, f)
        rows.append(dict(zip(ROW_COLUMNS, f + [prev, h])))
        prev = h
    from privtune.store.audit_models import AuditEvent

    with store.engine.begin() as c:
        for i in range(0, n, 20000):
            c.execute(AuditEvent.__table__.insert(), rows[i:i + 20000])
    store.dispose()


def _json_verify(log: AuditLog) -> int:
    """The peer verification: canonical JSON per event, then SHA-256."""
    prev, n = GENESIS, 0
    for r in log.iter_rows():
        body = json.dumps(list(r[:10]), separators=(",", ":"), sort_keys=True)
        hashlib.sha256((prev + body).encode()).hexdigest()
        prev = r[11]
        n += 1
    return n


def _new_db(backend: str, tmp: Path, pg_base: str | None) -> str:
    if backend == "sqlite":
        url = f"sqlite:///{tmp}/bench-{secrets.token_hex(4)}.db"
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        base = make_url(pg_base)
        name = f"privtune_bench_{secrets.token_hex(4)}"
        with psycopg.connect(base.set(drivername="postgresql").render_as_string(hide_password=False),
                             autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        url = base.set(database=name).render_as_string(hide_password=False)
    store = MetadataStore(url)
    store.create()
    store.dispose()
    return url


def _pg_url() -> str | None:
    url = os.environ.get("PRIVTUNE_TEST_PG_URL")
    if url:
        return url
    script = Path(__file__).resolve().parent.parent / ".ci" / "pg-start"
    try:
        return subprocess.run([str(script)], check=True, capture_output=True, text=True,
                              timeout=600).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def bench_backend(backend: str, tmp: Path, pg: str | None) -> list[dict]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    rows = []
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes_raw().hex()
    for sync in ("full", "normal"):
        n = APPENDS if sync == "normal" else max(200, APPENDS // 5)
        url = _new_db(backend, tmp, pg)
        dt = _append_n(url, raw, n, 0, sync)
        rows.append({"backend": backend, "sync": sync, "what": "append, 1 process",
                     "impl": "privtune", "events": n, "seconds": dt, "per_s": n / dt})
        url = _new_db(backend, tmp, pg)
        each = n // PROCS
        ctx = mp.get_context("spawn")
        with ctx.Pool(PROCS) as pool:
            pool.starmap(_append_n, [(url, raw, 1, 100 + w, sync) for w in range(PROCS)])
            t0 = time.perf_counter()
            pool.starmap(_append_n, [(url, raw, each, w, sync) for w in range(PROCS)])
            dt = time.perf_counter() - t0
        log = AuditLog(url, _signer(raw))
        rep = verify_log(log, key.public_key())
        log.close()
        assert rep.ok, rep.line()
        rows.append({"backend": backend, "sync": sync, "what": f"append, {PROCS} processes",
                     "impl": "privtune", "events": each * PROCS, "seconds": dt,
                     "per_s": each * PROCS / dt})
        url = _new_db(backend, tmp, pg)
        per = (APPENDS if sync == "full" else 2 * APPENDS) // THREADS
        dt, mean = _append_threads(url, raw, THREADS, per, sync)
        log = AuditLog(url, _signer(raw))
        rep = verify_log(log, key.public_key())
        log.close()
        assert rep.ok and rep.events == per * THREADS + 1, rep.line()
        rows.append({"backend": backend, "sync": sync,
                     "what": f"append, {THREADS} threads, 1 process",
                     "impl": f"privtune group commit ({mean:.1f} events/txn)",
                     "events": per * THREADS, "seconds": dt, "per_s": per * THREADS / dt})
    url = _new_db(backend, tmp, pg)
    n_peer = max(200, APPENDS // 10)
    dt = _orm_append_n(url, n_peer)
    rows.append({"backend": backend, "sync": "full", "what": "append, 1 process",
                 "impl": "peer: ORM session/event", "events": n_peer, "seconds": dt,
                 "per_s": n_peer / dt})
    url = _new_db(backend, tmp, pg)
    _fill(url, VERIFY_EVENTS)
    log = AuditLog(url, _signer(raw))
    t0 = time.perf_counter()
    res = log.verify_chain()
    dt = time.perf_counter() - t0
    assert res.bad_position is None and res.events == VERIFY_EVENTS
    rows.append({"backend": backend, "sync": "", "what": "verify", "impl": "privtune",
                 "events": VERIFY_EVENTS, "seconds": dt, "per_s": VERIFY_EVENTS / dt})
    t0 = time.perf_counter()
    n = _json_verify(log)
    dt = time.perf_counter() - t0
    rows.append({"backend": backend, "sync": "", "what": "verify", "impl": "peer: JSON canonical form",
                 "events": n, "seconds": dt, "per_s": n / dt})
    log.close()
    return rows


def main() -> None:
    load = os.getloadavg()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="privtune-bench-audit-",
                                     dir=os.environ.get("BENCH_AUDIT_DIR")) as d:
        fsync_ms = _fsync_ms(Path(d))
        (Path(d) / "s").mkdir()
        rows += bench_backend("sqlite", Path(d) / "s", None)
        pg = _pg_url()
        if pg:
            (Path(d) / "p").mkdir()
            rows += bench_backend("postgresql", Path(d) / "p", pg)
    write("auditlog", {"appends": APPENDS, "verify_events": VERIFY_EVENTS, "processes": PROCS,
                       "threads": THREADS, "fsync_ms": round(fsync_ms, 3),
                       "where": os.environ.get("BENCH_MACHINE", "dev box"),
                       "loadavg_before": load, "loadavg_after": os.getloadavg(),
                       "durability": {"full": "SQLite WAL + synchronous=FULL; PostgreSQL "
                                              "synchronous_commit=on",
                                      "normal": "SQLite WAL + synchronous=NORMAL; PostgreSQL "
                                                "synchronous_commit=off"}},
          rows, ["backend", "sync", "what", "impl", "events", "seconds", "per_s"])
    md = Path(__file__).resolve().parent / "results" / "auditlog.md"
    md.write_text(md.read_text() + f"\nMachine: {os.environ.get('BENCH_MACHINE', 'dev box')}, "
                  f"{os.cpu_count()} CPUs; load average before {load[0]:.2f}, after "
                  f"{os.getloadavg()[0]:.2f}; fsync latency of the disk {fsync_ms:.3f} ms (8 KiB "
                  f"write + fsync). A durable append waits for one fsync, so {THREADS} writers "
                  f"bound the rate near {THREADS}/fsync = {THREADS / fsync_ms * 1000:,.0f}/s.\n")


if __name__ == "__main__":
    main()
