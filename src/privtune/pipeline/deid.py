"""Stages ``scan`` and ``deidentify``: find personal data, then apply the de-identification
policy (:mod:`privtune.deid`) and the privacy model (:mod:`privtune.anonymity`).

``scan`` writes ``reports/pii-scan.json`` and ``reports/pii-scan.html``: per column class,
evidence and planned operator, entity counts, shape-masked examples, and re-identification
risk of the raw table and of the table after the policy's declared transforms.

``deidentify`` writes de-identified versions of the tables (``employees-deid``,
``leave-deid``) and texts (``reviews-deid``, ``tickets-deid``) to the vault, with the raw
versions, the pseudonym key and the policy as lineage parents, plus
``reports/deidentify.{json,html}``. When the person table misses the policy's k (or l) even
after the generalisation search, nothing is written to the vault and the stage raises
:class:`~privtune.errors.PrivacyPolicyError` (exit 8) naming columns and class counts.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

from privtune.anonymity.apply import protect
from privtune.anonymity.gate import META_KEY, enforce
from privtune.anonymity.model import assess_table
from privtune.deid import Deidentifier, DeidPolicy, PersonIndex, classify_table, load_policy
from privtune.deid.scan import table_report, texts_report
from privtune.fsutil import atomic_write_text, private_dir
from privtune.io import json_bytes, jsonl_bytes, read_json, read_jsonl, read_table, table_bytes
from privtune.pii import ENTITY_TYPES, Roster, detect
from privtune.pii.mapping import MAPPING_OBJECT, SchemaMapping, mapping_for_table
from privtune.pipeline.result import StageResult
from privtune.pipeline.roles import stored_mapping
from privtune.progress import ProgressFn
from privtune.reports.deid import render_deid_report
from privtune.workspace import PSEUDONYM_KEY, Workspace

TABLES = ("employees", "leave")
TEXT_SETS = ("reviews", "tickets")
#: The policy documents: de-identified like every other text before the tokenizer, the base
#: model's pre-training or a training set sees them (``policies-deid``).
POLICIES = "policies"
#: The schema mapping ingest stored beside the tables (:mod:`privtune.pii.mapping`).
MAPPING = MAPPING_OBJECT
#: In a policy document a date or an amount is about the policy (a deadline, a cap), not a
#: person: kept. Every identifying entity is replaced by its rule.
POLICY_KEPT_ENTITIES = frozenset({"DATE", "MONEY"})
MASK_RE = re.compile(r"\[(?:{})\]".format("|".join(ENTITY_TYPES)))
SCAN_REPORT = "pii-scan"
DEID_REPORT = "deidentify"


def _policy(policy: DeidPolicy | str | Path | None) -> tuple[DeidPolicy, str]:
    if isinstance(policy, DeidPolicy):
        return policy, "(given)"
    p = load_policy(policy)
    return p, str(policy) if policy is not None else "default"


def _write_reports(ws: Workspace, stem: str, data: dict[str, Any], **html: Any) -> str:
    private_dir(ws.reports_dir)
    atomic_write_text(ws.reports_dir / f"{stem}.json", json.dumps(data, indent=2, sort_keys=True, default=str))
    render_deid_report(ws.reports_dir / f"{stem}.html", **html)
    return f"reports/{stem}.html"


def _stage_mapping(ws: Workspace, refs: dict[str, str]) -> SchemaMapping:
    """The mapping stored by ingest (``refs['schema-mapping']``), or an empty one (every
    reader then infers the roles from the table: the built-in company's names map to
    themselves)."""
    if MAPPING not in refs:
        return SchemaMapping()
    return stored_mapping(ws, refs[MAPPING])


def scan(ws: Workspace, refs: dict[str, str], policy: DeidPolicy | str | Path | None = None, *,
         workers: int | None = None, progress: ProgressFn | None = None) -> StageResult[None]:
    t0 = time.perf_counter()
    pol, pol_name = _policy(policy)
    employees = read_table(ws.vault, refs["employees"])
    schema = _stage_mapping(ws, refs)
    emp_map = mapping_for_table(employees, schema.table("employees"))
    roster = Roster.from_employees(employees, emp_map)
    tables: dict[str, Any] = {}
    risk: dict[str, Any] = {}
    for name in TABLES:
        if name in refs:
            t = employees if name == "employees" else read_table(ws.vault, refs[name])
            tables[name] = table_report(t, pol, roster, mapping=schema.table(name))
    # Risk of the raw person table on its detected quasi-identifiers, and after the policy's
    # declared transforms on the policy's quasi-identifiers (before any search).
    classes = classify_table(employees, pol, emp_map, roster)
    raw_qis = [c for c, k in classes.items() if k.kind == "quasi_identifier"]
    risk["raw table"] = assess_table(employees.to_pylist(), raw_qis).as_dict()
    deid = Deidentifier(pol, ws.pseudonym_key(), people=PersonIndex.from_rows(employees.to_pylist(), emp_map),
                        roster=roster)
    planned = deid.table(employees, mapping=emp_map).table
    qis = [q for q in (pol.privacy.quasi_identifiers or []) if q in planned.column_names]
    if qis:
        risk["after policy transforms"] = assess_table(planned.to_pylist(), qis).as_dict()
    texts: dict[str, Any] = {}
    entities: Counter[str] = Counter()
    for name in TEXT_SETS:
        if name in refs:
            records = read_jsonl(ws.vault, refs[name])
            texts[name] = texts_report(records, roster, workers=workers, progress=progress)
            entities.update(texts[name]["types"])
    if POLICIES in refs:
        docs = read_json(ws.vault, refs[POLICIES])
        texts[POLICIES] = texts_report([{"text": t} for t in docs.values()], roster, workers=1)
        entities.update(texts[POLICIES]["types"])
    by_class: dict[str, list[str]] = {}
    for col, info in tables["employees"]["columns"].items():
        by_class.setdefault(info["class"], []).append(col)
    report = {"policy": pol_name, "objects": {k: v for k, v in refs.items() if k in (*TABLES, *TEXT_SETS)},
              "tables": tables, "texts": texts, "risk": risk, "column_classes": by_class}
    page = _write_reports(ws, SCAN_REPORT, report, title="PII scan", tables=tables, texts=texts,
                          risk=risk, policy=pol_name)
    res = StageResult("scan", None)
    res.figures = {
        "columns_by_class": {k: len(v) for k, v in sorted(by_class.items())},
        "direct_identifier_columns": sorted(by_class.get("direct_identifier", [])),
        "texts_scanned": sum(t["records"] for t in texts.values()),
        "entities_in_texts": dict(sorted(entities.items())),
        "raw_max_risk": risk["raw table"]["max_risk"],
        "report": page,
    }
    res.seconds = time.perf_counter() - t0
    return res


def wiped_out_warnings(search: dict[str, Any] | None, verdict: dict[str, Any],
                       policy: str) -> list[str]:
    """A quasi-identifier the k-anonymity search generalised to its top level (every value
    replaced by one) is gone from the training data: say so, with the information loss, and how
    to keep it."""
    if not search:
        return []
    levels, heights = search.get("levels") or {}, search.get("heights") or {}
    wiped = [qi for qi, lv in levels.items() if heights.get(qi) and lv >= heights[qi]]
    if not wiped:
        return []
    names = ", ".join(f"'{c}'" for c in wiped)
    return [f"k-anonymity (k={verdict['k']}, target {verdict['k_target']}) was reached by "
            f"generalising {names} away completely (every value replaced; information loss "
            f"{float(search.get('loss', 0.0)):.2f}, {verdict['suppressed']} rows suppressed): "
            f"to keep {'them' if len(wiped) > 1 else 'it'}, list other quasi-identifiers in "
            f"privacy.quasi_identifiers of the de-identification policy ({policy}; `privtune "
            "config copy deid-policy FILE`, then `deidentify --policy FILE`), or allow more "
            "suppression (privacy.max_suppression)"]


def deid_policies(deid: Deidentifier, docs: dict[str, str]) -> tuple[dict[str, str], Counter[str]]:
    """The policy documents with every identifying span replaced by its entity rule (dates
    and amounts kept: :data:`POLICY_KEPT_ENTITIES`); no document is about one person."""
    stats: Counter[str] = Counter()
    out: dict[str, str] = {}
    for name, text in docs.items():
        spans = [s for s in detect(text, deid.roster) if s.type not in POLICY_KEPT_ENTITIES]
        out[name] = deid.replace(text, spans, None, stats) if spans else text
    return out, stats


def deidentify(ws: Workspace, refs: dict[str, str], policy: DeidPolicy | str | Path | None = None, *,
               workers: int | None = None, progress: ProgressFn | None = None) -> StageResult[None]:
    t0 = time.perf_counter()
    pol, pol_name = _policy(policy)
    key_ref = ws.vault.resolve(PSEUDONYM_KEY)
    employees = read_table(ws.vault, refs["employees"])
    schema = _stage_mapping(ws, refs)
    emp_map = mapping_for_table(employees, schema.table("employees"))
    rows = employees.to_pylist()
    deid = Deidentifier(pol, ws.vault.get(key_ref), people=PersonIndex.from_rows(rows, emp_map),
                        roster=Roster.from_employees(employees, emp_map))
    outcomes = {}
    for name in TABLES:
        if name in refs:
            t = employees if name == "employees" else read_table(ws.vault, refs[name])
            outcomes[name] = deid.table(t, mapping=emp_map if name == "employees" else schema.table(name))
    person = pol.privacy.table
    if person not in outcomes:
        from privtune.errors import ConfigError
        raise ConfigError(f"privacy.table must be one of: {', '.join(outcomes)}", key="privacy.table")
    oc = outcomes[person]
    prot = protect(oc.table, oc.classes, oc.renames, pol.privacy)
    oc.table = prot.table
    tables_html = {n: {"rows": o.table.num_rows, "columns": {
        c: {"class": o.classes[c].kind, "evidence": o.classes[c].evidence, "operator": o.actions[c]}
        for c in o.classes}} for n, o in outcomes.items()}
    report: dict[str, Any] = {"policy": pol_name, "verdict": prot.verdict, "before_search": prot.before,
                              "search": prot.search, "tables": tables_html}
    html = dict(title="De-identification", tables=tables_html, verdict=prot.verdict, search=prot.search,
                policy=pol_name, class_sizes=prot.class_sizes)
    if not prot.verdict["ok"]:
        _write_reports(ws, DEID_REPORT, report, **html)
        enforce(prot.verdict, f"table '{person}'")
    res = StageResult("deidentify", None)
    policy_bytes = pol.model_dump_json(by_alias=True, exclude_none=True).encode()
    pol_ref = ws.vault.put("deid-policy", policy_bytes, kind="blob", schema="deid-policy-json",
                           meta={"sha256": hashlib.sha256(policy_bytes).hexdigest(), "source": pol_name})
    parents_extra = [key_ref, pol_ref]
    for name, o in outcomes.items():
        meta: dict[str, Any] = {"rows": o.table.num_rows}
        if name == person:
            meta[META_KEY] = prot.verdict
        res.outputs[name] = ws.vault.put(f"{name}-deid", table_bytes(o.table), kind="table", schema="parquet",
                                         parents=[refs[name], *parents_extra], meta=meta)
    masked = 0
    spans: Counter[str] = Counter()
    texts_html: dict[str, Any] = {}
    for name in TEXT_SETS:
        if name not in refs:
            continue
        records = read_jsonl(ws.vault, refs[name])
        out, stats = deid.records(records, workers=workers, progress=progress, mapping=schema.table(name))
        spans.update(stats)
        masked += sum(stats.values())
        by_type: Counter[str] = Counter()
        for k, c in stats.items():
            by_type[k.split(":")[0]] += c
        texts_html[name] = {"records": len(out), "spans": sum(stats.values()), "types": dict(by_type),
                            "operators": dict(sorted(stats.items()))}
        res.outputs[name] = ws.vault.put(
            f"{name}-deid", jsonl_bytes(out), kind="texts", schema="jsonl",
            parents=[refs[name], refs["employees"], *parents_extra], meta={"rows": len(out)},
        )
    if POLICIES in refs:
        docs, stats = deid_policies(deid, read_json(ws.vault, refs[POLICIES]))
        spans.update(stats)
        masked += sum(stats.values())
        texts_html[POLICIES] = {"records": len(docs), "spans": sum(stats.values()),
                                "operators": dict(sorted(stats.items()))}
        res.outputs[POLICIES] = ws.vault.put(
            f"{POLICIES}-deid", json_bytes(docs), kind="texts", schema="json-map",
            parents=[refs[POLICIES], refs["employees"], *parents_extra], meta={"documents": len(docs)})
    report["texts"] = texts_html
    report["outputs"] = dict(res.outputs)
    page = _write_reports(ws, DEID_REPORT, report, texts=texts_html, outputs=dict(res.outputs), **html)
    emp_out = outcomes["employees"].table if "employees" in outcomes else None
    res.figures = {
        "columns_dropped": sum(a == "drop" for a in outcomes["employees"].actions.values()) if emp_out else 0,
        "columns_kept": emp_out.num_columns if emp_out is not None else 0,
        "spans_masked": masked,
        "k": prot.verdict["k"],
        "k_target": prot.verdict["k_target"],
        "suppressed_rows": prot.verdict["suppressed"],
        "max_risk": prot.verdict["max_risk"],
        "avg_risk": prot.verdict["avg_risk"],
        "policy": pol_ref,
        "report": page,
    }
    res.warnings = wiped_out_warnings(prot.search, prot.verdict, pol_name)
    res.seconds = time.perf_counter() - t0
    return res
