"""bench/pii_speed: the PII detector's throughput against an earlier revision, A/B, on one pinned core.

The machine this project runs on is shared (two cores, four engineers' test suites), so a
single timing says little: this bench runs the detector of this checkout (``new``) and of an
earlier git revision (``base``, its ``src`` extracted with ``git archive``) alternately, in
fresh child processes pinned to one CPU, several rounds, and records every run's CPU time of
the pinned process and the load average at its start. It also checks that both give exactly
the same spans on every text (a speed change must not move a single span), and profiles the
new detector per recognizer (microseconds per text).

Corpora: bench/pii's (``generate_company(1500, 4242)`` + 2,600 notes, with the roster) and the
110 hand-written HR snippets of ``tests/data`` (no roster; the list read 10 times, so a run is
long enough to time). presidio-evaluator's sentences are added when ``presidio-evaluator`` is
installed (the ``bench`` extra).

Run: ``python bench/pii_speed.py [BASE_REF] [ROUNDS]`` (default ``main``, 4 rounds); writes
``results/pii_speed.json`` and ``.md``.
"""

from __future__ import annotations

import json
import os
import pickle
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write

ROOT = Path(__file__).resolve().parents[1]


def _corpora() -> dict[str, dict[str, Any]]:
    import pii
    import pii_external

    texts, _gold, rows = pii.corpus()
    out = {"ours (seed 4242, roster)": {"texts": [t["text"] for t in texts], "rows": rows}}
    out["hr-snippets x10"] = {"texts": [t for t, _ in pii_external.hr_corpus()] * 10, "rows": None}
    try:
        out["presidio-evaluator (seed 3)"] = {
            "texts": [t for t, _ in pii_external.presidio_corpus()],
            "rows": None,
        }
    except ImportError:
        pass  # not installed here: reported as missing
    return out


def _extract(ref: str, into: Path) -> Path:
    blob = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "src"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def child(corpus_path: str, out_path: str) -> None:
    """One timed run (in a fresh process whose PYTHONPATH names the src under test)."""
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    except (AttributeError, OSError):
        pass
    from privtune.pii import Detector, Roster

    with open(corpus_path, "rb") as f:
        corpus = pickle.load(f)
    det = Detector(Roster.from_employees(corpus["rows"])) if corpus["rows"] else Detector()
    texts = corpus["texts"]
    det.detect(texts[0])
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    spans = [[(s.start, s.end, s.type, s.subject) for s in det.detect(t)] for t in texts]
    cpu, wall = time.process_time() - c0, time.perf_counter() - t0
    with open(out_path, "wb") as f:
        pickle.dump({"cpu_s": cpu, "wall_s": wall, "load": load, "spans": spans}, f)


def profile(texts: list[str], rows: list[dict[str, Any]] | None) -> dict[str, float]:
    """Microseconds per text of each recognizer of this checkout's detector (CPU time, one pass)."""
    from privtune.pii import Detector, Roster, scan
    from privtune.pii.recognizers.person_cues import coordinated, repeated
    from privtune.pii.spans import PERSON

    det = Detector(Roster.from_employees(rows)) if rows else Detector()
    det.detect(texts[0])
    clock = time.process_time
    cost: dict[str, float] = {}

    def timed(name: str, f: Any, *args: Any) -> Any:
        t0 = clock()
        r = f(*args)
        cost[name] = cost.get(name, 0.0) + clock() - t0
        return r

    for text in texts:
        timed("tokenise (shared)", scan.words, text)
        spans: list[Any] = []
        for rec in det.patterns.recognizers:
            spans += timed(rec.name, rec.find, text)
        if det.roster is not None:
            spans += timed("roster names", det.roster.find, text)
            spans += timed("roster known ids", det.roster.find_known, text)
        if det.id_shapes is not None:
            spans += timed("id shapes", det.id_shapes.find, text)
        for rec in det.extra:
            spans += timed(rec.name, rec.find, text)
        people = [s for s in spans if s.type == PERSON]
        timed("coordinated + repeated", lambda t, p: coordinated(t, p) + repeated(t, p), text, people)
    return {k: v / len(texts) * 1e6 for k, v in sorted(cost.items(), key=lambda kv: -kv[1])}


def main(base_ref: str = "main", rounds: int = 4) -> dict[str, Any]:
    corpora = _corpora()
    runs: dict[str, dict[str, list[dict[str, float]]]] = {}
    same: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="privtune-pii-speed-") as d:
        tmp = Path(d)
        srcs = {"base": _extract(base_ref, tmp / "base"), "new": ROOT / "src"}
        for name, corpus in corpora.items():
            cpath = tmp / "corpus.pkl"
            cpath.write_bytes(pickle.dumps(corpus))
            runs[name] = {"base": [], "new": []}
            last: dict[str, Any] = {}
            for _ in range(rounds):
                for side in ("base", "new"):  # alternating: both sides see the same drift in load
                    out = tmp / f"{side}.pkl"
                    env = {**os.environ, "PYTHONPATH": str(srcs[side]), "OMP_NUM_THREADS": "1"}
                    subprocess.run(
                        [sys.executable, __file__, "--child", str(cpath), str(out)], check=True, env=env
                    )
                    r = pickle.loads(out.read_bytes())
                    last[side] = r.pop("spans")
                    runs[name][side].append({**r, "texts_per_cpu_s": len(corpus["texts"]) / r["cpu_s"]})
            same[name] = last["base"] == last["new"]
    ours = corpora["ours (seed 4242, roster)"]
    prof = profile(ours["texts"], ours["rows"])
    rows_out = []
    for name, sides in runs.items():
        for side in ("base", "new"):
            speeds = [r["texts_per_cpu_s"] for r in sides[side]]
            rows_out.append({
                "corpus": name, "detector": f"{side} ({base_ref if side == 'base' else 'this branch'})",
                "texts/s CPU, median": statistics.median(speeds), "min": min(speeds), "max": max(speeds),
                "runs": ", ".join(f"{s:,.0f}" for s in speeds),
                "load avg at runs": ", ".join(f"{r['load']:.1f}" for r in sides[side]),
                "same spans as base": same[name],
            })  # fmt: skip
    data = {
        "base_ref": base_ref, "rounds": rounds, "runs": runs, "same_spans": same,
        "profile_us_per_text": prof, "missing_corpora": [] if len(corpora) == 3 else ["presidio-evaluator (not installed)"],
    }  # fmt: skip
    cols = [
        "corpus",
        "detector",
        "texts/s CPU, median",
        "min",
        "max",
        "runs",
        "load avg at runs",
        "same spans as base",
    ]
    write_path = write("pii_speed", data, rows_out, cols)
    with open(Path(write_path).with_suffix(".md"), "a") as f:
        f.write("\nPer recognizer, this branch, our corpus (us per text, CPU time, one pass):\n\n")
        f.write("| recognizer | us/text |\n|---|---|\n")
        f.writelines(f"| {k} | {v:.1f} |\n" for k, v in prof.items())
        if data["missing_corpora"]:
            f.write(f"\nNot run: {', '.join(data['missing_corpora'])}.\n")
    print(json.dumps({"same_spans": same, "profile_us_per_text": prof}, indent=1))
    return data


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
    else:
        main(*(sys.argv[1:2] or ["main"]), *([int(sys.argv[2])] if len(sys.argv) > 2 else []))
