"""Durable, atomic file writes: temp file in the same directory, fsync, rename, fsync the dir.

A crash at any point leaves either the previous file or the new one, never a partial file
under the final name. Temporary files are named ``.tmp-XXXXXXXX`` (mkstemp); files this
module writes are private (0600) unless a caller asks otherwise.

Plaintext that leaves the vault for a path the user named goes through
:func:`private_output` instead (no temporary file: a killed process must not leave plaintext
under a name nobody asked for), and :func:`remove_stale_temps` clears what a killed older
version left.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import time
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


#: Modes of what privtune creates: only the owner reads workspace files and folders.
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: str | Path) -> Path:
    """Create ``path`` and any missing parents with mode 0700 (``mkdir(parents=True)`` gives
    the parents the umask's mode); an existing folder is left as it is."""
    path = Path(path)
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue
        os.chmod(d, PRIVATE_DIR)  # mkdir's mode is masked by the umask
    return path


def restrict_tree(root: str | Path) -> None:
    """Take group and other permissions away from ``root`` and everything under it (for
    files a library wrote with the umask's mode: ``save_pretrained``, ``copytree``, loggers)."""
    root = Path(root)
    if not root.exists():
        return
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, PRIVATE_DIR)
        for name in filenames:
            f = os.path.join(dirpath, name)
            if not os.path.islink(f):
                os.chmod(f, os.stat(f).st_mode & 0o700)


def atomic_write(path: str | Path, chunks: bytes | Iterable[bytes], *, mode: int = 0o600) -> int:
    """Write ``chunks`` to ``path`` atomically and durably; return the number of bytes."""
    path = Path(path)
    private_dir(path.parent)
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


def atomic_write_text(path: str | Path, text: str, *, mode: int = 0o600) -> int:
    return atomic_write(path, text.encode("utf-8"), mode=mode)


@contextmanager
def atomic_file(path: str | Path, *, mode: int = 0o600) -> Iterator[BinaryIO]:
    """Yield a file to write; on success it is fsynced and renamed onto ``path`` (dir fsynced).

    On any error, or if the process dies, nothing appears under ``path`` (a ``.tmp-*`` file may
    remain after a hard kill; it is never read).
    """
    path = Path(path)
    private_dir(path.parent)
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


#: What ``tempfile.mkstemp(prefix=".tmp-")`` names a file: the temporaries of this module.
TEMP_NAME = re.compile(r"\.tmp-[a-z0-9_]{8}")
#: A temporary file untouched for this long belongs to a process that died.
STALE_SECONDS = 60.0


def remove_stale_temps(directory: str | Path, *, older_than: float = STALE_SECONDS) -> list[Path]:
    """Delete ``.tmp-XXXXXXXX`` files in ``directory`` that this user owns and nobody wrote
    for ``older_than`` seconds (left by a killed writer); return what was deleted."""
    d = Path(directory)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(d))
    except OSError:
        return removed
    now = time.time()
    for e in entries:
        if not TEMP_NAME.fullmatch(e.name):
            continue
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or now - st.st_mtime < older_than:
            continue
        try:
            os.unlink(e.path)
            removed.append(Path(e.path))
        except FileNotFoundError:
            pass
    return removed


@contextmanager
def private_output(path: str | Path) -> Iterator[BinaryIO]:
    """Yield ``path`` opened for writing (created 0600, truncated, symlinks refused), fsynced
    on success and deleted if the block raises: no temporary file anywhere else."""
    path = Path(path)
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb", buffering=1 << 16) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
