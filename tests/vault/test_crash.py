"""SIGKILL a vault writer at random points: earlier versions stay intact, no partial object shows."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

from privtune.workspace import Workspace

TRIALS = 60
CHUNK = 1024


def payload(version: int) -> bytes:
    seed = hashlib.sha256(str(version).encode()).digest()
    return seed * (700 + 37 * (version % 11))  # ~22-35 KB: 22-35 chunks of 1 KiB


def _writer(root: str) -> None:  # runs in the forked child until killed
    ws = Workspace.open(root)
    ws.vault.chunk_size = CHUNK
    while True:
        latest = ws.vault.manifest("obj").version if ws.vault.exists("obj") else 0
        ws.vault.put("obj", payload(latest + 1), kind="blob")


def test_sigkill_mid_write_keeps_previous_versions(small_ws) -> None:
    root = Path(small_ws.root)
    small_ws.vault.chunk_size = CHUNK
    small_ws.vault.put("obj", payload(1))
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(7)
    seen = 1
    for _ in range(TRIALS):
        proc = ctx.Process(target=_writer, args=(str(root),), daemon=True)
        proc.start()
        time.sleep(rng.uniform(0.0, 0.08))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        assert proc.exitcode == -signal.SIGKILL
        with Workspace.open(root) as ws:
            rows = [r for r in ws.vault.list() if r.name == "obj"]
            versions = [r.version for r in rows]
            assert versions == list(range(1, len(versions) + 1))
            assert len(versions) >= seen  # nothing that was visible disappeared
            for r in rows:
                assert ws.vault.get(r.ref) == payload(r.version), r.ref
            seen = len(versions)
    with Workspace.open(root) as ws:
        assert all(r.ok for r in ws.vault.verify())
        # Whatever a kill left behind is named by no manifest and is never read.
        known = {r.relpath for r in ws.vault.list()}
        assert all(str(p.relative_to(ws.vault.root)) not in known for p in ws.vault.stray_files())
    assert seen > 1, "the writer never completed a version: the trials tested nothing"
    print(f"versions {seen}, stray files {len(ws.vault.stray_files())}")
