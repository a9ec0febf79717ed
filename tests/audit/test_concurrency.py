"""Several processes appending at once keep one valid chain with no gap and no duplicate."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from privtune.audit.log import AuditLog
from privtune.audit.verify import verify_log
from privtune.store import MetadataStore

PROCS, EACH = 4, 150


def _worker(url: str, signer_hex: str, wid: int) -> int:
    # The checkpoint signer is any callable giving the key (the workspace unwraps it from keys/).
    log = AuditLog(url, lambda: Ed25519PrivateKey.from_private_bytes(bytes.fromhex(signer_hex)))
    for i in range(EACH):
        log.append(actor=f"u-w{wid}", role="admin", key_id="k", op="data.read", object=f"o@{i}",
                   detail={"worker": wid, "i": i})
    log.close()
    return wid


@pytest.mark.slow  # several writer processes, end to end
def test_concurrent_appends_keep_a_valid_chain(db_url: str, tmp_path: Path, monkeypatch) -> None:
    store = MetadataStore(db_url)
    store.create()
    store.dispose()
    signer = Ed25519PrivateKey.generate()
    raw = signer.private_bytes_raw().hex()
    ctx = mp.get_context("spawn")
    with ctx.Pool(PROCS) as pool:
        assert sorted(pool.starmap(_worker, [(db_url, raw, w) for w in range(PROCS)])) == list(range(PROCS))
    log = AuditLog(db_url, lambda: signer)
    report = verify_log(log, signer.public_key())
    assert report.ok, report.line()
    assert report.events == PROCS * EACH
    rows = list(log.iter_events())
    assert [r.seq for r in rows] == list(range(1, PROCS * EACH + 1))
    per_worker: dict[str, list[int]] = {}
    for r in rows:
        per_worker.setdefault(r.actor, []).append(int(r.object.split("@")[1]))
    assert all(v == list(range(EACH)) for v in per_worker.values())  # each worker's order kept
    log.close()


def test_sync_modes(tmp_path: Path) -> None:
    import pytest

    from privtune.errors import WorkspaceError

    url = f"sqlite:///{tmp_path}/m.db"
    store = MetadataStore(url)
    store.create()
    for sync, level in (("full", 2), ("normal", 1)):
        log = AuditLog(url, None, sync=sync)
        log.append(actor="u-1", role="admin", key_id="k", op="metadata.read")
        assert log._connect().execute("PRAGMA synchronous").fetchone()[0] == level
        log.close()
    with pytest.raises(WorkspaceError, match="audit_sync"):
        AuditLog(url, None, sync="off")
    assert verify_log(AuditLog(url, None), None).events == 2
