"""Erasure and access where the export names its columns its own way, and erasure that reaches
the backups (the integration of issues 17, 19 and 20).

The export is the synthetic company with German column names (``Personalnummer``, ``Vorname``,
``Nachname``, ``E-Mail-Adresse``, ``Tel``; the texts' author field ``Personalnummer``): ingest
stores the inferred schema mapping, and erasure and subject access find every table's id column,
the names and the identifiers by role. No training: erasure rewrites and shreds the raw versions.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from privtune import backup
from privtune.access import admin
from privtune.cli.backup_cmd import _accept_restored
from privtune.cli.main import run
from privtune.errors import IntegrityError, KeyDestroyed, NotFoundError
from privtune.pipeline import erasure
from privtune.pipeline.config import PipelineConfig
from privtune.pipeline.subject_access import export_subject
from privtune.store.backup_models import BackupRepoRecord
from privtune.workspace import CONFIG_FILE, Workspace, init_workspace

from .conftest import ADMIN_KEY, SEED, _people, identifiers
from .test_erasure import grep

#: Our column -> the German export's (tests/ingest/test_schema_mapping.py has the whole table).
GERMAN = {
    "employee_id": "Personalnummer", "first_name": "Vorname", "last_name": "Nachname",
    "email": "E-Mail-Adresse", "phone": "Tel", "ssn": "Sozialversicherungsnummer",
    "home_address": "Anschrift", "manager_id": "Vorgesetzter", "iban": "IBAN",
    "emergency_contact_name": "Notfallkontakt", "emergency_contact_phone": "Notfallnummer",
}
PASS = "backup passphrase for the erasure tests"


def _rename_csv(path: Path, names: dict[str, str]) -> None:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    rows[0] = [names.get(c, c) for c in rows[0]]
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def _rename_jsonl(path: Path) -> None:
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({("Personalnummer" if k == "employee_id" else k): v
                                        for k, v in r.items()}) + "\n" for r in recs))


@pytest.fixture(scope="module")
def german(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from privtune.pipeline.ingest import ingest_export
    from privtune.synth import generate_company

    root = tmp_path_factory.mktemp("erase-german")
    export = root / "export"
    generate_company(20, SEED, export, fmt="csv")
    people = _people(export)  # our names, read before the renaming
    _rename_csv(export / "employees.csv", GERMAN)
    _rename_csv(export / "leave.csv", {"employee_id": "Personalnummer"})
    for name in ("tickets", "reviews"):
        _rename_jsonl(export / f"{name}.jsonl")
    ws = init_workspace(root / "ws")
    keys = {"dpo": admin.add_user(ws.access, ws.store, "u-dpo", "dpo").secret}
    ingest_export(ws, export)
    ws.close()
    return {"ws": root / "ws", "keys": keys, "people": people}


@pytest.fixture()
def copy(german: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    shutil.copytree(german["ws"], tmp_path / "ws")
    return {**german, "ws": tmp_path / "ws"}


def _erase(ctx: dict[str, Any], persons: list[str]) -> erasure.ErasureResult:
    with Workspace.open(ctx["ws"], api_key=ctx["keys"]["dpo"]) as ws:
        reqs = [erasure.file_erasure(ws, p).id for p in persons]
    with Workspace.open(ctx["ws"], api_key=ADMIN_KEY) as ws:
        for r in reqs:
            erasure.approve_erasure(ws, r)
    with Workspace.open(ctx["ws"], api_key=ctx["keys"]["dpo"]) as ws:
        res = erasure.run_erasures(ws, PipelineConfig())
    assert res is not None
    return res


def _table(ws: Workspace, name: str) -> list[dict[str, Any]]:
    return pq.read_table(pa.BufferReader(ws.vault.get(name))).to_pylist()


@pytest.mark.slow
def test_erasure_and_access_on_an_export_with_german_column_names(copy: dict[str, Any],
                                                                 tmp_path: Path) -> None:
    root, people = copy["ws"], copy["people"]
    # the person named in another employee's ticket: rows, texts and mentions to remove
    person, keep = people["erase"][1], people["keep"]
    needles = identifiers(people["by_id"][person])
    assert any(w.startswith(("employees@", "tickets@")) for w, _ in grep(root, needles))
    with Workspace.open(root, api_key=ADMIN_KEY) as ws:
        assert export_subject(ws, person, tmp_path / "before.json").records > 0
        cols = ws.vault.manifest("employees")
        assert "Vorname" in pq.read_table(pa.BufferReader(ws.vault.get(cols.ref))).column_names
    res = _erase(copy, [person])
    assert res.found > 0 and not grep(root, needles)   # no byte, no decryptable version
    with Workspace.open(root, api_key=ADMIN_KEY) as ws:
        emp = _table(ws, "employees")
        assert len(emp) == 19 and all(r["Personalnummer"] != person for r in emp)
        orig = people["by_id"][keep]
        mine = next(r for r in emp if r["Personalnummer"] == keep)
        assert (mine["Vorname"], mine["E-Mail-Adresse"]) == (orig["first_name"], orig["email"])
        assert all(r["Personalnummer"] != person for r in _table(ws, "leave"))
        # subject access still finds everyone else, by the export's own id column
        pkg = export_subject(ws, keep, tmp_path / "keep.json")
        with pytest.raises(NotFoundError):
            export_subject(ws, person, tmp_path / "gone.json")
    assert pkg.records > 1
    doc = json.loads((tmp_path / "keep.json").read_text())
    rows = [r for ref, rs in doc["your_data"].items() if ref.startswith("employees@") for r in rs]
    assert rows and rows[0]["E-Mail-Adresse"] == orig["email"]
    assert any(ref.startswith("tickets@") for ref in doc["your_data"])  # texts by Personalnummer
    assert person not in (tmp_path / "keep.json").read_text()


def test_subject_access_reads_columns_by_role(copy: dict[str, Any], tmp_path: Path) -> None:
    """The package of one person holds their rows under the export's column names, and no other
    employee's id or e-mail (found by role: ``Vorgesetzter``, ``E-Mail-Adresse``)."""
    people = copy["people"]
    manager = people["erase"][0]   # a manager: others' rows name them, theirs names nobody else
    report = next(i for i, r in people["by_id"].items() if r["manager_id"] == manager)
    with Workspace.open(copy["ws"], api_key=ADMIN_KEY) as ws:
        pkg = export_subject(ws, report, tmp_path / "p.json")
    text = (tmp_path / "p.json").read_text()
    doc = json.loads(text)
    row = next(r for ref, rs in doc["your_data"].items() if ref.startswith("employees@") for r in rs)
    assert row["Personalnummer"] == report and row["Vorgesetzter"] == "[another employee]"
    assert pkg.records >= 1 and manager not in text
    assert people["by_id"][manager]["email"].lower() not in text.lower()


