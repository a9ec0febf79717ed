"""Shared fixtures: an isolated cache and workspace per test session, offline mode on."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The vault's KEK: a fixed test passphrase.
os.environ.setdefault("PRIVTUNE_PASSPHRASE", "test passphrase, not a secret")
# Access control: one admin key that every workspace made by the tests gets at init (provisioned
# by the ``test_admin_key`` fixture below, never by an environment variable read by privtune)
# and that the CLI acts with (docs/access.md, "Tests").
TEST_ADMIN_KEY = "ptk_0123456789ab_" + "T" * 43
os.environ.setdefault("PRIVTUNE_API_KEY", TEST_ADMIN_KEY)

from privtune.vault import kdf  # noqa: E402  (after the environment above is set)
from privtune.vault.kdf import Argon2Params  # noqa: E402

# Cheap Argon2id for the KEK and API-key hashes (tests only). Production code takes it only as
# an explicit argument (``init_workspace(..., kdf=TEST_KDF)``, ``KekSpec(kdf=...)``); no
# environment variable selects it.
TEST_KDF = Argon2Params(time_cost=1, memory_kib=64, parallelism=1)


@pytest.fixture(scope="session", autouse=True)
def cheap_kdf() -> Iterator[Argon2Params]:
    """Calls that cannot take an argument (the in-process CLI, key rotation, users added later)
    use the module default: this test-only fixture sets it to ``TEST_KDF`` for the session
    (session-scoped and autouse, so it is in place before any other session fixture). A
    workspace opened later, in this process or another, needs no setting: the parameters are
    stored with what they protect."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kdf, "DEFAULT", TEST_KDF)
        yield TEST_KDF


@pytest.fixture(scope="session", autouse=True)
def test_admin_key() -> Iterator[str]:
    """Every workspace a test creates gets ``TEST_ADMIN_KEY`` as its first admin's key: this
    test-only fixture sets ``init_workspace``'s ``admin_key`` default for the session (so the
    in-process CLI's ``init`` and the demo get it too). Production code has no such setting:
    ``init`` generates the key and prints it once. A test that needs the real behaviour sets the
    default back to None with its own monkeypatch."""
    from privtune import workspace as wsmod

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(wsmod.init_workspace.__kwdefaults__, "admin_key", TEST_ADMIN_KEY)
        yield TEST_ADMIN_KEY


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

    ws = init_workspace(tmp_path / "ws", kdf=TEST_KDF, admin_key=TEST_ADMIN_KEY)
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


@pytest.fixture()
def two_employees():
    """A two-row HRIS employees table with every identifier column (PII tests and deid tests)."""
    import pyarrow as pa

    return pa.table(
        {
            "employee_id": ["E00001", "E00002"],
            "first_name": ["Maria", "Tom"],
            "last_name": ["Garcia", "Okafor"],
            "email": ["maria.garcia@acme.com", "tom.okafor@acme.com"],
            "phone": ["(415) 372-0134", "(212) 555-0199"],
            "ssn": ["123-45-6789", "234-56-7890"],
            "date_of_birth": ["1985-03-14", "1990-12-01"],
            "zip": ["02134", "10001"],
            "department": ["Sales", "Legal"],
            "manager_id": [None, "E00001"],
            "salary": ["85000", "123456"],
            "iban": ["DE89370400440532013000", "GB82WEST12345698765432"],
            "emergency_contact_name": ["Carlos Garcia", "Ada Okafor"],
            "notes": ["Maria Garcia prefers remote work on Fridays in the summer", "Tom Okafor asked about parking passes again"],
            "shirt_size": ["M", "L"],
        }
    )
