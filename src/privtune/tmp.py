"""Private temporary directories for plaintext that a library insists on reading from disk.

``private_tempdir()`` makes a 0700 directory and removes it on exit, on error too. Code that
must hand plaintext to a file-based API (``from_pretrained``, ``save_pretrained``) uses it;
nothing else writes plaintext outside the vault.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "privtune-"


@contextmanager
def private_tempdir(label: str = "tmp") -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{label}-"))
    os.chmod(path, 0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
