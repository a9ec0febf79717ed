"""Durable, atomic file writes: temp file in the same directory, fsync, rename, fsync the dir.

A crash at any point leaves either the previous file or the new one, never a partial file
under the final name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | Path, chunks: bytes | Iterable[bytes], *, mode: int = 0o600) -> int:
    """Write ``chunks`` to ``path`` atomically and durably; return the number of bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(chunks, (bytes, bytearray, memoryview)):
        chunks = [bytes(chunks)]
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    size = 0
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                size += len(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return size


def atomic_write_text(path: str | Path, text: str, *, mode: int = 0o644) -> int:
    return atomic_write(path, text.encode("utf-8"), mode=mode)


@contextmanager
def atomic_file(path: str | Path, *, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Yield a file to write; on success it is fsynced and renamed onto ``path`` (dir fsynced).

    On any error, or if the process dies, nothing appears under ``path`` (a ``.tmp-*`` file may
    remain after a hard kill; it is never read).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb", buffering=0) as fh:
            yield fh
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
