"""bench/pii_speed: the PII detector's throughput against an earlier revision, A/B, on one pinned core.

The machine this project runs on is shared (two cores, four engineers' test suites), so a
single timing says little: this bench runs the detector of this checkout (``new``) and of an
earlier git revision (``base``, its ``src`` extracted with ``git archive``) in two child
processes pinned to the same CPU, and hands them the corpus in chunks of 250 texts, each chunk
to both back to back (which one first alternates), for several passes. Each chunk's CPU times
of the two form a pair that saw the same load: the median of the per-chunk ratios, with its
10th-90th percentiles, is the speed-up; each side's throughput per pass and the "best of
passes" (each chunk's fastest pass, summed: the least-loaded estimate) are reported with the
load average. Both must give exactly the same spans on every text (a speed change must not move
a single span), and the new detector is profiled per recognizer (microseconds per text).

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
    """A detector under test, in a process whose PYTHONPATH names its src: reads ``lo hi``
    lines on stdin, detects ``texts[lo:hi]`` and answers the CPU seconds it took; on ``end``
    it writes every text's spans to ``out_path``."""
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
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "end":
            break
        lo, hi = map(int, line.split())
        c0 = time.process_time()
        for t in texts[lo:hi]:
            det.detect(t)
        print(time.process_time() - c0, flush=True)
    spans = [[(s.start, s.end, s.type, s.subject) for s in det.detect(t)] for t in texts]
    with open(out_path, "wb") as f:
        pickle.dump(spans, f)


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


