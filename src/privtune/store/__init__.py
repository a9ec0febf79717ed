"""Metadata store: SQLAlchemy models and sessions (SQLite default, PostgreSQL by URL)."""

from privtune.store import (  # noqa: F401  (registers the tables)
    access_models,
    audit_models,
    backup_models,
    gate_models,
    ledger_models,
    ops_models,
    subject_models,
)
from privtune.store.db import MetadataStore
from privtune.store.models import DataKey, Kek, ObjectVersion, Run

__all__ = ["DataKey", "Kek", "MetadataStore", "ObjectVersion", "Run"]
