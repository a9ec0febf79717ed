"""Fixtures for vault tests: a workspace with a small chunk size, planted PII."""

from __future__ import annotations

from pathlib import Path

import pytest

from privtune.vault.keyring import forget_unlocked

#: Values that must never appear in clear under the workspace.
PLANTED = ("Henrietta Quibbleworth", "DE89370400440532013000", "hq@example.org", "1985-07-14")
PII_ROW = (", ".join(PLANTED) + "\n").encode()


@pytest.fixture()
def small_ws(tmp_path: Path, make_workspace):
    ws = make_workspace(tmp_path / "ws")
    ws.vault.chunk_size = 64
    yield ws
    ws.close()


@pytest.fixture()
def locked():
    """Forget every unlocked KEK before and after the test (a fresh process, as it were)."""
    forget_unlocked()
    yield
    forget_unlocked()