def main(base_ref: str = "main", rounds: int = 4, chunk: int = 250) -> dict[str, Any]:
    corpora = _corpora()
    runs: dict[str, dict[str, Any]] = {}
    same: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="privtune-pii-speed-") as d:
        tmp = Path(d)
        srcs = {"base": _extract(base_ref, tmp / "base"), "new": ROOT / "src"}
        for name, corpus in corpora.items():
            cpath = tmp / "corpus.pkl"
            cpath.write_bytes(pickle.dumps(corpus))
            procs = {}
            for side in ("base", "new"):
                env = {**os.environ, "PYTHONPATH": str(srcs[side]), "OMP_NUM_THREADS": "1"}
                procs[side] = subprocess.Popen(
                    [sys.executable, __file__, "--child", str(cpath), str(tmp / f"{side}.pkl")],
                    env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
                assert procs[side].stdout is not None and procs[side].stdout.readline().strip() == "ready"
            n = len(corpus["texts"])
            bounds = [(lo, min(n, lo + chunk)) for lo in range(0, n, chunk)]
            # cpu[side][pass][chunk]; each chunk is run by both sides back to back (which side
            # first alternates), so the pair sees the same load: the per-chunk ratio is paired
            cpu: dict[str, list[list[float]]] = {"base": [], "new": []}
            loads = []
            for r in range(rounds):
                loads.append(os.getloadavg()[0])
                for side in cpu:
                    cpu[side].append([])
                for k, (lo, hi) in enumerate(bounds):
                    order = ("base", "new") if (k + r) % 2 == 0 else ("new", "base")
                    for side in order:
                        proc = procs[side]
                        assert proc.stdin is not None and proc.stdout is not None
                        proc.stdin.write(f"{lo} {hi}\n")
                        proc.stdin.flush()
                        cpu[side][r].append(float(proc.stdout.readline()))
            for proc in procs.values():
                assert proc.stdin is not None
                proc.stdin.write("end\n")
                proc.stdin.close()
                proc.wait()
            same[name] = pickle.loads((tmp / "base.pkl").read_bytes()) == pickle.loads(
                (tmp / "new.pkl").read_bytes()
            )
            ratios = sorted(
                cpu["base"][r][k] / cpu["new"][r][k]
                for r in range(rounds)
                for k in range(len(bounds))
                if cpu["new"][r][k]
            )
            runs[name] = {
                "texts": n, "chunks": len(bounds), "load_avg": loads, "cpu_s": cpu,
                "texts_per_cpu_s": {side: [n / sum(p) for p in cpu[side]] for side in cpu},
                # the least-loaded estimate: each chunk's fastest pass, summed
                "best_texts_per_cpu_s": {side: n / sum(min(c) for c in zip(*cpu[side])) for side in cpu},
                "speedup_per_chunk": {"median": statistics.median(ratios), "p10": ratios[len(ratios) // 10],
                                      "p90": ratios[(9 * len(ratios)) // 10]},
            }  # fmt: skip
        # per-recognizer profile of both sides, alternating twice; each figure the lower of two
        ours = corpora["ours (seed 4242, roster)"]
        cpath = tmp / "corpus.pkl"
        cpath.write_bytes(pickle.dumps(ours))
        profs: dict[str, list[dict[str, float]]] = {"base": [], "new": []}
        for _ in range(2):
            for side in ("base", "new"):
                env = {**os.environ, "PYTHONPATH": str(srcs[side]), "OMP_NUM_THREADS": "1"}
                out = subprocess.run(
                    [sys.executable, __file__, "--profile", str(cpath)],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                profs[side].append(json.loads(out.strip().splitlines()[-1]))
    prof = {
        side: {k: min(p.get(k, float("inf")) for p in runs_) for k in runs_[-1]} for side, runs_ in profs.items()
    }  # fmt: skip
    rows_out = []
    for name, run in runs.items():
        for side in ("base", "new"):
            speeds = run["texts_per_cpu_s"][side]
            rows_out.append({
                "corpus": name, "detector": f"{side} ({base_ref if side == 'base' else 'this branch'})",
                "texts/s CPU, per pass": ", ".join(f"{v:,.0f}" for v in speeds),
                "best of passes": run["best_texts_per_cpu_s"][side],
                "new/base per chunk, median (p10-p90)": "" if side == "base" else
                    f"{run['speedup_per_chunk']['median']:.2f} ({run['speedup_per_chunk']['p10']:.2f}-{run['speedup_per_chunk']['p90']:.2f})",
                "load avg at passes": ", ".join(f"{v:.1f}" for v in run["load_avg"]),
                "same spans as base": same[name],
            })  # fmt: skip
    data = {
        "base_ref": base_ref, "rounds": rounds, "runs": runs, "same_spans": same,
        "profile_us_per_text": prof, "missing_corpora": [] if len(corpora) == 3 else ["presidio-evaluator (not installed)"],
    }  # fmt: skip
    cols = [
        "corpus",
        "detector",
        "texts/s CPU, per pass",
        "best of passes",
        "new/base per chunk, median (p10-p90)",
        "load avg at passes",
        "same spans as base",
    ]
    write_path = write("pii_speed", data, rows_out, cols)
    with open(Path(write_path).with_suffix(".md"), "a") as f:
        f.write(
            "\nPer recognizer, our corpus (us per text, CPU time, one pass on one pinned core; base and new"
            " profiled alternately twice, the lower figure kept; load average "
            f"{os.getloadavg()[0]:.1f} at the end):\n\n"
        )
        f.write("| recognizer | base | new |\n|---|---|---|\n")
        f.writelines(
            f"| {k} | {prof['base'].get(k, float('nan')):.1f} | {v:.1f} |\n" for k, v in prof["new"].items()
        )
        if data["missing_corpora"]:
            f.write(f"\nNot run: {', '.join(data['missing_corpora'])}.\n")
    print(json.dumps({"same_spans": same, "profile_us_per_text": prof}, indent=1))
    return data


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["--profile"]:
        with open(sys.argv[2], "rb") as fh:
            corpus = pickle.load(fh)
        try:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
        except (AttributeError, OSError):
            pass
        print(json.dumps(profile(corpus["texts"], corpus["rows"])))
    else:
        main(*(sys.argv[1:2] or ["main"]), *([int(sys.argv[2])] if len(sys.argv) > 2 else []))
