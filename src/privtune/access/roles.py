"""The role x operation matrix: who may do what. One explicit table, no policy engine.

Why a table and not pycasbin: five fixed roles and seventeen operations, no per-object rules,
no policy edited at run time. A frozen dict is read in one glance, is exhaustively tested
(tests/access/test_matrix.py checks every cell), and adds no dependency whose model/policy
files would have to be shipped, validated and kept in sync. If per-object or per-tenant rules
are ever needed, pycasbin's RBAC-with-domains model is the migration path.

Vault objects map to an operation by their kind (``KIND_CATEGORY``): personal data
(tables, texts, datasets, blobs), training sets (de-identified examples), keys, and models
(adapters, reports).
"""

from __future__ import annotations

ADMIN, STEWARD, ML_ENGINEER, AUDITOR, VIEWER = "admin", "data-steward", "ml-engineer", "auditor", "viewer"
ROLES: tuple[str, ...] = (ADMIN, STEWARD, ML_ENGINEER, AUDITOR, VIEWER)

#: Every operation that is checked, with what it covers (docs/access.md prints this table).
OPERATIONS: dict[str, str] = {
    "data.read": "read personal data objects (tables, texts, datasets)",
    "data.write": "write personal data objects (ingest, de-identify)",
    "training.read": "read training sets (de-identified examples)",
    "training.write": "write training sets",
    "key.read": "read key objects (the pseudonym key)",
    "key.write": "write key objects",
    "model.read": "read adapters and audit reports",
    "model.write": "write adapters and audit reports (train, audit)",
    "model.export": "write a released model out of the vault (privtune export)",
    "model.export_unaudited": "write a model that was never released out of the vault "
                              "(privtune export --unaudited; marked as such in its model card)",
    "release.approve": "release, revoke or quarantine a model (the release registry)",
    "policy.write": "change the workspace's gate policy",
    "metadata.read": "list objects, manifests, lineage graphs, workspace status",
    "subject.lookup": "find the objects holding one employee's data (lineage --subject)",
    "subject.index": "record which objects hold which (hashed) employee ids",
    "audit.read": "show, export and verify the audit log",
    "user.manage": "create users, issue and revoke API keys",
}

_ALL = frozenset(OPERATIONS)

MATRIX: dict[str, frozenset[str]] = {
    ADMIN: _ALL,
    STEWARD: frozenset({
        "data.read", "data.write", "training.read", "training.write", "key.read",
        "metadata.read", "subject.lookup", "subject.index",
    }),
    ML_ENGINEER: frozenset({"training.read", "model.read", "model.write", "model.export",
                            "metadata.read"}),
    AUDITOR: frozenset({"model.read", "metadata.read", "subject.lookup", "audit.read"}),
    VIEWER: frozenset({"metadata.read"}),
}

KIND_CATEGORY: dict[str, str] = {
    "dataset": "data", "table": "data", "texts": "data", "blob": "data",
    "examples": "training", "key": "key", "adapter": "model", "report": "model",
}


def vault_operation(action: str, kind: str | None) -> str:
    """``("read", "table")`` -> ``"data.read"``. Unknown kinds count as personal data."""
    return f"{KIND_CATEGORY.get(kind or '', 'data')}.{action}"


def allowed(role: str | None, op: str) -> bool:
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation '{op}'")
    return role is not None and op in MATRIX.get(role, frozenset())
