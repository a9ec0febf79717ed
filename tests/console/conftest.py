"""Console tests: a workspace with one user per role, planted personal data in its person
table (and so in its PII scan report), a live console on a free loopback port, and a plain
HTTP client that keeps its own cookies (stdlib only).

Browser tests (test_browser.py) drive Debian's Chromium with Playwright; they skip with one
line only when no Chromium is installed and CI is not set (under CI a missing Chromium fails)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from privtune.access import admin

from .helpers import Client, live

__all__ = ["Client", "live"]

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions
ROLES = ("admin", "data-steward", "ml-engineer", "auditor", "viewer", "dpo", "app")
#: Personal data planted in the person table: it may appear on no page, for any role, unless
#: revealed (audited) by a role that may read personal data.
PLANTED = {"first_name": "Ingrid", "last_name": "Halvorsen", "email": "ingrid.halvorsen@acme.example",
           "phone": "+47 912 34 567"}


def add_users(ws: Any) -> dict[str, str]:
    keys = {"admin": ADMIN_KEY}
    for role in ROLES:
        if role != "admin":
            keys[role] = admin.add_user(ws.access, ws.store, f"c-{role}", role).secret
    keys["dpo2"] = admin.add_user(ws.access, ws.store, "c-dpo2", "dpo").secret
    return keys


def plant_people(ws: Any, root: Path) -> None:
    """A small company whose first employee carries the planted values; ingested and scanned
    (the scan report holds masked shapes of them)."""
    import csv

    from privtune.pipeline.deid import scan
    from privtune.pipeline.ingest import ingest_export
    from privtune.synth import generate_company

    export = root / "export"
    generate_company(12, 7, export, fmt="csv")
    path = export / "employees.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0].keys())
    for k, v in PLANTED.items():
        if k in rows[0]:
            rows[0][k] = v
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    refs = ingest_export(ws, export).outputs
    scan(ws, refs, workers=1)


AUDIT_ID = "audit-20261201-000000-c0ffee"


def add_audit(ws: Any) -> None:
    """An audit row of a model this workspace does not hold (the gate shows why it would
    refuse): a failed verdict with one membership attack and its ROC points."""
    from privtune.gate.verdict import digest
    from privtune.store.models import Audit

    verdict = {"passed": False, "failed": ["mia_auc_max"], "profile": "quick",
               "metrics": [{"name": "mia_auc_max", "value": 0.71, "threshold": 0.6,
                            "passed": False, "description": "membership AUC"}],
               "details": {"membership": [{"attack": "loss", "auc": 0.71,
                                           "tpr_at_1pct_fpr": 0.1, "members": 20,
                                           "non_members": 20, "fpr_resolution": 0.05,
                                           "roc": [[0, 0], [0.05, 0.2], [0.5, 0.8], [1, 1]]}],
                           "exposure_by_repetitions": {"1": {"mean": 2.0, "max": 3.1, "canaries": 2},
                                                       "32": {"mean": 11.0, "max": 12.5,
                                                              "canaries": 2}},
                           "extraction": {"exact": 0, "near": 1}}}
    with ws.store.session() as s:
        s.add(Audit(id=AUDIT_ID, model_name="adapter", model_ref="adapter@1", model_sha256="0" * 64,
                    base_sha256="", passed=False, verdict_sha256=digest(verdict),
                    verdict=verdict, report=""))


def no_planted(html: str) -> None:
    low = html.lower()
    for kind, value in PLANTED.items():
        assert value.lower() not in low, f"planted {kind} on a page"


@pytest.fixture(scope="module")
def console_ws(tmp_path_factory: pytest.TempPathFactory, make_workspace: Any) -> Iterator[dict]:
    from privtune.console.service import build

    root = tmp_path_factory.mktemp("console")
    ws = make_workspace(root / "ws")
    keys = add_users(ws)
    plant_people(ws, root)
    add_audit(ws)
    app = build(ws)
    with live(app) as url:
        yield {"ws": ws, "url": url, "keys": keys, "app": app, "root": root}
    ws.close()
