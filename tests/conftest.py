"""Shared fixtures: an isolated cache and workspace per test session, offline mode on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The vault's KEK: a fixed test passphrase and cheap Argon2id parameters (tests only).
os.environ.setdefault("PRIVTUNE_PASSPHRASE", "test passphrase, not a secret")
os.environ.setdefault("PRIVTUNE_KDF_PROFILE", "test")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tests never read or write the user's ~/.cache/privtune."""
    cache = tmp_path_factory.mktemp("privtune-cache")
    old = os.environ.get("PRIVTUNE_CACHE")
    os.environ["PRIVTUNE_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("PRIVTUNE_CACHE", None)
    else:
        os.environ["PRIVTUNE_CACHE"] = old


@pytest.fixture()
def workspace(tmp_path: Path):
    from privtune.workspace import init_workspace

    ws = init_workspace(tmp_path / "ws")
    yield ws
    ws.close()
