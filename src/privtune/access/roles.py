"""The role x operation matrix: who may do what. One explicit table, no policy engine.

Why a table and not pycasbin: eight fixed roles and thirty operations, no per-object rules,
no policy edited at run time (a lockdown swaps in a second table derived from the first). A
frozen dict is read in one glance, is exhaustively tested (tests/access/test_matrix.py checks
every cell, tests/access/test_authz_property.py checks random sequences against an independent
reference), and adds no dependency whose model/policy files would have to be shipped,
validated and kept in sync. If per-object or per-tenant rules
are ever needed, pycasbin's RBAC-with-domains model is the migration path.

Vault objects map to an operation by their kind (``KIND_CATEGORY``): personal data
(tables, texts, datasets, blobs), training sets (de-identified examples), keys, and models
(adapters, reports); a federation roster (public keys) reads as metadata and is written as a
policy (``KIND_OPERATIONS``). The kind is the object's, fixed by its first version or its reserved
name (``privtune.vault.names``), never the kind a writer claims.
"""

from __future__ import annotations

ADMIN, STEWARD, ML_ENGINEER, AUDITOR, VIEWER = "admin", "data-steward", "ml-engineer", "auditor", "viewer"
#: The data protection officer (records, subject requests, policy changes, release approval);
#: a service key that may only query released models; the break-glass admin, who holds every
#: operation during a lockdown and none outside it.
DPO, APP, BREAK_GLASS = "dpo", "app", "break-glass"
ROLES: tuple[str, ...] = (ADMIN, STEWARD, ML_ENGINEER, AUDITOR, VIEWER, DPO, APP, BREAK_GLASS)

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
    "model.query": "query a released model (serving); no access to weights or data",
    "metadata.read": "list objects, manifests, lineage graphs, workspace status, the privacy ledger",
    "budget.write": "set the privacy budget (epsilon) of a source export",
    "subject.lookup": "find the objects holding one employee's data (lineage --subject)",
    "subject.index": "record which objects hold which (hashed) employee ids",
    "subject.export": "export one employee's data (a subject access request)",
    "subject.erase": "file and carry out an erasure request (right to erasure); carrying it out "
                     "reads and rewrites the data under this authority (``Guard.acting_for``)",
    "subject.approve": "approve another user's erasure request (four-eyes)",
    "records.read": "read the records of processing, retention and compliance records",
    "policy.write": "change the de-identification and privacy-gate policies",
    "release.approve": "approve the release of an audited model (a second person)",
    "audit.read": "show, export and verify the audit log",
    "user.manage": "create users, issue and revoke API keys",
    "lockdown.set": "enter or leave lockdown (only the break-glass admin acts during one)",
    # issue 20: security operations
    "backup.write": "write a backup snapshot of the workspace; shred versions in a backup",
    "backup.restore": "restore a backup into a new workspace (checked in the restored one)",
    "incident.manage": "open, report and close security incidents (lockdown also needs "
                       "lockdown.set and user.manage)",
    "alerts.manage": "scan the audit log for access anomalies, list, explain and acknowledge alerts",
    # issue 19: rectification and retention
    "subject.rectify": "correct a field of one employee's row (right to rectification); the "
                       "correction reads and writes the person table under this authority "
                       "(``Guard.acting_for``)",
    "retention.manage": "apply the retention periods (crypto-shred what expired), place and "
                        "release legal holds; applying shreds under this authority "
                        "(``Guard.acting_for``)",
    # issue 22: the web console
    "console.serve": "run the web console (privtune console): it holds the workspace open and "
                     "acts as each signed-in user, whose own role decides every page",
    # issue 23: DP synthetic data
    "synthetic.write": "synthesise a differentially private table from a person table (spends "
                       "the people's privacy budget); reads the table and writes the synthetic "
                       "table and its report under this authority (``Guard.acting_for``)",
    # issue 21: federated fine-tuning
    "federated.train": "take part in a federated round as a site: read the site's training set, "
                       "send its clipped (masked) update, charge the site's privacy ledger",
    "federated.coordinate": "coordinate a federation: certificates and SuperNode keys, the "
                            "global adapter stored in the coordinator's vault",
    "federated.gate": "audit a federation's global adapter at this site (reads the site's "
                      "training and validation sets and pseudonym key, stores the adapter and "
                      "its audit under this authority, ``Guard.acting_for``) and sign the "
                      "site's verdict with its verdict key",
}

_ALL = frozenset(OPERATIONS)

