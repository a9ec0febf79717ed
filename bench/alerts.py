"""Access anomaly detection on synthetic access histories with injected misuse.

For each seed: 42 days of office work by 24 API keys (``privtune.ops.simulate``) with six
injected incidents (denial burst, bulk export, new host, unusual hour, a subject sweep, a stolen
key used at night from a new host); the detector (``privtune.ops.detect``) runs over the events
in order. A row per seed: events, incidents caught, false alerts (alerts that overlap no
injected incident) and false alerts per 10,000 normal events, by rule, and the detector's time.

Run: ``python bench/run.py alerts`` (``ALERTS_BENCH_SEEDS``, default 5).
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write


def main(argv: list[str] | None = None) -> None:
    from privtune.ops.detect import detect
    from privtune.ops.simulate import history

    rows = []
    for seed in range(1, int(os.environ.get("ALERTS_BENCH_SEEDS", "5")) + 1):
        h = history(seed=seed)
        t0 = time.perf_counter()
        got = detect(h.events)
        secs = time.perf_counter() - t0

        def hits(a, i) -> bool:
            return a.key == i.key and a.first_seq <= i.last_seq and a.last_seq >= i.first_seq

        caught = sum(any(hits(a, i) for a in got) for i in h.incidents)
        false = [a for a in got if not any(hits(a, i) for i in h.incidents)]
        normal = h.normal_events()
        rows.append({"seed": seed, "events": len(h.events), "incidents": len(h.incidents),
                     "caught": caught, "false alerts": len(false),
                     "false / 10k normal": round(len(false) / normal * 10_000, 2),
                     "false by rule": dict(Counter(a.rule for a in false)),
                     "detector s": round(secs, 2)})
    total_false = sum(r["false alerts"] for r in rows)
    total_normal = sum(r["events"] for r in rows)
    write("alerts", {"false_per_10k_overall": round(total_false / total_normal * 10_000, 2),
                     "all_caught": all(r["caught"] == r["incidents"] for r in rows)},
          rows, ["seed", "events", "incidents", "caught", "false alerts", "false / 10k normal",
                 "false by rule", "detector s"])


if __name__ == "__main__":
    main(sys.argv[1:])
