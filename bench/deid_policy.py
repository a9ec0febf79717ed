"""De-identification and k-anonymity, side by side with peers, in one run.

A. Text operators on the same spans (found once by ``privtune.pii.detect`` on the synthetic
   company's reviews and tickets, so detection is out of the comparison): privtune's
   :class:`~privtune.deid.Deidentifier` vs presidio-anonymizer's ``AnonymizerEngine``, with
   equivalent operators (``redact`` vs ``replace``; keyed ``pseudonymize`` (HMAC) vs ``hash``
   with a fixed salt) and privtune's default policy (surrogates, date shifts). Texts/s on one
   core, and *consistency*: the mean number of distinct outputs (compared case-insensitively)
   per roster employee over all full-name mentions ("Maria Garcia", "MARIA GARCIA", ...;
   1.0 = the same token or surrogate in every mention).
B. k-anonymity on the employees table (QIs: age, ZIP, gender, hire year): privtune's
   full-domain minimal-loss lattice search vs anonypy's Mondrian (multidimensional local
   recoding), k in {5, 10}: seconds, equivalence classes, achieved k, discernibility metric
   (sum of class sizes squared; a suppressed row costs n) and C_avg = n / (classes * k).

Needs the bench extra: ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write
from privtune.anonymity import anonymize, assess_table
from privtune.deid import Deidentifier, PersonIndex, load_policy, parse_policy, person_key
from privtune.ingest import read_table, read_texts
from privtune.pii import Roster, detect
from privtune.synth import generate_company
from privtune.synth.vocab import TODAY

KEY = b"bench-key-0123456789abcdef"


def _consistency(outputs: dict[str, set[str]]) -> float:
    return sum(len(v) for v in outputs.values()) / max(1, len(outputs))


def bench_texts(texts, spans, people: PersonIndex, roster: Roster) -> list[dict]:
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

    rows = []
    ours = {
        "redact": parse_policy({"entities": {"default": {"operator": "redact"}}}),
        "keyed hash": parse_policy({"entities": {"default": {"operator": "pseudonymize", "kind": "ID"}}}),
        "default policy (surrogates)": load_policy(),
    }
    peer_ops = {
        "redact": {"DEFAULT": OperatorConfig("replace")},
        "keyed hash": {"DEFAULT": OperatorConfig("hash", {"hash_type": "sha256", "salt": "bench-salt-0123456789"})},
    }
    engine = AnonymizerEngine()
    for label, pol in ours.items():
        d = Deidentifier(pol, KEY, people=people, roster=roster)
        t0 = time.perf_counter()
        outs = [d.replace(r["text"], sp, r.get("employee_id")) for r, sp in zip(texts, spans)]
        sec = time.perf_counter() - t0
        rows.append(_text_row("privtune", label, texts, spans, outs, sec, people))
        if label in peer_ops:
            t0 = time.perf_counter()
            pouts = [engine.anonymize(r["text"], [RecognizerResult(s.type, s.start, s.end, 1.0) for s in sp],
                                      peer_ops[label]).text for r, sp in zip(texts, spans)]
            sec = time.perf_counter() - t0
            rows.append(_text_row("presidio-anonymizer", label, texts, spans, pouts, sec, people))
    return rows


def _text_row(tool, label, texts, spans, outs, sec, people) -> dict:
    # Consistency: re-find each original PERSON span's replacement in the output by position.
    per_person: dict[str, set[str]] = defaultdict(set)
    for r, sp, out in zip(texts, spans, outs):
        shift = 0
        text = r["text"]
        for s in sp:
            # the replacement ends where the text after the span starts again
            start = s.start + shift
            tail = text[s.end :]
            end = len(out) - len(tail) if not tail else out.find(tail[: min(20, len(tail))], start)
            if end < start:
                break
            surface = text[s.start : s.end]
            if s.type == "PERSON" and len(surface.split()) >= 2 and "," not in surface:
                pid = people.lookup(surface)
                if pid is not None:  # full-name mentions of a known employee, in any case
                    per_person[pid].add(person_key(out[start:end]))
            shift = end - s.end
    return {"part": "A text operators", "tool": tool, "setting": label, "texts": len(texts),
            "texts_per_s": len(texts) / sec, "outputs_per_person": round(_consistency(per_person), 3)}


def _age(dob: str) -> int:
    b = dt.date.fromisoformat(dob)
    return TODAY.year - b.year - ((TODAY.month, TODAY.day) < (b.month, b.day))


def bench_kanon(employees: list[dict], ks=(5, 10)) -> list[dict]:
    import pandas as pd
    from anonypy import mondrian

    qis = ["age", "zip", "gender", "hire_year"]
    rows = [{"age": _age(e["date_of_birth"]), "zip": int(e["zip"]), "gender": e["gender"],
             "hire_year": int(e["hire_date"][:4]), "rating": e["performance_rating"]} for e in employees]
    n = len(rows)
    out = []
    for k in ks:
        t0 = time.perf_counter()
        res = anonymize([{**r, "zip": f"{r['zip']:05d}"} for r in rows], qis, k=k, max_suppression=0.05)
        sec = time.perf_counter() - t0
        a = assess_table(res.rows, qis)
        sizes = [s for s, c in a.class_sizes.items() for _ in range(c)]
        dm = sum(s * s for s in sizes) - (a.suppressed ** 2 if a.suppressed else 0) + a.suppressed * n
        out.append({"part": "B k-anonymity", "tool": "privtune (lattice search)", "setting": f"k={k}",
                    "rows": n, "seconds": sec, "classes": a.classes, "k_achieved": a.k,
                    "suppressed": a.suppressed, "discernibility": dm, "c_avg": n / (a.classes * k),
                    "levels": " ".join(f"{q}:{lv}" for q, lv in res.levels.items())})
        df = pd.DataFrame(rows)
        df["gender"] = df["gender"].astype("category")
        t0 = time.perf_counter()
        parts = mondrian.Mondrian(df, qis, "rating").partition(k)
        sec = time.perf_counter() - t0
        sizes = [len(p) for p in parts]
        out.append({"part": "B k-anonymity", "tool": "anonypy (Mondrian)", "setting": f"k={k}", "rows": n,
                    "seconds": sec, "classes": len(sizes), "k_achieved": min(sizes), "suppressed": 0,
                    "discernibility": sum(s * s for s in sizes), "c_avg": n / (len(sizes) * k),
                    "levels": "local ranges"})
    return out


def main(employees: int = 1500, seed: int = 7) -> None:
    with tempfile.TemporaryDirectory(prefix="privtune-bench-") as d:
        files = generate_company(employees, seed, Path(d))
        table = read_table(files.employees)
        texts = read_texts(files.reviews) + read_texts(files.tickets)
    rows_emp = table.to_pylist()
    roster = Roster.from_employees(table)
    people = PersonIndex.from_rows(rows_emp)
    spans = [detect(r["text"], roster) for r in texts]
    rows = bench_texts(texts, spans, people, roster) + bench_kanon(rows_emp)
    write("deid", {"employees": employees, "seed": seed, "texts": len(texts),
                   "spans": sum(len(s) for s in spans)}, rows,
          ["part", "tool", "setting", "texts_per_s", "outputs_per_person", "rows", "seconds", "classes",
           "k_achieved", "suppressed", "discernibility", "c_avg", "levels"])


if __name__ == "__main__":
    main()
