"""Erasing one person (issue 19): time per step against a full rebuild, with 1 and 4 adapters
that held the person.

A synthetic company (``PRIVTUNE_BENCH_ERASE_EMPLOYEES``, default 60) is carried through the
pipeline with a tiny base model and a few DP steps (the settings of tests/compliance), with 1
or 4 adapters trained on the same training set. One employee is erased: the seconds of each
step come from the batch's own record (find / rewrite / derive (de-identify + dataset) /
revoke / shred / retrain (train + fresh privacy audit of every adapter) / certify). The full
rebuild is every stage from ingest to the audit of every adapter in a fresh workspace on the
same export (one person more than after the erasure: the difference is negligible). Run:
``python bench/run.py erasure``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "compliance"))

from common import write

EMPLOYEES = int(os.environ.get("PRIVTUNE_BENCH_ERASE_EMPLOYEES", "60"))
ADAPTERS = tuple(int(x) for x in os.environ.get("PRIVTUNE_BENCH_ERASE_ADAPTERS", "1,4").split(","))
KEY = "ptk_0123456789ab_" + "B" * 43


def _build(root: Path, export: Path, n: int, cfg: Any) -> float:
    from privtune.dp import ledger
    from privtune.pipeline.run import run_stages
    from privtune.workspace import init_workspace

    t0 = time.perf_counter()
    ws = init_workspace(root, admin_key=KEY)
    try:
        run_stages(ws, cfg, export, stop="dataset", skip=("scan",))
        ledger.set_budget(ws.access.check, ws.store, "employees", 100.0)
        for i in range(n):
            run_stages(ws, cfg, start="base_model", stop="audit", skip=("evaluate",),
                       adapter_name="adapter" if i == 0 else f"adapter-{i + 1}")
    finally:
        ws.close()
    return time.perf_counter() - t0


def _case(n: int, tmp: Path, cfg: Any) -> dict[str, Any]:
    from privtune.access import admin
    from privtune.pipeline import erasure
    from privtune.synth import generate_company
    from privtune.workspace import Workspace

    export = tmp / f"export-{n}"
    generate_company(EMPLOYEES, 5, export, fmt="csv")
    _build(tmp / f"ws-{n}", export, n, cfg)
    with Workspace.open(tmp / f"ws-{n}", api_key=KEY) as ws:
        dpo = admin.add_user(ws.access, ws.store, "dpo", "dpo").secret
        req = erasure.file_erasure(ws, "E00007").id
    t0 = time.perf_counter()
    with Workspace.open(tmp / f"ws-{n}", api_key=dpo) as ws:
        erasure.approve_erasure(ws, req)
        res = erasure.run_erasures(ws, cfg)
    total = time.perf_counter() - t0
    assert res is not None
    rebuild = _build(tmp / f"rebuild-{n}", export, n, cfg)
    s = res.seconds
    return {"adapters": n, "employees": EMPLOYEES, "versions_found": res.found,
            **{f"{k}_s": s.get(k, 0.0) for k in erasure.STEPS}, "erase_total_s": round(total, 2),
            "full_rebuild_s": round(rebuild, 2), "erase/rebuild": round(total / rebuild, 3)}


def main() -> None:
    os.environ.setdefault("PRIVTUNE_PASSPHRASE", "bench passphrase, not a secret")
    os.environ.setdefault("PRIVTUNE_API_KEY", KEY)  # the CLI identity tests/compliance reads
    from conftest import SMALL  # the test suite's tiny settings
    from privtune.config import load_config
    from privtune.netguard import enable_offline_mode
    from privtune.pipeline.config import PipelineConfig
    from privtune.vault import kdf

    enable_offline_mode()
    kdf.DEFAULT = kdf.Argon2Params(time_cost=1, memory_kib=64, parallelism=1)
    cfg = load_config(PipelineConfig, None, [o for o in SMALL if not o.startswith("company.")])
    rows = []
    with tempfile.TemporaryDirectory() as d:
        os.environ.setdefault("PRIVTUNE_CACHE", str(Path(d) / "cache"))
        for n in ADAPTERS:
            rows.append(_case(n, Path(d), cfg))
    cols = ["adapters", "employees", "versions_found", *[f"{k}_s" for k in
            ("find", "rewrite", "derive", "revoke", "shred", "retrain", "certify")],
            "erase_total_s", "full_rebuild_s", "erase/rebuild"]
    write("erasure", {"settings": SMALL}, rows, cols)


if __name__ == "__main__":
    main()
