"""DP synthetic data (``privtune synthesize``): mean 1-, 2- and 3-way marginal TVD of MST and AIM
at epsilon 1, 3 and 8 versus a fresh real sample of the same size, wall time and peak memory.

The companies are the demo's (``privtune synth-company``, seed 7: 300 employees) and one ten
times larger (3,000). The people are split in two halves (a fixed split, so that every run
compares against the same baseline): the synthesiser sees half A; the baseline is how far half
B (real people, same size) is from A. The synthetic table has |A| rows. The noise comes from
the secure generator (as in production), so figures vary from run to run; ``REPEATS`` runs
per cell (``SYNTH_BENCH_REPEATS``; the table gives mean ± sd). Each run is its own process (peak RSS is the process's own); the machine's load is
recorded. Goal (issue 23): on the 3,000-employee company, MST or AIM within 0.01 of the
baseline's mean 2-way TVD at epsilon 3.

Run: ``OMP_NUM_THREADS=1 python bench/synthesize.py [sizes...]`` (JSON lines, one per run, then
the tables); ``python bench/synthesize.py --collect LOG...`` writes the tables from the JSON lines
of runs made apart (side by side, or stopped before the end).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write

SIZES = (300, 3000)
EPSILONS = (1.0, 3.0, 8.0)
METHODS = ("mst", "aim")
REPEATS = int(os.environ.get("SYNTH_BENCH_REPEATS", "1"))
SPLIT_SEED = 23


def halves(size: int, overrides: dict | None = None) -> tuple:
    """The demo company's employees table of ``size`` people, encoded on the demo domains
    (``overrides``: domain-file entries merged into them per column, for experiments), and its
    two halves: A (the synthesiser's input) and B (a fresh real sample of the same size)."""
    import numpy as np

    from privtune.dpsynth import domain as dom
    from privtune.pii.mapping import mapping_for_table
    from privtune.synth import generate_company
    from privtune.synth.tables import read_table

    with tempfile.TemporaryDirectory() as d:
        generate_company(size, 7, Path(d), fmt="csv")
        table = read_table(Path(d) / "employees.csv")
    tmap = mapping_for_table(table)
    config = dom.demo_domains()
    for col, spec in (overrides or {}).items():
        config[col] = {**config.get(col, {}), **spec}
    domain = dom.build_domain(table.column_names, {c: tmap.role(c) for c in table.column_names},
                              config)
    codes = dom.encode(table.to_pylist(), domain)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(codes))
    half = len(codes) // 2
    return domain, codes, codes[order[:half]], codes[order[half:2 * half]]


def one(size: int, method: str, eps: float) -> dict:
    """One fit, in this process: the figures as a dict."""
    import resource

    import numpy as np

    from privtune.dp import zcdp
    from privtune.dp.config import default_delta
    from privtune.dp.csprng import SecureRandom
    from privtune.dpsynth import mechanisms, report

    domain, codes, a, b = halves(size)
    delta = default_delta(len(codes))
    t0 = time.perf_counter()
    fit = (mechanisms.mst if method == "mst" else mechanisms.aim)(
        a, domain.shape, zcdp.rho_for(eps, delta), SecureRandom(),
        **domain.structure())
    fit_s = time.perf_counter() - t0
    syn = mechanisms.sample(fit, len(a), np.random.default_rng())
    wall = time.perf_counter() - t0
    out = {"employees": size, "method": method, "epsilon": eps, "delta": delta,
           "columns": len(domain.columns), "fit_s": round(fit_s, 1), "wall_s": round(wall, 1),
           "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "marginals_measured": len(fit.measured) + (len(domain.columns)
                                                      if method == "mst" else 0)}
    for k in (1, 2, 3):
        out[f"tvd{k}"] = round(report.mean_tvd(syn, a, domain.shape, k), 4)
        out[f"base{k}"] = round(report.mean_tvd(b, a, domain.shape, k), 4)
    out["gap2"] = round(out["tvd2"] - out["base2"], 4)
    out["load_avg_1m"] = round(os.getloadavg()[0], 1)
    return out