MATRIX: dict[str, frozenset[str]] = {
    ADMIN: _ALL,
    STEWARD: frozenset({
        "data.read", "data.write", "training.read", "training.write", "key.read",
        "metadata.read", "subject.lookup", "subject.index", "budget.write",
        "synthetic.write",
    }),
    ML_ENGINEER: frozenset({"training.read", "model.read", "model.write", "model.export",
                            "model.query", "metadata.read",
                            "federated.train", "federated.coordinate"}),
    AUDITOR: frozenset({"model.read", "model.query", "metadata.read", "subject.lookup",
                        "records.read", "audit.read", "alerts.manage"}),
    VIEWER: frozenset({"metadata.read"}),
    DPO: frozenset({"metadata.read", "subject.lookup", "subject.export", "subject.erase",
                    "subject.approve", "records.read", "policy.write", "release.approve",
                    "audit.read", "incident.manage", "alerts.manage", "retention.manage",
                    "subject.rectify", "federated.gate"}),
    APP: frozenset({"model.query"}),
    BREAK_GLASS: frozenset(),  # outside a lockdown: nothing (see LOCKDOWN_MATRIX)
}

#: During a lockdown the break-glass admin holds every operation; every other role keeps only
#: what lets it look without changing or reading personal data.
LOCKDOWN_READS = frozenset({"metadata.read", "audit.read"})
LOCKDOWN_MATRIX: dict[str, frozenset[str]] = {
    role: (_ALL if role == BREAK_GLASS else ops & LOCKDOWN_READS) for role, ops in MATRIX.items()
}


KIND_CATEGORY: dict[str, str] = {
    "dataset": "data", "table": "data", "texts": "data", "blob": "data",
    "examples": "training", "key": "key", "adapter": "model", "report": "model",
    "roster": "policy",
}
#: Kinds whose reads and writes are other operations than ``<category>.<action>``: a
#: federation's roster (``privtune.gate.federation``) holds the sites' public verdict keys, no
#: one's data: whoever may see metadata reads it (the coordinator's engineer, the releaser),
#: and changing it is a policy change (admin, DPO).
KIND_OPERATIONS: dict[str, dict[str, str]] = {
    "roster": {"read": "metadata.read", "write": "policy.write"},
}


#: What a subject request may do on the data when the caller holds the request's operation
#: (``Guard.acting_for``): an access request reads the person's data; an erasure reads, rewrites
#: and shreds every object that held them (in the recorded backups too: ``backup.write``),
#: retrains and re-audits the adapters made from them.
DELEGATED: dict[str, frozenset[str]] = {
    "subject.export": frozenset({"data.read", "metadata.read"}),
    "subject.erase": frozenset({"data.read", "data.write", "training.read", "training.write",
                                "key.read", "model.read", "model.write", "metadata.read",
                                "subject.index", "subject.lookup", "release.approve",
                                "backup.write"}),
    # ``subject find``: resolve a name or e-mail in the person table and find the raw versions
    # that mention the person (refs only come out)
    "subject.lookup": frozenset({"data.read", "metadata.read"}),
    "subject.rectify": frozenset({"data.read", "data.write", "metadata.read", "subject.index",
                                  "subject.lookup"}),
    # ``records dpia``: reads the stored schema mapping (column names and roles, no values)
    "records.read": frozenset({"data.read", "metadata.read"}),
    "retention.manage": frozenset({"data.write", "training.write", "model.write",
                                   "metadata.read", "backup.write"}),
    # releasing (``privtune.gate.approval``): hash and copy the adapter, read (on first use
    # make) the release signing key
    "release.approve": frozenset({"model.read", "key.read", "key.write", "metadata.read"}),
    # ``synthesize``: read the person table and the mapping, reserve in the ledger (model.write),
    # write the synthetic table and its report
    "synthetic.write": frozenset({"data.read", "data.write", "model.write", "metadata.read"}),
    # a site's gate on a federation's global adapter (``privtune.federated.gate``): store the
    # adapter, read the training/validation sets and the pseudonym key, record the audit, read
    # (on first use make) the site's verdict key
    "federated.gate": frozenset({"training.read", "model.read", "model.write", "key.read",
                                 "key.write", "metadata.read"}),
}


def vault_operation(action: str, kind: str | None) -> str:
    """``("read", "table")`` -> ``"data.read"``. Unknown kinds count as personal data."""
    special = KIND_OPERATIONS.get(kind or "", {}).get(action)
    if special is not None:
        return special
    return f"{KIND_CATEGORY.get(kind or '', 'data')}.{action}"


def allowed(role: str | None, op: str, *, lockdown: bool = False) -> bool:
    """May ``role`` perform ``op`` (in a lockdown when ``lockdown``)? Unknown roles may not."""
    if op not in OPERATIONS:
        raise ValueError(f"unknown operation '{op}'")
    table = LOCKDOWN_MATRIX if lockdown else MATRIX
    return role is not None and op in table.get(role, frozenset())
