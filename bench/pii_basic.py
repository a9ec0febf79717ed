"""Basic PII detector quality and speed on the synthetic company's labelled corpus.

Per entity type: precision, recall and F1 of exact-or-covering matches against the ground truth
the generator planted, plus texts/s on one core. (The Presidio side-by-side comparison arrives
with the full detector.)
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write
from privtune.ingest import read_table, read_texts
from privtune.pii import Roster, detect
from privtune.synth import generate_company


def main(employees: int = 2500, seed: int = 7) -> None:
    with tempfile.TemporaryDirectory(prefix="privtune-bench-") as d:
        files = generate_company(employees, seed, Path(d))
        roster = Roster.from_employees(read_table(files.employees))
        texts = read_texts(files.reviews) + read_texts(files.tickets)
        truth: dict[str, list[tuple[int, int, str]]] = {}
        for line in files.pii_spans.read_text().splitlines():
            s = json.loads(line)
            truth.setdefault(s["text_id"], []).append((s["start"], s["end"], s["type"]))
    t0 = time.perf_counter()
    found = {r["id"]: detect(r["text"], roster) for r in texts}
    seconds = time.perf_counter() - t0
    tp, fn, fp = Counter(), Counter(), Counter()
    for r in texts:
        gold = truth.get(r["id"], [])
        pred = found[r["id"]]
        for s, e, t in gold:
            hit = any(p.start <= s and p.end >= e and p.type == t for p in pred)
            (tp if hit else fn)[t] += 1
        for p in pred:
            if not any(p.start <= s and p.end >= e and p.type == t for s, e, t in gold) and \
               not any(s <= p.start and p.end <= e and p.type == t for s, e, t in gold):
                fp[p.type] += 1
    rows = []
    for t in sorted(set(tp) | set(fn) | set(fp)):
        prec = tp[t] / max(1, tp[t] + fp[t])
        rec = tp[t] / max(1, tp[t] + fn[t])
        f1 = 2 * prec * rec / max(1e-12, prec + rec)
        rows.append({"entity": t, "support": tp[t] + fn[t], "precision": prec, "recall": rec, "f1": f1})
    write("pii_basic", {"texts": len(texts), "texts_per_s": len(texts) / seconds,
                        "seconds": seconds, "employees": employees},
          rows, ["entity", "support", "precision", "recall", "f1"])
    print(f"{len(texts)} texts in {seconds:.2f}s: {len(texts) / seconds:,.0f} texts/s on one core")


if __name__ == "__main__":
    main()
