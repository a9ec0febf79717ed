"""Records of processing (GDPR Art. 30(1)(a)-(g)), generated from the workspace itself.

``record_of_processing(ws)`` (``records.read``) reads the actual config (controller, budgets),
the vault's manifests (what is held, how many rows), the de-identification report (each
column's class and operator: HIPAA Safe Harbor status per column), the access matrix and the
users per role (recipients), the release registry (what left the vault), the keyring
(encryption), the privacy ledger (epsilon spent per source export) and the erasure queue.
Nothing is boilerplate except the statements privtune enforces itself (offline: no transfers).
Counts, names of columns and objects, refs and figures only: never a person's data.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from privtune.access.roles import MATRIX, OPERATIONS
from privtune.anonymity.gate import META_KEY
from privtune.dp import ledger
from privtune.fsutil import atomic_write_text
from privtune.gate.adapters import ADAPTER_SCHEMA
from privtune.gate.registry import entries as release_entries
from privtune.records import AdapterRecord
from privtune.store.access_models import User
from privtune.store.models import utcnow
from privtune.store.rowmac import AUTHENTICATED_TABLES
from privtune.store.subject_models import RetentionHold, SubjectRequest, ensure_subject_tables
from privtune.workspace import Workspace

SCHEMA = "privtune-ropa/1"
DEID_REPORT = "deidentify.json"
#: Column classes -> the HIPAA Safe Harbor reading of what the policy did with them.
_SAFE_HARBOR = {"drop": "removed", "pseudonymize": "replaced by a keyed token (not a Safe Harbor "
                "identifier once the key stays in the vault)", "generalize": "generalised",
                "date_shift": "dates shifted", "redact": "redacted", "mask": "masked",
                "suppress": "suppressed", "surrogate": "replaced by a surrogate", "keep": "kept"}


def record_of_processing(ws: Workspace) -> dict[str, Any]:
    ws.access.check("records.read", "ropa", action="generate")
    rows = ws.vault.list()
    gone = ws.vault.shredded()
    latest: dict[str, Any] = {}
    for r in rows:
        latest[r.name] = r
    held = {n: {"ref": r.ref, "kind": r.kind, "rows": (r.meta or {}).get("rows"),
                "shredded": r.ref in gone}
            for n, r in sorted(latest.items()) if r.kind in ("table", "texts", "examples")}
    deid_path = ws.reports_dir / DEID_REPORT
    columns: dict[str, Any] = {}
    if deid_path.is_file():
        rep = json.loads(deid_path.read_text())
        for table, info in (rep.get("tables") or {}).items():
            columns[table] = {c: {"class": v.get("class"), "operator": v.get("operator"),
                                  "safe_harbor": _SAFE_HARBOR.get(str(v.get("operator")),
                                                                  str(v.get("operator")))}
                              for c, v in (info.get("columns") or {}).items()}
    k_anon = (latest["employees-deid"].meta or {}).get(META_KEY) \
        if "employees-deid" in latest else None
    models = []
    for r in rows:
        if r.schema == ADAPTER_SCHEMA and r.ref not in gone:
            rec = AdapterRecord.from_dict(dict(r.meta or {}))
            models.append({"adapter": r.ref, "dp": rec.dp, "epsilon": rec.epsilon,
                           "epsilon_person": rec.epsilon_person, "trained_on": rec.train_data})
    with ws.store.session() as s:
        per_role = Counter(u.role for u in s.scalars(select(User)) if not u.disabled)
    ensure_subject_tables(ws.store.engine)
    with ws.store.session() as s:
        requests = Counter(r.state for r in s.scalars(select(SubjectRequest)))
        holds = sorted(h.target for h in s.scalars(select(RetentionHold)) if h.active)
    _, standing = ledger.report(ws.access.check, ws.store, None, ws.config.dp_budget_epsilon)
    releases = [{"release": e.id, "model": e.model_ref, "state": e.state}
                for e in release_entries(ws.store)]
    keks = [{"version": k.version, "provider": k.provider, "status": k.status}
            for k in ws.vault.keyring.status()]
    emergency = any(c.startswith("emergency_") for t in columns.values() for c in t)
    return {
        "schema": SCHEMA, "generated_at": utcnow().isoformat(timespec="seconds"),
        "a_controller": {"name": ws.config.controller or ws.config.name,
                         "workspace": ws.config.name},
        "b_purposes": ["fine-tuning a local language model for an HR assistant on de-identified "
                       "HR data, with employee-level differential privacy",
                       "privacy audit of each model before release"],
        "c_categories": {
            "data_subjects": ["employees"] + (["emergency contacts of employees"] if emergency else [])
            + ["people named in employees' free texts (colleagues, relatives)"],
            "personal_data": {t: sorted(cols) for t, cols in columns.items()},
            "held": held,
        },
        "d_recipients": {
            "roles_reading_personal_data": {role: per_role.get(role, 0) for role, ops in MATRIX.items()
                                            if "data.read" in ops},
            "users_per_role": dict(sorted(per_role.items())),
            "releases": releases,
            "ccpa_sold_or_shared": False,
        },
        "e_transfers": "none: privtune runs offline (network guard during training and "
                       "evaluation); no transfer to a third country or international organisation",
        "f_retention": {"periods_days": ws.config.retention.model_dump(),
                        "practice": "`privtune retention apply` crypto-shreds every version past "
                                    "its period (raw and de-identified data from when written, "
                                    "adapters from when superseded) unless a legal hold holds "
                                    "it; erased on request before that",
                        "legal_holds": holds,
                        "subject_requests": dict(requests)},
        "g_security": {
            "encryption": "AES-256-GCM per object version, data keys wrapped by the KEK",
            "kek": keks,
            "integrity": sorted(AUTHENTICATED_TABLES),
            "access_control": {"operations": len(OPERATIONS), "roles": sorted(MATRIX)},
            "audit_log": "hash-chained, Ed25519-signed checkpoints",
            "de_identification": {"columns": columns, "k_anonymity": k_anon},
            "differential_privacy": {
                "models": models,
                "ledger": [{"source": st.source, "epsilon_spent": round(st.epsilon, 4),
                            "budget": st.budget, "runs": st.runs} for st in standing]},
        },
    }


def write_ropa(ws: Workspace, out: str | Path) -> tuple[Path, Path]:
    """The record as JSON at ``out`` and HTML beside it (0600)."""
    doc = record_of_processing(ws)
    out = Path(out)
    atomic_write_text(out, json.dumps(doc, indent=2, default=str))
    page = out.with_suffix(".html")
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Record of processing"
             "</title></head><body><h1>Record of processing activities (GDPR Art. 30)</h1>"]
    for key, value in doc.items():
        parts.append(f"<h2>{e(key)}</h2><pre>{e(json.dumps(value, indent=2, default=str))}</pre>")
    parts.append("</body></html>")
    atomic_write_text(page, "".join(parts))
    return out, page