COLUMNS = ["employees", "method", "epsilon", "runs", "tvd1", "base1", "tvd2", "base2", "gap2",
           "tvd3", "base3", "wall_s", "peak_mb", "load_avg_1m"]
GOAL = "3,000 employees, epsilon 3: mean 2-way TVD within 0.01 of the fresh real sample's"
FIGURES = ("tvd1", "tvd2", "gap2", "tvd3", "wall_s", "peak_mb", "load_avg_1m")


def summary(runs: list[dict]) -> list[dict]:
    """One row per (employees, method, epsilon): mean +- sample sd over the runs."""
    import statistics

    out = []
    keys = sorted({(r["employees"], r["method"], r["epsilon"]) for r in runs},
                  key=lambda k: (k[0], METHODS.index(k[1]), k[2]))
    for key in keys:
        rs = [r for r in runs if (r["employees"], r["method"], r["epsilon"]) == key]
        row: dict = {"employees": key[0], "method": key[1], "epsilon": key[2], "runs": len(rs)}
        for f in ("base1", "base2", "base3"):
            row[f] = rs[0][f]
        for f in FIGURES:
            xs = [float(r[f]) for r in rs if r.get(f) is not None]
            if not xs:
                continue
            m = statistics.fmean(xs)
            nd = 1 if f in ("wall_s", "peak_mb", "load_avg_1m") else 4
            row[f] = f"{m:.{nd}f}" if len(xs) < 2 else \
                f"{m:.{nd}f} ± {statistics.stdev(xs):.{nd}f}"
        out.append(row)
    return out


#: the hand-kept section of results/synthesize.md below the table (the diagnostic fits of
#: bench/synthesize_diagnose.py): kept when the table is rewritten
DIAGNOSTICS = "## Diagnostic fits"


def _write(runs: list[dict], extra: dict) -> None:
    md = Path(__file__).resolve().parent / "results" / "synthesize.md"
    old = md.read_text() if md.exists() else ""
    kept = old[old.index(DIAGNOSTICS):] if DIAGNOSTICS in old else ""
    write("synthesize", {"sizes": sorted({r["employees"] for r in runs}),
                         "epsilons": list(EPSILONS), "omp_num_threads": 1, "goal": GOAL,
                         "sampler": "systematic within parent groups", **extra, "runs": runs},
          summary(runs), COLUMNS)
    if kept:
        md.write_text(md.read_text() + "\n" + kept)


def main(sizes: tuple[int, ...] = SIZES) -> None:
    runs = []
    load0 = os.getloadavg()
    for size in sizes:
        for method in METHODS:
            for eps in EPSILONS:
                for rep in range(REPEATS):
                    env = {**os.environ, "OMP_NUM_THREADS": "1",
                           "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false "
                                        "intra_op_parallelism_threads=1"}
                    src = str(Path(__file__).resolve().parents[1] / "src")
                    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
                    proc = subprocess.run(
                        [sys.executable, __file__, "--one", str(size), method, str(eps)],
                        capture_output=True, text=True, env=env, check=False)
                    if proc.returncode != 0:
                        print(proc.stderr[-2000:], file=sys.stderr)
                        raise SystemExit(f"run {size} {method} {eps} failed")
                    r = json.loads(proc.stdout.strip().splitlines()[-1])
                    r["repeat"] = rep
                    runs.append(r)
                    print(json.dumps(r), flush=True)
    _write(runs, {"load_avg_at_start": [round(x, 1) for x in load0]})


def collect(logs: list[Path]) -> None:
    """Write the results from the JSON lines of runs (several logs: runs done side by side,
    or a run stopped before its end: the runs it finished)."""
    runs = [json.loads(line) for log in logs for line in log.read_text().splitlines()
            if line.startswith("{")]
    _write(runs, {"collected_from": [p.name for p in logs]})


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--collect":
        collect([Path(x) for x in sys.argv[2:]])
    elif len(sys.argv) == 5 and sys.argv[1] == "--one":
        print(json.dumps(one(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))))
    else:
        main(tuple(int(x) for x in sys.argv[1:]) or SIZES)
