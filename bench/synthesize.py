"""DP synthetic data (``privtune synthesize``): mean 1-, 2- and 3-way marginal TVD of MST and AIM
at epsilon 1, 3 and 8 versus a fresh real sample of the same size, wall time and peak memory.

The companies are the demo's (``privtune synth-company``, seed 7: 300 employees) and one ten
times larger (3,000). The people are split in two halves (a fixed split, so that every run
compares against the same baseline): the synthesiser sees half A; the baseline is how far half
B (real people, same size) is from A. The synthetic table has |A| rows. The noise comes from
the secure generator (as in production), so figures vary from run to run; ``REPEATS`` runs
per cell. Each run is its own process (peak RSS is the process's own); the machine's load is
recorded. Goal (issue 23): on the 3,000-employee company, MST or AIM within 0.01 of the
baseline's mean 2-way TVD at epsilon 3.

Run: ``OMP_NUM_THREADS=1 python bench/synthesize.py [sizes...]``.
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


def one(size: int, method: str, eps: float) -> dict:
    """One fit, in this process: the figures as a dict."""
    import resource

    import numpy as np

    from privtune.dp import zcdp
    from privtune.dp.config import default_delta
    from privtune.dp.csprng import SecureRandom
    from privtune.dpsynth import domain as dom
    from privtune.dpsynth import mechanisms, report
    from privtune.pii.mapping import mapping_for_table
    from privtune.synth import generate_company
    from privtune.synth.tables import read_table

    with tempfile.TemporaryDirectory() as d:
        generate_company(size, 7, Path(d), fmt="csv")
        table = read_table(Path(d) / "employees.csv")
    tmap = mapping_for_table(table)
    domain = dom.build_domain(table.column_names, {c: tmap.role(c) for c in table.column_names},
                              dom.demo_domains())
    codes = dom.encode(table.to_pylist(), domain)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(codes))
    half = len(codes) // 2
    a, b = codes[order[:half]], codes[order[half:2 * half]]
    delta = default_delta(len(codes))
    t0 = time.perf_counter()
    fit = (mechanisms.mst if method == "mst" else mechanisms.aim)(
        a, domain.shape, zcdp.rho_for(eps, delta), SecureRandom(),
        groups=[c.groups for c in domain.columns])
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
    return out


COLUMNS = ["employees", "method", "epsilon", "tvd1", "base1", "tvd2", "base2", "gap2", "tvd3",
           "base3", "wall_s", "peak_mb", "load_avg_1m"]
GOAL = "3,000 employees, epsilon 3: mean 2-way TVD within 0.01 of the fresh real sample's"


def main(sizes: tuple[int, ...] = SIZES) -> None:
    rows = []
    load0 = os.getloadavg()
    for size in sizes:
        for method in METHODS:
            for eps in EPSILONS:
                for rep in range(REPEATS):
                    env = {**os.environ, "OMP_NUM_THREADS": "1"}
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
                    r["load_avg_1m"] = round(os.getloadavg()[0], 1)
                    rows.append(r)
                    print(json.dumps(r), flush=True)
    write("synthesize", {"sizes": list(sizes), "epsilons": list(EPSILONS),
                         "omp_num_threads": 1, "load_avg_at_start": [round(x, 1) for x in load0],
                         "goal": GOAL}, rows, COLUMNS)


def collect(log: Path) -> None:
    """Write the results from the JSON lines a (stopped) run printed: the runs it finished."""
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    write("synthesize", {"sizes": sorted({r["employees"] for r in rows}),
                         "epsilons": list(EPSILONS), "omp_num_threads": 1, "goal": GOAL,
                         "collected_from": "the JSON lines of a run stopped before its end; "
                                           "the runs missing were not finished"}, rows, COLUMNS)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--collect":
        collect(Path(sys.argv[2]))
    elif len(sys.argv) == 5 and sys.argv[1] == "--one":
        print(json.dumps(one(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))))
    else:
        main(tuple(int(x) for x in sys.argv[1:]) or SIZES)
