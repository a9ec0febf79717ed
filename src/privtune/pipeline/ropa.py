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
from privtune.pipeline.retention import retention_plan
from privtune.pipeline.roles import stored_mapping
from privtune.records import AdapterRecord
from privtune.store.access_models import User
from privtune.store.models import Audit, utcnow
from privtune.store.rowmac import AUTHENTICATED_TABLES
from privtune.store.subject_models import RetentionHold, SubjectRequest, ensure_subject_tables
from privtune.workspace import Workspace

SCHEMA = "privtune-ropa/1"
DEID_REPORT = "deidentify.json"
#: What each de-identification operator leaves of a column, and whether that meets HIPAA Safe
#: Harbor (164.514(b)(2)): True removed, False not met, None only if generalised far enough
#: (dates to the year, ZIP to three digits: check the hierarchy).
_SAFE_HARBOR: dict[str, tuple[bool | None, str]] = {
    "drop": (True, "removed"), "redact": (True, "redacted"), "suppress": (True, "suppressed"),
    "surrogate": (True, "replaced by a surrogate"),
    "pseudonymize": (False, "replaced by a keyed token derived from the identifier: not a "
                            "Safe Harbor removal (164.514(c)); relies on expert determination"),
    "generalize": (None, "generalised: Safe Harbor only at year / 3-digit ZIP"),
    "date_shift": (False, "dates shifted (day and month kept): not Safe Harbor"),
    "mask": (None, "masked: Safe Harbor only if nothing identifying is kept"),
    "keep": (False, "kept"),
}
#: The 18 Safe Harbor identifiers (164.514(b)(2)(i)(A)-(R)) and the schema roles that hold them.
SAFE_HARBOR_IDENTIFIERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("A names", ("first_name", "middle_name", "last_name", "full_name", "emergency_contact_name")),
    ("B geographic subdivisions smaller than a state", ("address", "city", "zip")),
    ("C dates (except year) related to the individual",
     ("date_of_birth", "hire_date", "termination_date", "start_date", "end_date")),
    ("D telephone numbers", ("phone", "emergency_contact_phone")), ("E fax numbers", ()),
    ("F e-mail addresses", ("email",)), ("G social security numbers", ("national_id",)),
    ("H medical record numbers", ()), ("I health plan beneficiary numbers", ()),
    ("J account numbers", ("iban",)), ("K certificate/license numbers", ()),
    ("L vehicle identifiers", ()), ("M device identifiers", ()), ("N URLs", ()),
    ("O IP addresses", ()), ("P biometric identifiers", ()), ("Q full-face photographs", ()),
    ("R any other unique identifying number or code", ("employee_id", "manager_id")),
)
#: CCPA/CPRA categories of personal information (Cal. Civ. Code 1798.140(v), (ae)) by role.
CCPA_CATEGORIES: dict[str, tuple[str, ...]] = {
    "identifiers": ("employee_id", "first_name", "middle_name", "last_name", "full_name",
                    "email", "phone", "address", "manager_id"),
    "protected classifications": ("date_of_birth", "gender", "marital_status", "ethnicity"),
    "professional or employment-related information": (
        "department", "job_title", "hire_date", "termination_date", "salary", "bonus",
        "performance_rating", "leave_days_taken", "leave_type", "start_date", "end_date"),
    "sensitive personal information": ("national_id", "iban", "ethnicity", "medical"),
    "geolocation (coarse)": ("city", "state", "zip", "country"),
    "emergency contacts (other people)": ("emergency_contact_name", "emergency_contact_relation",
                                          "emergency_contact_phone"),
    "free text (may hold any category)": ("free_text", "unknown"),
}


def safe_harbor_status(operator: str) -> dict[str, Any]:
    """What the column's operator (as the de-identification report writes it, e.g. ``drop``
    or ``generalize -> zip3``) means for Safe Harbor: ``met`` True, False or None (check)."""
    op, _, target = str(operator).partition("->")
    op, target = op.strip(), target.strip()
    if op == "generalize" and (target.endswith("year") or target == "zip3"):
        return {"met": True, "status": f"generalised to {target} (Safe Harbor keeps the year and "
                                       "ZIP3, restricted ZIP3s as 000)"}
    met, note = _SAFE_HARBOR.get(op, (False, operator))
    return {"met": met, "status": note}


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
                                  "safe_harbor": safe_harbor_status(str(v.get("operator")))}
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
    return _write_pack(record_of_processing(ws), out,
                       "Record of processing activities (GDPR Art. 30)")


DPIA_SCHEMA = "privtune-dpia/1"