def test_an_old_config_with_employee_id_column_still_opens(copy: dict[str, Any]) -> None:
    """``employee_id_column`` is retired (the mapping says which column is the id): an older
    workspace that still has it opens without an error, and the key means nothing."""
    cfg = copy["ws"] / CONFIG_FILE
    cfg.write_text(cfg.read_text() + "employee_id_column: emp_no\n")
    with Workspace.open(copy["ws"], api_key=ADMIN_KEY) as ws:
        assert "employee_id_column" not in ws.config.model_dump()


# ---------------------------------------------------------------- backups
@pytest.mark.slow
def test_erasure_reaches_every_recorded_backup(copy: dict[str, Any], tmp_path: Path,
                                               monkeypatch, capsys) -> None:
    """Back up, erase, restore: the person's shredded versions are not restored. A recorded
    repository the erasure cannot open is pending in the certificate and the CLI output, until
    ``backup shred-sync``."""
    root, people = copy["ws"], copy["people"]
    person = people["erase"][2]
    needles = identifiers(people["by_id"][person])
    monkeypatch.setenv(backup.ENV_BACKUP_PASSPHRASE, PASS)
    monkeypatch.setenv("PRIVTUNE_API_KEY", ADMIN_KEY)
    near, away = tmp_path / "repo-near", tmp_path / "repo-away"
    for repo in (near, away):
        assert run(["backup", "create", "--repo", str(repo), "-w", str(root)]) == 0
    with Workspace.open(root, api_key=ADMIN_KEY) as ws:
        assert backup.recorded_repos(ws.store) == sorted([near.resolve(), away.resolve()])
        versions = sorted(r.ref for r in ws.vault.list() if r.name in ("employees", "tickets"))
    # the second repository is unmounted while the erasure runs
    parked = tmp_path / "parked"
    away.rename(parked)
    with Workspace.open(root, api_key=copy["keys"]["dpo"]) as ws:
        (req,) = [erasure.file_erasure(ws, person).id]
    with Workspace.open(root, api_key=ADMIN_KEY) as ws:
        erasure.approve_erasure(ws, req)
    monkeypatch.setenv("PRIVTUNE_API_KEY", copy["keys"]["dpo"])   # a DPO runs it
    capsys.readouterr()
    cfg = Path(__file__).resolve().parents[2] / "configs" / "tiny-demo.yaml"
    assert run(["subject", "run", str(cfg), "-w", str(root)]) == 0
    out = "".join(capsys.readouterr().out.split())   # the console wraps long lines
    assert "pending:run`privtunebackupshred-sync" in out and str(away.resolve()) in out
    assert person not in out
    cert = json.loads(next((root / "reports" / "erasure").glob("*.json")).read_text())["certificate"]
    (done,) = cert["backups"]["shredded"]
    assert done["repo"] == str(near.resolve()) and done["keys_removed"] >= 2
    (pend,) = cert["backups"]["pending"]
    assert pend["repo"] == str(away.resolve()) and "shred-sync" in pend["action"]
    assert cert["checks"]["backups_all_shredded"] is False
    shredded = set(cert["shredded"])
    assert shredded & set(versions)
    # restore the backup made before the erasure: the person's versions stay shredded
    monkeypatch.setenv("PRIVTUNE_API_KEY", ADMIN_KEY)
    restored = backup.restore(near, tmp_path / "restored", accept=_accept_restored)
    assert set(restored.shredded) >= shredded & set(versions)
    with Workspace.open(tmp_path / "restored", api_key=ADMIN_KEY) as r:
        for ref in shredded & set(versions):
            with pytest.raises(KeyDestroyed):
                r.vault.get(ref)
    assert not grep(tmp_path / "restored", needles)
    # the pending repository, back in place, still holds them until shred-sync
    parked.rename(away)
    assert run(["backup", "shred-sync", "--repo", str(away), "-w", str(root)]) == 0
    again = backup.restore(away, tmp_path / "restored-2", accept=_accept_restored)
    assert set(again.shredded) >= shredded & set(versions)
    assert not grep(tmp_path / "restored-2", needles)


