"""Right to erasure (issue 19): four-eyes, crypto-shredding, crash between every step, the
signed certificate, and a grep of every readable byte of the workspace for the erased people.

The fast tests run on an ingested export (no training: erasure rewrites and shreds the raw
versions); ``test_erasure_reaches_the_model`` (slow) runs the whole pipeline, kills the eraser
with SIGKILL between shredding and retraining, and checks the retrained adapter.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from privtune.access import admin
from privtune.cli.main import run
from privtune.errors import IntegrityError, KeyDestroyed, PermissionDenied, PrivacyPolicyError
from privtune.io import read_jsonl
from privtune.pipeline import erasure
from privtune.pipeline.config import PipelineConfig
from privtune.store import DataKey
from privtune.store.audit_models import AuditEvent
from privtune.store.subject_models import SubjectRequest
from privtune.workspace import CONFIG_FILE, Workspace, init_workspace

from .conftest import ADMIN_KEY, SEED, _people, identifiers

SMALL_CO = 20


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from privtune.pipeline.ingest import ingest_export
    from privtune.synth import generate_company

    root = tmp_path_factory.mktemp("erase-light")
    export = root / "export"
    generate_company(SMALL_CO, SEED, export, fmt="csv")
    ws = init_workspace(root / "ws")
    keys = {role: admin.add_user(ws.access, ws.store, f"u-{role}", role).secret
            for role in ("dpo", "ml-engineer", "viewer", "data-steward")}
    keys["admin2"] = admin.add_user(ws.access, ws.store, "second-admin", "admin").secret
    ingest_export(ws, export)
    ws.close()
    return {"ws": root / "ws", "export": export, "keys": keys, "people": _people(export)}


@pytest.fixture()
def light(ingested: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    dst = tmp_path / "ws"
    shutil.copytree(ingested["ws"], dst)
    return {**ingested, "ws": dst}


def _file(root: Path, key: str, ids: list[str]) -> list[str]:
    with Workspace.open(root, api_key=key) as ws:
        return [erasure.file_erasure(ws, i).id for i in ids]


def _approve(root: Path, key: str, reqs: list[str]) -> None:
    with Workspace.open(root, api_key=key) as ws:
        for r in reqs:
            erasure.approve_erasure(ws, r)


def _run(root: Path, key: str, cfg: PipelineConfig | None = None, **kw: Any):
    with Workspace.open(root, api_key=key) as ws:
        return erasure.run_erasures(ws, cfg or PipelineConfig(), **kw)


def readable(root: Path) -> Iterator[tuple[str, bytes]]:
    """Every byte of the workspace a reader can get: each file as it lies (database, WAL,
    reports, runs, logs, head file, key files, vault files), and every vault version an admin
    can decrypt (tables, texts, training sets, adapters' tar files)."""
    for p in sorted(root.rglob("*")):
        if p.is_file():
            yield str(p.relative_to(root)), p.read_bytes()
    with Workspace.open(root, api_key=ADMIN_KEY) as ws:
        gone = ws.vault.shredded()
        for row in ws.vault.list():
            if row.ref not in gone:
                yield row.ref, ws.vault.get(row.ref)


def grep(root: Path, needles: list[str]) -> list[tuple[str, str]]:
    hits = []
    low = [n.lower().encode() for n in needles]
    for where, data in readable(root):
        d = data.lower()
        hits += [(where, n.decode()) for n in low if n in d]
    return hits


# ---------------------------------------------------------------- four-eyes and roles
def test_four_eyes_and_lesser_roles(light: dict[str, Any]) -> None:
    root, keys, person = light["ws"], light["keys"], light["people"]["erase"][2]
    for role in ("ml-engineer", "viewer", "data-steward"):
        with Workspace.open(root, api_key=keys[role]) as ws, pytest.raises(PermissionDenied):
            erasure.file_erasure(ws, person)
    (req,) = _file(root, keys["dpo"], [person])
    with pytest.raises(PermissionDenied, match="four-eyes"):
        _approve(root, keys["dpo"], [req])           # the requester approves their own request
    for role in ("ml-engineer", "viewer", "data-steward"):
        with pytest.raises(PermissionDenied, match=r"may not subject\.approve"):
            _approve(root, keys[role], [req])
    assert _run(root, keys["dpo"]) is None           # not approved: nothing runs
    with pytest.raises(PermissionDenied):
        _run(root, keys["ml-engineer"])               # may not carry out an erasure
    _approve(root, ADMIN_KEY, [req])
    with pytest.raises(PrivacyPolicyError, match="not queued"):
        _approve(root, keys["admin2"], [req])
    with Workspace.open(root) as ws, ws.store.session() as s:
        denies = list(s.scalars(select(AuditEvent).where(AuditEvent.op == "subject.approve",
                                                          AuditEvent.outcome == "deny")))
        row = s.get(SubjectRequest, req)
        assert row is not None and row.state == "approved"
        # the request row names the request by id only: no identifier of the person in clear
        cells = json.dumps([str(getattr(row, c.name)) for c in SubjectRequest.__table__.columns])
    assert len(denies) >= 4
    for ident in identifiers(light["people"]["by_id"][person]):
        assert ident.lower() not in cells.lower()


def test_other_role_approval(light: dict[str, Any]) -> None:
    root, keys = light["ws"], light["keys"]
    cfg = yaml.safe_load((root / CONFIG_FILE).read_text())
    cfg["erasure_approval"] = "other-role"
    (root / CONFIG_FILE).write_text(yaml.safe_dump(cfg))
    (req,) = _file(root, ADMIN_KEY, [light["people"]["erase"][0]])
    with pytest.raises(PermissionDenied, match="role other than admin"):
        _approve(root, keys["admin2"], [req])
    _approve(root, keys["dpo"], [req])


def test_the_row_mac_guards_the_queue(light: dict[str, Any]) -> None:
    """A DB writer cannot approve a request by editing its row."""
    import sqlite3

    (req,) = _file(light["ws"], light["keys"]["dpo"], [light["people"]["erase"][0]])
    with sqlite3.connect(light["ws"] / "metadata.db") as db:
        db.execute("UPDATE subject_requests SET state='approved', approved_by='x' WHERE id=?", (req,))
    with pytest.raises(IntegrityError, match="subject_requests"):
        _run(light["ws"], ADMIN_KEY)


# ---------------------------------------------------------------- erasure of the raw data
def _erase_all(ctx: dict[str, Any], **kw: Any):
    reqs = _file(ctx["ws"], ctx["keys"]["dpo"], ctx["people"]["erase"])
    _approve(ctx["ws"], ADMIN_KEY, reqs)
    return reqs, _run(ctx["ws"], ctx["keys"]["dpo"], **kw)


def _needles(ctx: dict[str, Any]) -> list[str]:
    return [i for p in ctx["people"]["erase"] for i in identifiers(ctx["people"]["by_id"][p])]


@pytest.mark.slow
def test_erasure_of_three_people(light: dict[str, Any]) -> None:
    root = light["ws"]
    before = grep(root, _needles(light))
    assert any(where.startswith("employees@") for where, _ in before)  # the grep sees the data
    reqs, res = _erase_all(light)
    assert res is not None and sorted(res.requests) == sorted(reqs)
    assert not grep(root, _needles(light))
    with Workspace.open(root, api_key=ADMIN_KEY) as ws:
        import pyarrow as pa
        import pyarrow.parquet as pq

        new = pq.read_table(pa.BufferReader(ws.vault.get("employees"))).to_pylist()
        assert len(new) == SMALL_CO - 3
        keep = light["people"]["keep"]
        orig = light["people"]["by_id"][keep]
        row = next(r for r in new if r["employee_id"] == keep)
        assert (row["first_name"], row["email"], row["ssn"]) == \
               (orig["first_name"], orig["email"], orig["ssn"])
        # a shredded version cannot be read, even by the holder of the KEK
        assert "employees@1" in ws.vault.shredded()
        with pytest.raises(KeyDestroyed):
            ws.vault.get("employees@1")
        with ws.store.session() as s:
            dk = s.scalars(select(DataKey).where(DataKey.name == "employees",
                                                 DataKey.version == 1)).one()
            assert dk.wrapped is None
        for p in light["people"]["erase"]:
            assert not ws.subjects().find(p).all
        states = {r.id: (r.state, r.step) for r in erasure.list_requests(ws)}
    assert all(states[r] == ("done", "certify") for r in reqs)
    body = json.loads(res.certificate.read_text())["certificate"]
    assert body["checks"] == {"found_versions_shredded": True, "found_versions_unreadable": True,
                              "subject_index_empty": True, "new_versions_free_of_identifiers": True,
                              "backups_all_shredded": True, "retrained_audits_passed": True,
                              "erased_absent_from_retrained_adapters": True}  # none retrained


@pytest.mark.slow
def test_certificate_verifies_and_tampering_fails(light: dict[str, Any], capsys) -> None:
    _, res = _erase_all(light)
    cert = res.certificate
    assert run(["subject", "verify-certificate", str(cert), "-w", str(light["ws"])]) == 0
    doc = json.loads(cert.read_text())
    doc["certificate"]["shredded"] = doc["certificate"]["shredded"][:-1]
    bad = light["ws"].parent / "tampered.json"
    bad.write_text(json.dumps(doc))
    assert run(["subject", "verify-certificate", str(bad), "-w", str(light["ws"])]) == 5
    with Workspace.open(light["ws"], api_key=ADMIN_KEY) as ws, pytest.raises(IntegrityError):
        erasure.verify_certificate(ws.pinned_public_key(), bad)
    text = json.dumps(doc)  # the certificate names requests by id only
    assert not [n for n in _needles(light) if n in text]


class Crash(BaseException):
    """What the fault hook throws: nothing below catches it (like a kill)."""


@pytest.mark.slow
@pytest.mark.parametrize("step", erasure.STEPS)
def test_crash_after_each_step_then_resume(light: dict[str, Any], step: str) -> None:
    def boom(done: str) -> None:
        if done == step:
            raise Crash(step)

    with pytest.raises(Crash):
        _erase_all(light, after_step=boom)
    with Workspace.open(light["ws"], api_key=ADMIN_KEY) as ws:
        bad = [v for v in ws.vault.verify() if not v.ok]
        assert not bad, bad                         # consistent: every version intact or shredded
        assert {r.state for r in erasure.list_requests(ws)} == {"running"}
    res = _run(light["ws"], light["keys"]["dpo"])   # the rerun completes the batch
    assert res is not None and len(res.requests) == 3
    assert not grep(light["ws"], _needles(light))
    assert _run(light["ws"], light["keys"]["dpo"]) is None


@pytest.mark.slow
def test_cli_erase_approve_run(light: dict[str, Any], monkeypatch, capsys) -> None:
    root, person = light["ws"], light["people"]["erase"][0]
    monkeypatch.setenv("PRIVTUNE_API_KEY", light["keys"]["dpo"])
    assert run(["subject", "erase", person, "-w", str(root)]) == 0
    req = capsys.readouterr().out.split()[1].rstrip(":")
    assert run(["subject", "approve", req, "-w", str(root)]) == 7   # four-eyes
    monkeypatch.setenv("PRIVTUNE_API_KEY", ADMIN_KEY)
    assert run(["subject", "approve", req, "-w", str(root)]) == 0
    assert run(["subject", "requests", "-w", str(root)]) == 0
    cfg = Path(__file__).resolve().parents[2] / "configs" / "tiny-demo.yaml"
    assert run(["subject", "run", str(cfg), "-w", str(root)]) == 0
    out = capsys.readouterr().out
    assert "certificate" in out and person not in out


# ---------------------------------------------------------------- the model (slow)
KILLER = """
import os, signal, sys
from pathlib import Path
from privtune.config import load_config
from privtune.pipeline import erasure
from privtune.pipeline.config import PipelineConfig
from privtune.workspace import Workspace

root, step, key = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
cfg = load_config(PipelineConfig, None, sys.argv[4:])

def kill(done):
    if done == step:
        os.kill(os.getpid(), signal.SIGKILL)

with Workspace.open(root, api_key=key) as ws:
    erasure.run_erasures(ws, cfg, after_step=kill)
"""


@pytest.mark.slow
def test_erasure_reaches_the_model(fresh: dict[str, Any]) -> None:
    from privtune.deid.keys import KeyedHash
    from privtune.deid.operators.pseudonymize import pseudonym
    from privtune.dp import ledger
    from privtune.records import AdapterRecord

    from .conftest import SMALL

    root, people = fresh["ws"], fresh["people"]
    with Workspace.open(root, api_key=ADMIN_KEY) as ws:
        keyed = KeyedHash(ws.pseudonym_key())
        runs_before = len(ledger.entries(ws.access.check, ws.store))
        cap_before = erasure.erasure_capacity(ws)
        old = AdapterRecord.from_dict(dict(ws.vault.manifest(fresh["adapter"]).meta))
        trained_on = {str(e) for ex in read_jsonl(ws.vault, old.train_data)
                      for e in ex.get("employee_ids") or []}
    tokens = [pseudonym(keyed, p) for p in people["erase"]]
    needles = [i for p in people["erase"] for i in identifiers(people["by_id"][p])] + tokens
    assert grep(root, tokens)  # the de-identified data and training set carry their tokens
    reqs = _file(root, fresh["keys"]["dpo"], people["erase"])
    was_member = {r for r, t in zip(reqs, tokens, strict=True) if t in trained_on}
    _approve(root, ADMIN_KEY, reqs)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.run([sys.executable, "-c", KILLER, str(root), "shred", fresh["keys"]["dpo"],
                           *SMALL], env=env, capture_output=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    with Workspace.open(root, api_key=ADMIN_KEY) as ws:
        assert not [v for v in ws.vault.verify() if not v.ok]
        assert {(r.state, r.step) for r in erasure.list_requests(ws)} == {("running", "shred")}
    res = _run(root, fresh["keys"]["dpo"], fresh["cfg"])
    assert res is not None
    new = res.retrained["adapter"]
    assert new["from"] == fresh["adapter"] and new["to"] != fresh["adapter"]
    assert not grep(root, needles)
    with Workspace.open(root, api_key=ADMIN_KEY) as ws:
        rec = AdapterRecord.from_dict(dict(ws.vault.manifest(new["to"]).meta))
        assert rec.train_data == new["train_data"] != "trainset@1"
        assert fresh["adapter"] in ws.vault.shredded()
        with pytest.raises(KeyDestroyed):
            ws.vault.get(fresh["adapter"])
        # the retrain was charged to the people's budget like any run
        assert len(ledger.entries(ws.access.check, ws.store)) == runs_before + 1
        cap_after = erasure.erasure_capacity(ws)
    assert cap_after[0].left < cap_before[0].left
    assert cap_after[0].retrains_left is not None
    with Workspace.open(root, api_key=ADMIN_KEY) as ws:
        body = erasure.verify_certificate(ws.pinned_public_key(), res.certificate)
    assert body["retrained"]["adapter"]["to"] == new["to"]
    assert body["superseded_adapters"] == [fresh["adapter"]]
    assert set(body["requests"]) == set(reqs)
    # the retrained adapter's audit treats each erased person (named by request id) as a
    # non-member: not in its lineage or data, their score placed among the held-out employees'
    assert body["checks"]["erased_absent_from_retrained_adapters"] is True
    erased = body["retrained"]["adapter"]["erased"]
    assert set(erased) == set(reqs)
    assert {r for r, e in erased.items() if e["was_member_of_superseded"]} == was_member
    for e in erased.values():
        assert not (e["in_training_set"] or e["in_validation_set"]
                    or e["lineage_reaches_erased_data"])
        # scored on their own examples from the superseded data (someone the dataset held no
        # example of, e.g. only listed as a manager, is reported unscored)
        assert {a["attack"] for a in e["attacks"]} == (
            {"loss", "reference (base model)"} if e["examples_scored"] else set())
        for a in e["attacks"]:
            assert 0.0 <= a["non_member_percentile"] <= 100.0 and a["non_members"] > 0
    assert any(e["examples_scored"] for e in erased.values())
    verdict = json.loads((root / "reports" / "audits" / f"{new['audit_id']}.json").read_text())
    assert verdict["details"]["outsiders"] == {
        r: {k: v for k, v in e.items()
            if k not in ("was_member_of_superseded", "lineage_reaches_erased_data")}
        for r, e in erased.items()}


def test_delegation_ends_with_the_request(light: dict[str, Any]) -> None:
    """A DPO reads and rewrites data only inside a subject request, never directly; events made
    under a request say so."""
    from privtune.vault import names

    with Workspace.open(light["ws"], api_key=light["keys"]["dpo"]) as ws:
        with pytest.raises(PermissionDenied, match=r"may not data\.read"):
            ws.vault.get("employees")
        with pytest.raises(PermissionDenied):
            ws.vault.put("notes", b"x", kind="blob")
        erasure.file_erasure(ws, light["people"]["erase"][0])
        with pytest.raises(PermissionDenied, match=r"may not data\.read"):
            ws.vault.get("employees")          # the block of the request has ended
    with Workspace.open(light["ws"]) as ws, ws.store.session() as s:
        via = [e for e in s.scalars(select(AuditEvent).where(AuditEvent.op == "data.write"))
               if '"via"' in e.detail]
    assert via and all("subject.erase" in e.detail for e in via)
    assert names.name_class(erasure.REQUEST_PREFIX + "x").kinds == ("blob",)


def test_the_recorded_policy_reads_back() -> None:
    """Derive rebuilds with the policy stored in the vault (its model dump), not a default."""
    from privtune.deid.policy import load_policy, parse_policy

    pol = load_policy(None).model_copy(update={"version": 1})
    doc = json.loads(pol.model_dump_json(by_alias=True, exclude_none=True))
    assert parse_policy(erasure._policy_doc(doc)) == pol


@pytest.mark.slow
def test_the_outsider_check_sees_a_person_still_in_the_data(fresh: dict[str, Any]) -> None:
    """The audit's outsider check is not a rubber stamp: a member and a held-out employee
    passed as 'erased' are reported as in the training and the validation set, and both are
    scored and placed among the members and the held-out employees."""
    from privtune.attacks.canaries import is_canary
    from privtune.attacks.mia import Outsider
    from privtune.gate.audit import run_audit
    from privtune.pipeline.site import gate_site
    from privtune.records import AdapterRecord

    with Workspace.open(fresh["ws"], api_key=ADMIN_KEY) as ws:
        rec = AdapterRecord.from_dict(dict(ws.vault.manifest(fresh["adapter"]).meta))
        train, val = read_jsonl(ws.vault, rec.train_data), read_jsonl(ws.vault, rec.val_data)

        def own(examples: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
            out: dict[str, list[dict[str, Any]]] = {}
            for ex in examples:
                ids = ex.get("employee_ids") or []
                if ids and not is_canary(ids[0]):
                    out.setdefault(str(ids[0]), []).append(ex)
            return out

        member = max(own(train).values(), key=len)
        held = max(own(val).values(), key=len)
        out = run_audit(gate_site(ws), fresh["adapter"], fresh["cfg"].audit, fresh["cfg"].gate,
                        outsiders={"probe-member": Outsider([member[0]["employee_ids"][0]], member),
                                   "probe-held-out": Outsider([held[0]["employee_ids"][0]], held)})
    placed = out.verdict["details"]["outsiders"]
    assert placed["probe-member"]["in_training_set"] is True
    assert placed["probe-held-out"]["in_validation_set"] is True
    assert placed["probe-held-out"]["in_training_set"] is False
    for row in placed.values():
        assert row["examples_scored"] > 0 and len(row["attacks"]) == 2
        assert all(a["non_members"] > 0 and a["members"] > 0 for a in row["attacks"])
    # the verdict names them by the labels given, never by pseudonym
    text = json.dumps(out.verdict)
    assert member[0]["employee_ids"][0] not in json.dumps(placed)
    assert "probe-member" in text
    html = out.report_path.read_text()
    assert "Erased people" in html and "probe-held-out" in html
    assert member[0]["employee_ids"][0] not in html