def _column_roles(ws: Workspace, tables: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``{table: {column: role}}`` for the de-identified tables, from the stored schema mapping
    (names and roles only; read under ``records.read``'s delegation)."""
    schema = stored_mapping(ws)
    return {t: {c: str(schema.table(t).role(c) or "unknown") for c in cols}
            for t, cols in tables.items()}


def _hipaa(columns: dict[str, Any], roles: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    out = []
    for ident, wanted in SAFE_HARBOR_IDENTIFIERS:
        cols = [{"table": t, "column": c, "operator": info.get("operator"),
                 **info.get("safe_harbor", {})}
                for t, table in columns.items() for c, info in table.items()
                if roles.get(t, {}).get(c) in wanted]
        mets = [c["met"] for c in cols]
        status = ("not present in the export" if not cols else "met" if all(m is True for m in mets)
                  else "not met" if any(m is False for m in mets) else "check the generalisation")
        out.append({"identifier": ident, "status": status, "columns": cols})
    return out


def _ccpa(roles: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    return {cat: sorted(f"{t}.{c}" for t, cols in roles.items() for c, r in cols.items()
                        if r in wanted)
            for cat, wanted in CCPA_CATEGORIES.items()}


def _latest_audits(ws: Workspace) -> list[dict[str, Any]]:
    latest: dict[str, Audit] = {}
    with ws.store.session() as s:
        for a in s.scalars(select(Audit).order_by(Audit.created_at)):
            latest[a.model_name] = a
    return [{"model": a.model_ref, "audit": a.id, "passed": a.passed,
             "at": a.created_at.isoformat(timespec="seconds"), "verdict": a.verdict}
            for _, a in sorted(latest.items())]


def dpia(ws: Workspace) -> dict[str, Any]:
    """The DPIA evidence pack (GDPR Art. 35(7)(a)-(d)) with the workspace's measured figures."""
    with ws.access.acting_for("records.read", "dpia", action="generate"):
        ropa = record_of_processing(ws)
        sec = ropa["g_security"]
        columns = sec["de_identification"]["columns"]
        roles = _column_roles(ws, columns)
        due = [e for e in retention_plan(ws) if e.due]
    ops = Counter(str(info.get("operator")) for t in columns.values() for info in t.values())
    models = sec["differential_privacy"]["models"]
    audits = _latest_audits(ws)
    return {
        "schema": DPIA_SCHEMA, "generated_at": ropa["generated_at"],
        "controller": ropa["a_controller"],
        "a_systematic_description": {
            "purposes": ropa["b_purposes"], "data_subjects": ropa["c_categories"]["data_subjects"],
            "personal_data": ropa["c_categories"]["personal_data"],
            "held": ropa["c_categories"]["held"], "recipients": ropa["d_recipients"],
            "transfers": ropa["e_transfers"], "retention": ropa["f_retention"],
            "processing": "ingest (encrypted vault) -> de-identification and k-anonymity -> "
                          "training set -> fine-tuning with employee-level DP on a base model "
                          "that never saw HR data -> privacy audit -> release (second person)",
        },
        "b_necessity_and_proportionality": {
            "minimisation": {"columns_by_operator": dict(sorted(ops.items())),
                             "columns_kept_raw": ops.get("keep", 0)},
            "differential_privacy": [{"adapter": m["adapter"], "dp": m["dp"],
                                      "epsilon_per_person": m["epsilon_person"]} for m in models],
            "subject_rights": "subject find / export / erase (four-eyes), retention apply and "
                              "legal hold: docs/compliance.md",
        },
        "c_risks": [
            {"risk": "re-identification of an employee from the de-identified data",
             "figures": {"k_anonymity": sec["de_identification"]["k_anonymity"]},
             "measures": "de-identification policy; k-anonymity gate refuses training below k"},
            {"risk": "the model memorises and reveals an employee's data (membership, "
                     "extraction, attribute inference)",
             "figures": {"epsilon_per_person": {m["adapter"]: m["epsilon_person"] for m in models},
                         "latest_audits": audits,
                         "ledger": sec["differential_privacy"]["ledger"]},
             "measures": "employee-level DP-SGD, privacy audit before release, release gate"},
            {"risk": "access to personal data by someone who should not have it",
             "figures": {"access_matrix": {r: sorted(o) for r, o in MATRIX.items()},
                         "users_per_role": ropa["d_recipients"]["users_per_role"],
                         "roles_reading_personal_data":
                             ropa["d_recipients"]["roles_reading_personal_data"]},
             "measures": "role x operation matrix on every read and write, hash-chained audit log"},
            {"risk": "loss or theft of the workspace or its database",
             "figures": {"kek": sec["kek"], "row_macs": sec["integrity"]},
             "measures": sec["encryption"]},
            {"risk": "keeping personal data longer than necessary",
             "figures": {"periods_days": ropa["f_retention"]["periods_days"],
                         "expired_not_yet_shredded": len(due),
                         "legal_holds": ropa["f_retention"]["legal_holds"]},
             "measures": "privtune retention apply crypto-shreds expired versions"},
        ],
        "d_measures": ropa["g_security"],
        "hipaa_safe_harbor": _hipaa(columns, roles),
        "ccpa": {"categories": _ccpa(roles),
                 "sold_or_shared": ropa["d_recipients"]["ccpa_sold_or_shared"],
                 "sensitive_pi_use": "limited to the stated purpose (1798.121)"},
    }


def _write_pack(doc: dict[str, Any], out: str | Path, title: str) -> tuple[Path, Path]:
    out = Path(out)
    atomic_write_text(out, json.dumps(doc, indent=2, default=str))
    page = out.with_suffix(".html")
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}"
             f"</title></head><body><h1>{e(title)}</h1>"]
    for key, value in doc.items():
        parts.append(f"<h2>{e(key)}</h2><pre>{e(json.dumps(value, indent=2, default=str))}</pre>")
    parts.append("</body></html>")
    atomic_write_text(page, "".join(parts))
    return out, page


def write_dpia(ws: Workspace, out: str | Path) -> tuple[Path, Path]:
    """The DPIA evidence pack as JSON at ``out`` and HTML beside it (0600)."""
    return _write_pack(dpia(ws), out, "DPIA evidence pack (GDPR Art. 35)")
