"""Group commit: threads appending at once share transactions, and each still gets exactly what
a lone append promises (its event durable before it returns, one total chain order, fail
closed), including when the process is killed in the middle of a batch."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import privtune.audit.log as auditlog
from privtune.audit.log import AuditLog
from privtune.audit.verify import verify_log
from privtune.errors import AuditWriteFailed
from privtune.store import MetadataStore

THREADS, EACH = 8, 60


def _fresh(url: str) -> None:
    store = MetadataStore(url)
    store.create()
    store.dispose()


def _batch_sizes(monkeypatch) -> list[int]:
    sizes: list[int] = []
    orig = AuditLog._append_batch

    def spy(self, batch):
        sizes.append(len(batch))
        return orig(self, batch)

    monkeypatch.setattr(AuditLog, "_append_batch", spy)
    return sizes


def test_threads_share_commits_and_keep_one_total_order(db_url: str, monkeypatch) -> None:
    monkeypatch.setattr(auditlog, "CHECKPOINT_EVERY", 50)  # checkpoints fall inside batches
    _fresh(db_url)
    signer = Ed25519PrivateKey.generate()
    log = AuditLog(db_url, lambda: signer, public_key=signer.public_key)
    sizes = _batch_sizes(monkeypatch)
    clock = iter(range(10**9))
    clock_lock = threading.Lock()
    acks: list[tuple[int, int, int, int, str]] = []  # (start tick, end tick, thread, seq, hash)

    def tick() -> int:
        with clock_lock:
            return next(clock)

    def writer(t: int) -> None:
        for i in range(EACH):
            start = tick()
            got = log.append(actor=f"u-{t}", role="admin", key_id="k", op="data.read",
                             object=f"t{t}@{i}", detail={"t": t, "i": i})
            end = tick()
            with clock_lock:
                acks.append((start, end, t, got.seq, got.hash))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    total = THREADS * EACH
    assert max(sizes) > 1, "appends from concurrent threads were never batched"
    assert sum(sizes) == total
    report = verify_log(log, signer.public_key())
    assert report.ok, report.line()
    assert report.events == total and report.checkpoints == total // 50
    rows = list(log.iter_events())
    # every event present exactly once, at the seq and hash its caller was given
    assert Counter(r.object for r in rows) == Counter(f"t{t}@{i}" for t in range(THREADS)
                                                      for i in range(EACH))
    stored = {r.seq: (r.hash, r.object) for r in rows}
    for _, _, t, seq, h in acks:
        assert stored[seq][0] == h and stored[seq][1].startswith(f"t{t}@")
    # the order is total and respects real time: an append that returned before another one
    # started has the smaller seq; each thread's events are in its own order
    by_end = sorted(acks, key=lambda a: a[1])
    for a in acks:
        for b in by_end:
            if b[1] >= a[0]:
                break
            assert b[3] < a[3]
    for t in range(THREADS):
        mine = [r for r in rows if r.actor == f"u-{t}"]
        assert [int(r.object.split("@")[1]) for r in mine] == list(range(EACH))
    log.close()


def test_a_failed_batch_fails_every_caller_in_it(tmp_path: Path, monkeypatch) -> None:
    """Fail closed: the transaction of a batch fails, so every caller whose event was in it
    raises, none of those events is stored, and the log goes on afterwards."""
    url = f"sqlite:///{tmp_path}/m.db"
    _fresh(url)
    log = AuditLog(url, None)
    log.append(actor="u-0", role="admin", key_id="k", op="metadata.read")
    orig_batch, orig_commit = AuditLog._append_batch, AuditLog._commit
    state = {"armed": True, "failing": False, "failed": []}

    def batch(self, items):
        state["failing"] = state["armed"] and len(items) > 1
        if state["failing"]:
            state["armed"] = False
            state["failed"] = [i.values[4] for i in items]  # their objects
        return orig_batch(self, items)

    def commit(self, conn, cur):
        if state["failing"]:
            state["failing"] = False
            raise sqlite3.OperationalError("disk I/O error")
        return orig_commit(self, conn, cur)

    monkeypatch.setattr(AuditLog, "_append_batch", batch)
    monkeypatch.setattr(AuditLog, "_commit", commit)
    ok: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def writer(t: int) -> None:
        for i in range(20):
            obj = f"t{t}@{i}"
            try:
                log.append(actor=f"u-{t}", role="admin", key_id="k", op="data.read", object=obj)
            except AuditWriteFailed:
                with lock:
                    refused.append(obj)
            else:
                with lock:
                    ok.append(obj)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert state["failed"], "no batch of several events was formed"
    assert sorted(refused) == sorted(state["failed"])
    stored = [r.object for r in log.iter_events()][1:]
    assert sorted(stored) == sorted(ok)
    assert not set(stored) & set(refused)
    assert log.verify_chain().bad_position is None
    log.close()


_WRITER = r"""
import sys, threading
from privtune.audit.log import AuditLog
log = AuditLog(sys.argv[1], None, sync="full")
out_lock = threading.Lock()
def w(t):
    i = 0
    while True:
        a = log.append(actor=f"u-{t}", role="admin", key_id="k", op="data.read", object=f"t{t}@{i}")
        with out_lock:
            sys.stdout.write(f"{a.seq} {a.hash} t{t}@{i}\n")
            sys.stdout.flush()
        i += 1
ts = [threading.Thread(target=w, args=(t,), daemon=True) for t in range(8)]
for t in ts: t.start()
for t in ts: t.join()
"""


@pytest.mark.slow  # a writer process is started and killed
def test_kill_9_mid_batch_loses_no_acknowledged_event(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    _fresh(url)
    src = str(Path(auditlog.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": src}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, url], stdout=subprocess.PIPE,
                            env=env, text=True)
    acked: list[tuple[int, str, str]] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while len(acked) < 400 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seq, h, obj = line.split()
        acked.append((int(seq), h, obj))
    os.kill(proc.pid, signal.SIGKILL)  # in the middle of some batch: 8 writers never pause
    rest = proc.stdout.read()  # acknowledgements written before the kill
    proc.wait()
    for line in rest.splitlines():
        seq, h, obj = line.split()
        acked.append((int(seq), h, obj))
    assert len(acked) >= 400
    log = AuditLog(url, None)
    res = log.verify_chain()
    assert res.bad_position is None, res.reason
    rows = {r.seq: (r.hash, r.object) for r in log.iter_events()}
    assert len(rows) == res.events >= len(acked)
    for seq, h, obj in acked:
        assert rows[seq] == (h, obj)
    assert len({o for _, o in rows.values()}) == len(rows)  # no event twice
    log.close()
