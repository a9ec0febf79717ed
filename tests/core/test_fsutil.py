"""Atomic writes: a writer killed at any point leaves the old file or the new one, never a mix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from privtune.fsutil import atomic_write
from privtune.tmp import private_tempdir


def test_atomic_write_replaces_and_cleans(tmp_path: Path) -> None:
    p = tmp_path / "f"
    atomic_write(p, b"old")
    atomic_write(p, [b"ne", b"w"])
    assert p.read_bytes() == b"new"
    assert [x.name for x in tmp_path.iterdir()] == ["f"]


def test_failed_write_leaves_previous(tmp_path: Path) -> None:
    p = tmp_path / "f"
    atomic_write(p, b"old")

    def chunks():
        yield b"partial"
        raise RuntimeError("disk on fire")

    try:
        atomic_write(p, chunks())
    except RuntimeError:
        pass
    assert p.read_bytes() == b"old"
    assert [x.name for x in tmp_path.iterdir()] == ["f"]


WRITER = """
import sys
from privtune.fsutil import atomic_write
path, n = sys.argv[1], int(sys.argv[2])
def chunks():
    for _ in range(n):
        yield b"N" * 65536
atomic_write(path, chunks())
"""


def test_sigkill_mid_write_keeps_previous(tmp_path: Path) -> None:
    p = tmp_path / "f"
    old = b"O" * 1000
    atomic_write(p, old)
    for delay in (0.0, 0.02, 0.05, 0.1, 0.2):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(p), "4000"])
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = p.read_bytes()
        assert data == old or data == b"N" * 65536 * 4000
        if data != old:
            atomic_write(p, old)


def test_private_tempdir_is_private_and_removed() -> None:
    with private_tempdir("t") as d:
        assert oct(os.stat(d).st_mode & 0o777) == oct(0o700)
        (d / "x").write_text("plaintext")
    assert not d.exists()
    try:
        with private_tempdir("t") as d2:
            raise ValueError
    except ValueError:
        pass
    assert not d2.exists()
