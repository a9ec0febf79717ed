"""bench/pii_external: privtune and Presidio on text we did not write.

Two corpora, no roster (their people are in no HRIS), NER off on both sides:

* ``presidio``: :data:`SENTENCES` sentences of ``presidio-evaluator``'s
  ``PresidioSentenceFaker`` (its templates, its fakers and its FakeNameGenerator records;
  ``en_US`` locale, 5% lower-cased names, seed :data:`SEED`), generated at run time by the
  installed package (``pip install presidio-evaluator``; it is not a privtune dependency). Its
  entity types are mapped onto ours (:data:`TYPE_MAP`); the ones we do not detect (``GPE``,
  ``ORGANIZATION``, ``TITLE``, ``NRP``, ``AGE``, ``ZIP_CODE``, ``US_DRIVER_LICENSE``) are
  *ignored*: a prediction on their tokens counts neither for nor against either detector.
* ``hr``: the hand-written HR snippets of ``tests/data/pii_hr_snippets.txt`` (see
  ``tests/pii/hr_snippets.py``).

Scoring is per token, as presidio-evaluator scores (whitespace tokens with punctuation
stripped; a token's gold type is that of the gold span covering it, its predicted type that of
the predicted span covering it): per entity precision, recall and F2 (recall weighted twice,
as a leak costs more than a masked word). Exact-span recall is reported next to it.
Throughput: texts/s on one pinned core, best of two runs, detector build not timed; wall clock
and CPU time of the pinned process (on a shared machine the CPU time is the steadier figure).

Run: ``python bench/pii_external.py`` in a venv with the ``bench`` extra (presidio-analyzer,
presidio-evaluator) and privtune's runtime dependencies; writes results/pii_external.{json,md}.
``python bench/pii_external.py misses [N]`` prints privtune's misses on the corpus to the
terminal (a development aid; nothing is written).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write  # noqa: E402 (after the sys.path set-up)

SENTENCES = 2000
SEED = 3
#: presidio-evaluator entity -> privtune type (None: not a privtune type, ignored in scoring).
TYPE_MAP: dict[str, str | None] = {
    "PERSON": "PERSON", "STREET_ADDRESS": "ADDRESS", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CREDIT_CARD",
    "DATE_TIME": "DATE", "EMAIL_ADDRESS": "EMAIL", "IBAN_CODE": "IBAN", "US_SSN": "SSN", "IP_ADDRESS": "IP_ADDRESS",
    "DOMAIN_NAME": "URL", "GPE": None, "ORGANIZATION": None, "TITLE": None, "NRP": None, "AGE": None,
    "ZIP_CODE": None, "US_DRIVER_LICENSE": None,
}  # fmt: skip
IGNORED = "_ignored"
#: presidio-evaluator's DATE_TIME includes bare years ("in 2008") and weekdays ("on Monday").
#: privtune does not mask those by design (HIPAA Safe Harbor keeps the year; a weekday names no
#: date), so they are scored on a separate row, DATE (year/weekday), where any DATE prediction
#: counts, and left out of DATE and of the micro average.
DATE_PART = "DATE (year/weekday)"
_YEAR_OR_WEEKDAY = re.compile(r"(?:1[89]|20)\d{2}|(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day", re.I)
Doc = tuple[str, list[tuple[int, int, str]]]


def presidio_corpus(n: int = SENTENCES, seed: int = SEED) -> list[Doc]:
    import contextlib
    import io
    import warnings

    warnings.filterwarnings("ignore")
    from presidio_evaluator.data_generator import PresidioSentenceFaker

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        faker = PresidioSentenceFaker("en_US", lower_case_ratio=0.05, random_seed=seed)
        samples = faker.generate_new_fake_sentences(n)
    docs: list[Doc] = []
    for s in samples:
        spans = []
        for sp in s.spans:
            ours = TYPE_MAP.get(sp.entity_type)
            if ours == "DATE" and _YEAR_OR_WEEKDAY.fullmatch(sp.entity_value.strip()):
                ours = DATE_PART  # a bare year or weekday: scored on its own row
            spans.append((sp.start_position, sp.end_position, ours if ours else IGNORED))
        docs.append((s.full_text, spans))
    return docs


def hr_corpus() -> list[Doc]:
    import importlib.util

    spec = importlib.util.spec_from_file_location("hr_snippets", ROOT / "tests" / "pii" / "hr_snippets.py")
    assert spec is not None and spec.loader is not None
    mod = sys.modules.setdefault("hr_snippets", importlib.util.module_from_spec(spec))
    spec.loader.exec_module(mod)
    return [(s.text, [(a, b, t) for a, b, t in s.spans]) for s in mod.load_snippets()]


# ------------------------------------------------------------------ detectors


def build_privtune():  # type: ignore[no-untyped-def]
    from privtune.pii import Detector

    det = Detector(None)
    return lambda text: [(s.start, s.end, s.type) for s in det.detect(text)]


def build_presidio():  # type: ignore[no-untyped-def]
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from privtune.pii.spans import PRESIDIO_ENTITIES

    nlp = NlpEngineProvider(
        nlp_configuration={"nlp_engine_name": "no_op", "models": [{"lang_code": "en", "model_name": "no_op"}]}
    ).create_engine()
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(nlp_engine=nlp, languages=["en"])
    engine = AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])
    to_ours = {p: ours for ours, names in PRESIDIO_ENTITIES.items() for p in names}
    entities = sorted(to_ours)

    def run(text: str) -> list[tuple[int, int, str]]:
        found = engine.analyze(text=text, language="en", entities=entities, score_threshold=0.0)
        best: list[tuple[int, int, str, float]] = []
        for r in sorted(found, key=lambda r: (-r.score, r.start - r.end)):
            t = to_ours[r.entity_type]
            if not any(t == t2 and r.start < e2 and s2 < r.end for s2, e2, t2, _ in best):
                best.append((r.start, r.end, t, r.score))
        return sorted((s, e, t) for s, e, t, _ in best)

    return run


BUILDERS = {"privtune": build_privtune, "presidio": build_presidio}


def _child(name: str, texts: list[str], cpu: int, conn: Any) -> None:
    try:
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        pass
    run = BUILDERS[name]()
    run(texts[0])
    best, best_cpu, preds = float("inf"), float("inf"), []
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        preds = [run(t) for t in texts]
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
    conn.send({"preds": preds, "seconds": best, "cpu_seconds": best_cpu})
    conn.close()


def run_pinned(name: str, texts: list[str]) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    cpu = sorted(os.sched_getaffinity(0))[-1] if hasattr(os, "sched_getaffinity") else 0
    proc = ctx.Process(target=_child, args=(name, texts, cpu, child))
    proc.start()
    child.close()
    result = parent.recv()
    proc.join()
    return result


# ------------------------------------------------------------------ scoring

_TOKEN = re.compile(r"\S+")
_PUNCT = ".,;:!?()[]{}\"'<>"


def _tokens(text: str) -> list[tuple[int, int]]:
    out = []
    # the corpus writes some line breaks as a literal backslash-n: split there too (same length)
    for m in _TOKEN.finditer(text.replace("\\n", "  ")):
        s, e = m.start(), m.end()
        while s < e and text[s] in _PUNCT:
            s += 1
        while e > s and text[e - 1] in _PUNCT:
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def _label(spans: list[tuple[int, int, str]], s: int, e: int) -> str | None:
    for a, b, t in spans:
        if a < e and s < b:
            return t
    return None


def score(docs: list[Doc], preds: list[list[tuple[int, int, str]]]) -> dict[str, dict[str, float]]:
    c: dict[str, Counter[str]] = {}
    for (text, gold), pred in zip(docs, preds):
        for s, e in _tokens(text):
            g, p = _label(gold, s, e), _label(pred, s, e)
            if g == IGNORED:
                continue
            if g == DATE_PART:
                c.setdefault(g, Counter())["gold"] += 1
                c[g]["tp"] += p == "DATE"
                continue  # not counted against a DATE prediction either way
            if g:
                c.setdefault(g, Counter())["gold"] += 1
                c[g]["tp"] += p == g
            if p:
                c.setdefault(p, Counter())["pred"] += 1
                c[p]["right"] += p == g
        for s, e, t in gold:
            if t not in (IGNORED, DATE_PART):
                c.setdefault(t, Counter())["spans"] += 1
                c[t]["exact"] += (s, e, t) in pred
                c[t]["missed"] += not any(pt == t and ps < e and s < pe for ps, pe, pt in pred)
    out: dict[str, dict[str, float]] = {}
    for t, k in c.items():
        p, r = _div(k["right"], k["pred"]), _div(k["tp"], k["gold"])
        out[t] = {"tokens": k["gold"], "spans": k["spans"], "p": p, "r": r, "f2": _fb(p, r, 2.0),
                  "r_exact_span": _div(k["exact"], k["spans"]), "missed_spans": k["missed"]}  # fmt: skip
    tot = Counter[str]()
    for t, k in c.items():
        if t in out and t != DATE_PART:
            tot.update({x: k[x] for x in ("gold", "tp", "pred", "right")})
    p, r = _div(tot["right"], tot["pred"]), _div(tot["tp"], tot["gold"])
    out["all (micro)"] = {"tokens": tot["gold"], "p": p, "r": r, "f2": _fb(p, r, 2.0)}
    return out


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def _fb(p: float, r: float, beta: float) -> float:
    b2 = beta * beta
    return (1 + b2) * p * r / (b2 * p + r) if p + r else 0.0


ORDER = ("PERSON", "EMAIL", "PHONE", "SSN", "IBAN", "CREDIT_CARD", "IP_ADDRESS", "URL", "DATE", "MONEY",
         "EMPLOYEE_ID", "ADDRESS", "ORG_ID", DATE_PART, "all (micro)")  # fmt: skip


def main(n: int = SENTENCES, seed: int = SEED) -> dict[str, Any]:
    corpora = {"presidio-evaluator": presidio_corpus(n, seed), "hr-snippets": hr_corpus()}
    data: dict[str, Any] = {"sentences": n, "seed": seed, "corpora": {}, "load_avg_at_start": os.getloadavg()}
    rows_out = []
    for cname, docs in corpora.items():
        texts = [t for t, _ in docs]
        res = {name: run_pinned(name, texts) for name in BUILDERS}
        scores = {name: score(docs, r["preds"]) for name, r in res.items()}
        speed = {name: len(texts) / r["seconds"] for name, r in res.items()}
        cpu_speed = {name: len(texts) / r["cpu_seconds"] for name, r in res.items()}
        data["corpora"][cname] = {"texts": len(texts), "scores": scores, "texts_per_s": speed, "texts_per_cpu_s": cpu_speed}
        for t in ORDER:
            ours, theirs = scores["privtune"].get(t), scores["presidio"].get(t, {})
            if not ours or not ours.get("tokens"):
                continue
            rows_out.append({
                "corpus": cname, "entity": t, "tokens": ours["tokens"], "P": ours["p"], "R": ours["r"], "F2": ours["f2"],
                "R exact span": ours.get("r_exact_span", ""), "missed spans": ours.get("missed_spans", ""),
                "Presidio P": theirs.get("p", 0.0), "Presidio R": theirs.get("r", 0.0), "Presidio F2": theirs.get("f2", 0.0),
            })  # fmt: skip
        rows_out.append({"corpus": cname, "entity": "texts/s (1 core, wall)", "P": speed["privtune"], "Presidio P": speed["presidio"]})
        rows_out.append({"corpus": cname, "entity": "texts/s (1 core, CPU time)", "P": cpu_speed["privtune"], "Presidio P": cpu_speed["presidio"]})
        print(f"{cname}: {len(texts)} texts; privtune {speed['privtune']:,.0f} texts/s, presidio {speed['presidio']:,.0f}")
    data["load_avg_at_end"] = os.getloadavg()
    write("pii_external", data, rows_out, ["corpus", "entity", "tokens", "P", "R", "F2", "R exact span", "missed spans",
                                           "Presidio P", "Presidio R", "Presidio F2"])  # fmt: skip
    return data


def misses(n: int = SENTENCES, seed: int = SEED, limit: int = 40) -> None:
    """Print privtune's missed and wrong spans on the presidio corpus (development aid)."""
    run = build_privtune()
    shown = 0
    for text, gold in presidio_corpus(n, seed):
        pred = run(text)
        for s, e, t in gold:
            if t not in (IGNORED, DATE_PART) and not any(pt == t and ps < e and s < pe for ps, pe, pt in pred):
                print("MISS", t, repr(text[s:e]), "|", repr(text[:120]))
                shown += 1
        for s, e, t in pred:
            if not any(gt in (t, IGNORED) and gs < e and s < ge for gs, ge, gt in gold):
                print("FP  ", t, repr(text[s:e]), "|", repr(text[:120]))
                shown += 1
        if shown > limit:
            return


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "misses":
        misses(limit=int(sys.argv[2]) if len(sys.argv) > 2 else 40)
    else:
        main()