def test_the_backup_list_is_row_maced(copy: dict[str, Any], tmp_path: Path, monkeypatch) -> None:
    """A DB writer cannot take a repository off the list (or move it) to keep it out of an
    erasure's reach: a changed row fails the read."""
    import sqlite3

    monkeypatch.setenv(backup.ENV_BACKUP_PASSPHRASE, PASS)
    monkeypatch.setenv("PRIVTUNE_API_KEY", ADMIN_KEY)
    assert run(["backup", "create", "--repo", str(tmp_path / "repo"), "-w", str(copy["ws"])]) == 0
    with Workspace.open(copy["ws"], api_key=ADMIN_KEY) as ws, ws.store.session() as s:
        row = s.get(BackupRepoRecord, str((tmp_path / "repo").resolve()))
        assert row is not None and row.repo_id
    with sqlite3.connect(copy["ws"] / "metadata.db") as db:
        db.execute("UPDATE backup_repos SET path = '/nowhere'")
    with Workspace.open(copy["ws"], api_key=ADMIN_KEY) as ws, \
            pytest.raises(IntegrityError, match="backup_repos"):
        backup.recorded_repos(ws.store)


@pytest.mark.slow
def test_without_the_backup_passphrase_the_backup_is_pending(copy: dict[str, Any], tmp_path: Path,
                                                              monkeypatch) -> None:
    """No PRIVTUNE_BACKUP_PASSPHRASE where the erasure runs: no prompt, the repository is
    pending (reason and action in the certificate) and keeps its keys until shred-sync."""
    monkeypatch.setenv(backup.ENV_BACKUP_PASSPHRASE, PASS)
    monkeypatch.setenv("PRIVTUNE_API_KEY", ADMIN_KEY)
    repo = tmp_path / "repo"
    assert run(["backup", "create", "--repo", str(repo), "-w", str(copy["ws"])]) == 0
    monkeypatch.delenv(backup.ENV_BACKUP_PASSPHRASE)
    res = _erase(copy, [copy["people"]["erase"][0]])
    assert res.backups_shredded == []
    (pend,) = res.backups_pending
    assert pend["repo"] == str(repo.resolve()) and backup.ENV_BACKUP_PASSPHRASE in pend["reason"]
    assert pend["action"] == f"pending: run `privtune backup shred-sync --repo {repo.resolve()}`"
    monkeypatch.setenv(backup.ENV_BACKUP_PASSPHRASE, PASS)
    cert = json.loads(res.certificate.read_text())["certificate"]
    escrow = backup.Repo.open(repo).read_escrow()
    held = [r for r in cert["shredded"] if r in escrow.keys]
    assert held   # the repository still holds them ...
    assert run(["backup", "shred-sync", "--repo", str(repo), "-w", str(copy["ws"])]) == 0
    escrow = backup.Repo.open(repo).read_escrow()
    assert not [r for r in cert["shredded"] if r in escrow.keys]   # ... until shred-sync
