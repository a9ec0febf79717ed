"""``privtune synthesize``: a differentially private synthetic version of a person table,
charged to the people's privacy budget, with its utility and privacy report.

1. The caller needs ``synthetic.write`` (data stewards, admins); the reads and writes it
   implies (the table, the ledger reservation, the outputs) run under it
   (``Guard.acting_for``), each audited with ``via=synthetic.write``.
2. The domain is fixed before any value is read (:mod:`privtune.dpsynth.domain`): the roles of
   the stored schema mapping, public bounds, the user's domain file.
3. One row per person (the first row of each ``employee_id``): the privacy unit is a person.
4. The epsilon is checked against the budget of the table's source exports and reserved in
   the ledger in one transaction (:func:`privtune.dp.ledger.admit`) before any noise is drawn;
   past the budget the run is refused with the budget left (exit 8).
5. The people are split at random (secure randomness) into the half the synthesiser sees and
   a held-out half for the report (``holdout``); MST or AIM spends the zCDP rho equivalent to
   ``(epsilon, delta)`` on the first half; records are sampled from the fitted model.
6. The synthetic table (``<source>-synth``, fresh ``SYN-`` ids, banded numbers) is stored with
   lineage to the source table and the schema mapping and a privacy record (method, epsilon,
   delta, rho, source exports, domain, whether the randomness was secure); the report
   (``<source>-synth-report``) holds figures only.

The synthetic table is not anonymised by k-anonymity: it holds no real person's row, and its
privacy is the DP guarantee recorded with it; ``dataset build --employees <ref>`` takes it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from privtune.dp import ledger, zcdp
from privtune.dp.config import default_delta
from privtune.dp.csprng import DPRandom, SecureRandom, SeededRandom, os_random
from privtune.dpsynth import domain as dom
from privtune.dpsynth import mechanisms, report
from privtune.errors import ConfigError, InputError
from privtune.io import read_table, table_bytes
from privtune.pii.mapping import MAPPING_OBJECT, mapping_for_table
from privtune.pipeline.result import StageResult
from privtune.pipeline.roles import object_mapping, stored_mapping
from privtune.vault.objects import parse_ref
from privtune.workspace import Workspace

OP = "synthetic.write"
SUFFIX = "-synth"
REPORT_SUFFIX = "-synth-report"
SCHEMA = "parquet"
REPORT_SCHEMA = "privtune-synth-report/1"
META_KEY = "synthetic"
MAX_ROWS = 1_000_000


def _rows_per_person(rows: list[dict[str, Any]], id_col: str | None) -> list[dict[str, Any]]:
    """The first row of each person (a stable selection: one person's rows decide it)."""
    if id_col is None:
        return rows
    seen: set[str] = set()
    out = []
    for r in rows:
        key = r.get(id_col)
        if key is None or str(key) == "":
            out.append(r)
            continue
        if str(key) not in seen:
            seen.add(str(key))
            out.append(r)
    return out


def synthesize(ws: Workspace, dataset: str, epsilon: float, *, method: str = "mst",
               rows: int | None = None, delta: float | None = None,
               domains: Mapping[str, Any] | str | Path | None = None, holdout: float = 0.5,
               insecure_seed: int | None = None) -> StageResult[dict[str, Any]]:
    """Synthesise ``dataset`` (a person table ref or name) under ``(epsilon, delta)``-DP.
    ``rows``: the synthetic rows (default: the model's noisy count). ``domains``: the confirmed
    domains (a mapping, a YAML file, or ``"demo"`` for the demo company's vocabulary), read only
    after the permission check. ``insecure_seed``: tests only; the noise is then replayable and
    the privacy record says ``private: false``."""
    t0 = time.perf_counter()
    parse_ref(dataset)
    with ws.access.acting_for(OP, dataset, method=str(method), epsilon=str(epsilon)):
        # the input is looked at only after the check
        if method not in mechanisms.METHODS:
            raise ConfigError(f"unknown method '{method}'; one of "
                              f"{', '.join(mechanisms.METHODS)}", key="method")
        if not (epsilon > 0 and epsilon < float("inf")):
            raise ConfigError("epsilon must be a positive number", key="epsilon")
        if rows is not None and not 1 <= rows <= MAX_ROWS:
            raise ConfigError(f"rows must be between 1 and {MAX_ROWS}", key="rows")
        if not 0 <= holdout < 1:
            raise ConfigError("holdout must be in [0, 1)", key="holdout")
        if isinstance(domains, str | Path):
            domains = dom.demo_domains() if str(domains) == "demo" else \
                dom.load_domain_file(domains)
        ref = ws.vault.resolve(dataset)
        manifest = ws.vault.manifest(ref)
        if manifest.kind != "table":
            raise InputError(f"'{ref}' is not a table (kind {manifest.kind})", field="dataset")
        if META_KEY in (manifest.meta or {}):
            raise InputError(f"'{ref}' is already synthetic", field="dataset")
        table = read_table(ws.vault, ref)
        name = parse_ref(ref).name
        mapping_ref = ws.vault.resolve(MAPPING_OBJECT) if ws.vault.exists(MAPPING_OBJECT) else None
        schema = stored_mapping(ws, mapping_ref) if mapping_ref else None
        tmap = (object_mapping(schema, name, table) if schema is not None
                else mapping_for_table(table))
        columns = list(table.column_names)
        domain = dom.build_domain(columns, {c: tmap.role(c) for c in columns}, domains)
        people = _rows_per_person(table.to_pylist(), tmap.column("employee_id"))
        if len(people) < 10:
            raise InputError(f"'{ref}' holds fewer than 10 people: nothing to synthesise",
                             field="dataset")
        delta = float(delta) if delta is not None else default_delta(len(people))
        if not 0 < delta < 1 / len(people):
            raise ConfigError("delta must be positive and below 1 / people", key="delta")
        rho = zcdp.rho_for(epsilon, delta)
        run_id = f"synth-{uuid.uuid4().hex[:12]}"
        admission = ledger.admit(ws.access.check, ws.store, run_id, ref, float(epsilon), delta,
                                 "employee", "zcdp", default_budget=ws.config.dp_budget_epsilon)
        try:
            rng: DPRandom = SecureRandom() if insecure_seed is None else SeededRandom(insecure_seed)
            seed = int.from_bytes(os_random(32), "big") if insecure_seed is None \
                else int(insecure_seed) + 0x5EED
            gen = np.random.default_rng(seed)
            codes = dom.encode(people, domain)
            order = gen.permutation(len(codes))
            n_hold = round(holdout * len(codes))
            hold, train = codes[order[:n_hold]], codes[order[n_hold:]]
            fit_fn = mechanisms.mst if method == "mst" else mechanisms.aim
            fit = fit_fn(train, domain.shape, rho, rng,
                         **domain.structure())
            # default: the model's noisy count, scaled to the whole table (DP: the count is noisy)
            n_out = rows if rows is not None else \
                min(MAX_ROWS, max(1, round(float(fit.model.total) / (1 - holdout))))
            syn = mechanisms.sample(fit, n_out, gen)
            ids = [f"{dom.ID_PREFIX}{i:06d}" for i in range(1, n_out + 1)]
            out_rows = dom.decode(syn, domain, ids)
            figures = report.build_report(train, hold, syn, domain.shape, domain.names,
                                          [c.role for c in domain.columns])
            privacy = {
                "dp": True, "method": method, "epsilon": float(epsilon), "delta": delta,
                "rho": rho, "rho_spent": fit.accountant.spent, "accountant": "zcdp",
                "unit": "employee", "source": ref, "source_exports": list(admission.sources),
                "schema_mapping": mapping_ref, "private": bool(rng.private),
                "insecure_reproducible": insecure_seed is not None,
                "gaussian_measurements": fit.accountant.gaussian,
                "exponential_selections": fit.accountant.exponential,
                "measured": [[domain.names[j] for j in m] for m in fit.measured],
                "holdout": holdout, "rows": n_out, "domain": domain.describe(),
                "run_id": run_id,
            }
            import pyarrow as pa

            out_table = pa.Table.from_pylist(
                out_rows, schema=pa.schema([("employee_id", pa.string())] +
                                           [(c.out, pa.string()) for c in domain.columns]))
            out_ref = ws.vault.put(f"{name}{SUFFIX}", table_bytes(out_table), kind="table",
                                   schema=SCHEMA,
                                   parents=[ref] + ([mapping_ref] if mapping_ref else []),
                                   meta={"rows": n_out, META_KEY: privacy})
            body = {"privacy": {k: v for k, v in privacy.items() if k != "domain"},
                    "report": figures}
            rep_ref = ws.vault.put(f"{name}{REPORT_SUFFIX}", json.dumps(body, indent=1).encode(),
                                   kind="report", schema=REPORT_SCHEMA, parents=[out_ref],
                                   meta={"method": method, "epsilon": float(epsilon)})
        except BaseException:
            ledger.settle(ws.store, run_id, "failed")  # stays charged: noise may have been drawn
            raise
        ledger.settle(ws.store, run_id, "done")
    res: StageResult[dict[str, Any]] = StageResult("synthesize", privacy,
                                                   {"synthetic": out_ref, "report": rep_ref})
    res.figures = {"method": method, "epsilon": float(epsilon), "delta": delta,
                   "private": privacy["private"], "rows": n_out,
                   "columns": len(domain.columns), "left_out": len(domain.left_out),
                   "tvd": figures["tvd"], "correlation_gap":
                       figures["correlations"]["mean_abs_difference"]}
    if "downstream" in figures:
        res.figures["downstream"] = figures["downstream"]
        res.figures["privacy"] = figures["privacy"]
    res.seconds = time.perf_counter() - t0
    return res
