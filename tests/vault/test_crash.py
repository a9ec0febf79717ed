"""SIGKILL a vault writer at random points: earlier versions stay intact, no partial object shows."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pytest

from privtune.workspace import Workspace

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions

TRIALS = 60
CHUNK = 1024


def payload(version: int) -> bytes:
    seed = hashlib.sha256(str(version).encode()).digest()
    return seed * (700 + 37 * (version % 11))  # ~22-35 KB: 22-35 chunks of 1 KiB


def _writer(root: str, ready) -> None:  # runs in the forked child until killed
    ws = Workspace.open(root, api_key=ADMIN_KEY)
    ws.vault.chunk_size = CHUNK
    ws.vault.exists("obj")
    ready.send(True)
    for _ in range(4):  # then wait to be killed: at most 4 new versions per trial
        latest = ws.vault.manifest("obj").version if ws.vault.exists("obj") else 0
        ws.vault.put("obj", payload(latest + 1), kind="blob")
    time.sleep(3600)


@pytest.mark.slow  # kills a real writer process mid-write
def test_sigkill_mid_write_keeps_previous_versions(small_ws) -> None:
    root = Path(small_ws.root)
    small_ws.vault.chunk_size = CHUNK
    small_ws.vault.put("obj", payload(1))
    ctx = multiprocessing.get_context("fork")
    rng = random.Random(7)
    # Kill points are spread over about three writes, whatever the machine's speed.
    t0 = time.perf_counter()
    for v in (2, 3, 4):
        small_ws.vault.put("obj", payload(v))
    span = time.perf_counter() - t0
    seen = 4
    for _ in range(TRIALS):
        parent_end, child_end = ctx.Pipe()
        proc = ctx.Process(target=_writer, args=(str(root), child_end), daemon=True)
        proc.start()
        assert parent_end.poll(60), "the writer did not start"
        time.sleep(rng.uniform(0.0, 2 * span))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        assert proc.exitcode == -signal.SIGKILL
        with Workspace.open(root, api_key=ADMIN_KEY) as ws:
            rows = [r for r in ws.vault.list() if r.name == "obj"]
            versions = [r.version for r in rows]
            assert versions == list(range(1, len(versions) + 1))
            assert len(versions) >= seen  # nothing that was visible disappeared
            for r in rows[seen - 1:]:  # the previous latest version and every new one
                assert ws.vault.get(r.ref) == payload(r.version), r.ref
            seen = len(versions)
    with Workspace.open(root, api_key=ADMIN_KEY) as ws:
        assert all(r.ok for r in ws.vault.verify())
        # Whatever a kill left behind is named by no manifest and is never read.
        known = {r.relpath for r in ws.vault.list()}
        stray = ws.vault.stray_files()
        assert all(str(p.relative_to(ws.vault.root)) not in known for p in stray)
    assert seen > 4 and stray, "no kill landed during a write: the trials tested nothing"
    print(f"versions {seen}, kills that left a partial file {len(stray)}")
