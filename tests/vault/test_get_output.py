"""``vault get -o``: plaintext goes only to the file the user named (issue 16, finding 11).

Before: the output was written through a ``.tmp-*`` file beside the target; a SIGKILL mid-get
left that file behind holding a plaintext prefix, under a name nobody asked for.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from privtune.errors import IntegrityError
from privtune.fsutil import remove_stale_temps
from privtune.workspace import Workspace

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]
PLAIN = b"Henrietta Quibbleworth, 1985-07-14\n" * 4000  # 140 KB: ~2,200 chunks of 64 B


def _slow_getter(root: str, out: str) -> None:  # runs in the forked child until killed
    from privtune.vault import format as fmt
    from privtune.vault import objects

    real = fmt.decrypt_chunks

    def slow(*a, **kw):
        for pt in real(*a, **kw):
            time.sleep(0.001)
            yield pt

    objects.fmt.decrypt_chunks = slow  # type: ignore[attr-defined]
    ws = Workspace.open(root, api_key=ADMIN_KEY)
    ws.vault.get_to("secret", out)
    time.sleep(3600)


@pytest.mark.slow  # seconds of work (a training run, a subprocess, a property search or a big input)
def test_sigkill_mid_get_leaves_no_plaintext_outside_the_target(small_ws, tmp_path: Path) -> None:
    small_ws.vault.put("secret", PLAIN)
    outdir = tmp_path / "out"
    outdir.mkdir()
    target = outdir / "secret.csv"
    proc = multiprocessing.get_context("fork").Process(
        target=_slow_getter, args=(str(small_ws.root), str(target)), daemon=True)
    proc.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until plaintext is being written somewhere
        if any(p.stat().st_size > 0 for p in outdir.iterdir() if p.is_file()):
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    left = sorted(p.name for p in outdir.iterdir())
    assert left == ["secret.csv"], left  # before: ['.tmp-xxxxxxxx'] with a plaintext prefix
    assert target.stat().st_mode & 0o077 == 0


def test_stale_temp_files_are_removed_at_the_start_of_a_get(small_ws, tmp_path: Path) -> None:
    small_ws.vault.put("secret", PLAIN)
    outdir = tmp_path / "out"
    outdir.mkdir()
    stale = outdir / ".tmp-abc123_z"
    stale.write_bytes(PLAIN[:500])  # what an older privtune left when killed
    old = time.time() - 3600
    os.utime(stale, (old, old))
    fresh = outdir / ".tmp-zzzzzzzz"  # a write in progress right now: left alone
    fresh.write_bytes(b"x")
    other = outdir / ".tmp-notours.txt"  # not our temp-name pattern: left alone
    other.write_bytes(b"x")
    os.utime(other, (old, old))
    assert small_ws.vault.get_to("secret", outdir / "s.csv") == len(PLAIN)
    assert (outdir / "s.csv").read_bytes() == PLAIN
    assert not stale.exists() and fresh.exists() and other.exists()


def test_damaged_object_writes_nothing_even_directly(small_ws, tmp_path: Path) -> None:
    ref = small_ws.vault.put("secret", PLAIN)
    row = small_ws.vault.manifest(ref)
    path = small_ws.vault.root / row.relpath
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    target = tmp_path / "s.csv"
    with pytest.raises(IntegrityError):
        small_ws.vault.get_to("secret", target)
    assert not target.exists()
    assert not any(p.name.startswith(".tmp-") for p in tmp_path.iterdir())


def test_remove_stale_temps_ignores_missing_dirs(tmp_path: Path) -> None:
    assert remove_stale_temps(tmp_path / "nope") == []
