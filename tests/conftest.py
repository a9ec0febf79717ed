"""Shared fixtures: an isolated cache and workspace per test session, offline mode on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The vault's KEK: a fixed test passphrase and cheap Argon2id parameters (tests only; the same
# profile makes API-key hashing cheap too).
os.environ.setdefault("PRIVTUNE_PASSPHRASE", "test passphrase, not a secret")
os.environ.setdefault("PRIVTUNE_KDF_PROFILE", "test")
# Access control: one provisioned admin key that every workspace made by the tests gets at init
# and that the CLI acts with (docs/access.md, "Tests").
TEST_ADMIN_KEY = "ptk_0123456789ab_" + "T" * 43
os.environ.setdefault("PRIVTUNE_INIT_ADMIN_KEY", TEST_ADMIN_KEY)
os.environ.setdefault("PRIVTUNE_API_KEY", TEST_ADMIN_KEY)


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


# --- metadata backends: SQLite always, PostgreSQL too when PRIVTUNE_TEST_PG_URL is set (.ci/run
# starts a server and sets it). Tests taking ``db_url`` run once per backend.
PG_ENV = "PRIVTUNE_TEST_PG_URL"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" in metafunc.fixturenames:
        backends = ["sqlite"] + (["postgresql"] if os.environ.get(PG_ENV) else [])
        metafunc.parametrize("db_backend", backends)


@pytest.fixture()
def db_url(db_backend: str, tmp_path: Path):
    """A fresh, empty metadata database URL: a SQLite file, or a new PostgreSQL database."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path}/meta.db"
        return
    import secrets

    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(os.environ[PG_ENV])
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"privtune_t_{secrets.token_hex(6)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
