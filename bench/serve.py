"""privtune serve under loopback load, on the tiny model (CPU).

Setup (not timed): a synthetic company, a tiny model trained, audited under a permissive gate
policy and released; for the memory row, three more copies of the adapter released as their
own models. Then, each against a live uvicorn server on a free loopback port with the official
``openai`` client, temperature 0, the same prompts everywhere:

* N concurrent streaming clients (N = 1, 8, 32): completion tokens/s over the run, p50/p99 time
  to first token (first content chunk) and latency (request to [DONE]).
* the baseline: the same engine's ``generate`` called in-process by N threads on the same
  prompts: the same continuous-batching scheduler (privtune.serve.batch) fed the same
  concurrency, without HTTP, auth, screening, redaction or audit. overhead = served wall time /
  in-process wall time (goal at most 1.10 at 8 clients): what the gateway adds, nothing else.
* a reference for the scheduler itself: transformers' own ``generate`` on the N prompts as one
  left-padded batch (static batching, every row runs to the longest; tokens counted to each
  row's EOS), the best a caller with all N prompts in hand could do in-process.
* each row records the 1-minute load average when it started (``load_1m``) and, for the
  scheduler rows, the mean number of rows per decode step (``mean_batch``).
* served tokens/s with audit on (every request: a ``model.query`` event before the model runs and
  a ``model.query.result`` event after, durable, group commit) versus audit off (a bench-only
  stand-in that records nothing; the server itself never runs without its audit log).
* redaction throughput: MB/s of answer text through the Redactor (roster + patterns), whole
  and as a stream fed in 4-character pieces.
* memory: RSS of a fresh process after loading 1 adapter versus 4 (one base model shared).

Sizes (env): BENCH_SERVE_TOKENS (max_tokens, 24), BENCH_SERVE_REQS (requests per client at
N=1, 8), BENCH_SERVE_CLIENTS ("1,8,32").
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write

TOKENS = int(os.environ.get("BENCH_SERVE_TOKENS", "24"))
REQS = int(os.environ.get("BENCH_SERVE_REQS", "8"))
CLIENTS = [int(x) for x in os.environ.get("BENCH_SERVE_CLIENTS", "1,8,32").split(",")]
ADMIN_KEY = "ptk_0123456789ab_" + "B" * 43
PROMPTS = [
    "How many days of parental leave do I get?",
    "Who approves my holiday request?",
    "What is the notice period for resigning?",
    "Can I work from home on Fridays?",
    "How do I report a workplace injury?",
    "When is the annual performance review?",
    "What does the dental plan cover?",
    "How do I change my bank details for payroll?",
]
SMALL = [
    "company.employees=30", "company.seed=7",
    "model.tiny.steps=10", "model.tiny.warmup=2", "model.tiny.batch_size=8", "model.tiny.seq_len=64",
    "model.tiny.model.hidden_size=64", "model.tiny.model.intermediate_size=128",
    "model.tiny.model.num_hidden_layers=2", "model.tiny.model.vocab_size=1024",
    "dataset.canaries.repetitions=[1]", "dataset.canaries.candidates=20",
    "dataset.val_fraction=0.5",
    "train.steps=10", "train.batch_size=8", "train.lr=0.01", "train.eval_every=0",
    "train.warmup_steps=2", "train.lora.dropout=0.0", "dp.enabled=false",
]
CHEAP = ["exposure.candidates=20", "mia.reference_models=0", "extraction.employees=0",
         "extraction.samples=0", "prompt_attacks.enabled=false"]


def setup(root: Path, copies: int) -> list[str]:
    """A workspace under ``root`` with a released tiny adapter and ``copies`` more released
    copies of it (other model names); returns the released refs."""
    from privtune.attacks.spec import AuditSpec
    from privtune.config import load_config
    from privtune.gate.adapters import ADAPTER_SCHEMA
    from privtune.gate.audit import run_audit
    from privtune.gate.policy import GatePolicy
    from privtune.gate.release import release
    from privtune.gate.workspace_policy import set_policy
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.run import run_stages
    from privtune.pipeline.site import gate_site
    from privtune.serve.engine import read_adapter
    from privtune.synth import generate_company
    from privtune.workspace import Workspace, init_workspace

    cfg = load_config(PipelineConfig, None, SMALL)
    export = root / "export"
    generate_company(30, 7, export, fmt="csv")
    ws = init_workspace(root / "ws", admin_key=ADMIN_KEY)
    stages = run_stages(ws, cfg, export, stop="train", skip=("scan",))
    ws.close()
    assert stages.train is not None
    refs = [stages.train.record.ref]
    permissive = GatePolicy(canary_exposure_max=None, mia_auc_max=None,
                            mia_tpr_at_1pct_fpr_max=None, extraction_exact=None,
                            extraction_near=None, prompt_attack_leaks=None,
                            attribute_advantage_max=None, epsilon=None, min_reference_models=0,
                            min_candidates=0, min_subjects=0)
    spec = load_config(AuditSpec, None, CHEAP)
    with Workspace.open(root / "ws", api_key=ADMIN_KEY) as ws:
        site = gate_site(ws)
        set_policy(site, permissive)
        files = read_adapter(ws.vault, refs[0])
        meta = ws.vault.manifest(refs[0]).meta
        for i in range(copies):
            d = root / f"copy{i}"
            d.mkdir()
            for name, data in files.items():
                (d / name).write_bytes(data)
            refs.append(ws.vault.put_dir(f"adapter-copy{i}", d, kind="adapter",
                                         schema=ADAPTER_SCHEMA, meta=meta))
        for ref in refs:
            assert run_audit(site, ref, spec).passed
            release(site, ref, root / f"rel-{ref.replace('@', '-')}")
    return refs


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))]


def _clients(n: int, reqs_each: int, fn: Any) -> tuple[float, list[Any]]:
    out: list[Any] = []
    lock = threading.Lock()

    def run(c: int) -> None:
        for r in range(reqs_each):
            res = fn(PROMPTS[(c + r) % len(PROMPTS)])
            with lock:
                out.append(res)

    ts = [threading.Thread(target=run, args=(c,)) for c in range(n)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.perf_counter() - t0, out


def served_load(url: str, key: str, model: str, n: int, reqs_each: int) -> dict[str, Any]:
    import openai

    client = openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=600)

    def one(prompt: str) -> tuple[float, float, int]:
        t0 = time.perf_counter()
        ttft = None
        tokens = 0
        stream = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": prompt}], temperature=0,
            max_tokens=TOKENS, stream=True, stream_options={"include_usage": True})
        for chunk in stream:
            if ttft is None and chunk.choices and chunk.choices[0].delta.content:
                ttft = time.perf_counter() - t0
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
        lat = time.perf_counter() - t0
        return (ttft if ttft is not None else lat), lat, tokens

    wall, res = _clients(n, reqs_each, one)
    tokens = sum(r[2] for r in res)
    return {"wall_s": wall, "requests": len(res), "tokens": tokens, "tokens_per_s": tokens / wall,
            "ttft_p50_ms": _pct([r[0] for r in res], 0.5) * 1000,
            "ttft_p99_ms": _pct([r[0] for r in res], 0.99) * 1000,
            "latency_p50_ms": _pct([r[1] for r in res], 0.5) * 1000,
            "latency_p99_ms": _pct([r[1] for r in res], 0.99) * 1000}


def hf_batch(engine: Any, model_id: str, n: int) -> dict[str, Any]:
    """transformers ``generate`` on ``n`` prompts as one left-padded batch (greedy)."""
    import torch

    _, base, name = engine._served[model_id]
    tok, peft_model = base.tokenizer, base.model
    texts = [tok.apply_chat_template([{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                                     tokenize=False, add_generation_prompt=True)
             for i in range(n)]
    side = tok.padding_side
    tok.padding_side = "left"
    try:
        enc = tok(texts, add_special_tokens=False, return_tensors="pt", padding=True)
    finally:
        tok.padding_side = side
    peft_model.set_adapter(name)
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = peft_model.generate(**enc, max_new_tokens=TOKENS, do_sample=False,
                                  pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    wall = time.perf_counter() - t0
    tokens = 0
    for row in out[:, enc["input_ids"].shape[1]:].tolist():
        tokens += row.index(tok.eos_token_id) + 1 if tok.eos_token_id in row else len(row)
    return {"wall_s": wall, "requests": n, "tokens": tokens, "tokens_per_s": tokens / wall,
            "latency_p50_ms": wall * 1000, "latency_p99_ms": wall * 1000}


def _batched(batcher: Any, fn: Any, *args: Any) -> dict[str, Any]:
    """``fn(*args)`` with the load average before it and the scheduler's mean batch."""
    load = os.getloadavg()[0]
    steps, rows = batcher.steps_total, batcher.rows_total
    got = fn(*args)
    steps, rows = batcher.steps_total - steps, batcher.rows_total - rows
    return {**got, "load_1m": load, "mean_batch": rows / steps if steps else ""}


def inprocess_load(engine: Any, model: Any, n: int, reqs_each: int) -> dict[str, Any]:
    def one(prompt: str) -> tuple[float, float, int]:
        t0 = time.perf_counter()
        ttft = None
        gen = engine.generate(model, [{"role": "user", "content": prompt}], max_tokens=TOKENS,
                              temperature=0, timeout_s=600)
        for piece in gen:
            if ttft is None and piece:
                ttft = time.perf_counter() - t0
        lat = time.perf_counter() - t0
        return (ttft if ttft is not None else lat), lat, gen.completion_tokens

    wall, res = _clients(n, reqs_each, one)
    tokens = sum(r[2] for r in res)
    return {"wall_s": wall, "requests": len(res), "tokens": tokens, "tokens_per_s": tokens / wall,
            "ttft_p50_ms": _pct([r[0] for r in res], 0.5) * 1000,
            "ttft_p99_ms": _pct([r[0] for r in res], 0.99) * 1000,
            "latency_p50_ms": _pct([r[1] for r in res], 0.5) * 1000,
            "latency_p99_ms": _pct([r[1] for r in res], 0.99) * 1000}


class _NoAudit:
    """Bench-only stand-in for 'audit off': appends nothing (the real server never does this)."""

    def append(self, **kw: Any) -> None:
        return None

    def __getattr__(self, name: str) -> Any:  # the rest of the AuditLog interface
        raise AttributeError(name)


def redaction_rate(redactor: Any, text: str) -> list[dict[str, Any]]:
    rows = []
    t0 = time.perf_counter()
    reps = 0
    while time.perf_counter() - t0 < 2.0:
        redactor.redact(text)
        reps += 1
    dt = time.perf_counter() - t0
    mb = len(text.encode()) * reps / 1e6
    rows.append({"what": "redaction, whole answer", "mb": mb, "seconds": dt, "mb_per_s": mb / dt})
    t0 = time.perf_counter()
    reps = 0
    while time.perf_counter() - t0 < 2.0:
        s = redactor.stream()
        for i in range(0, len(text), 4):
            s.feed(text[i:i + 4])
        s.finish()
        reps += 1
    dt = time.perf_counter() - t0
    mb = len(text.encode()) * reps / 1e6
    rows.append({"what": "redaction, stream in 4-char pieces", "mb": mb, "seconds": dt,
                 "mb_per_s": mb / dt})
    return rows


def memory_child(ws_dir: str, refs: list[str]) -> None:
    """Run in a fresh process: load ``refs`` into one engine, print the RSS (MiB)."""
    import psutil

    from privtune.serve.service import build
    from privtune.workspace import Workspace

    with Workspace.open(Path(ws_dir), api_key=ADMIN_KEY) as ws:
        server = build(ws, models=refs)
        before = psutil.Process().memory_info().rss
        server.engine.load()
        after = psutil.Process().memory_info().rss
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rss_mib": after / 2**20, "loaded_mib": (after - before) / 2**20,
                      "peak_mib": peak, "models": len(refs)}))


def main() -> None:
    import openai  # noqa: F401  (fail early without the client)

    from privtune.access import admin
    from privtune.netguard import enable_offline_mode
    from privtune.serve.app import ServeSettings
    from privtune.serve.service import build, serving
    from privtune.workspace import Workspace

    enable_offline_mode()
    os.environ.setdefault("PRIVTUNE_PASSPHRASE", "bench-serve-passphrase")
    load = os.getloadavg()
    rows: list[dict[str, Any]] = []
    meta: dict[str, Any] = {"max_tokens": TOKENS, "requests_per_client_small_n": REQS}
    with tempfile.TemporaryDirectory(prefix="privtune-bench-serve-") as d:
        root = Path(d)
        t0 = time.perf_counter()
        refs = setup(root, copies=3)
        meta["setup_s"] = round(time.perf_counter() - t0, 1)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        for models in (refs[:1], refs):
            out = subprocess.run([sys.executable, __file__, "--memory", str(root / "ws"),
                                  *models], capture_output=True, text=True, env=env, check=True)
            m = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append({"what": f"memory, {len(models)} adapter(s) loaded", "clients": "",
                         "rss_mib": m["rss_mib"], "loaded_mib": m["loaded_mib"]})
        settings = ServeSettings(rate_per_minute=1e6, max_concurrent=max(CLIENTS) * 2,
                                 max_tokens=TOKENS)
        with Workspace.open(root / "ws", api_key=ADMIN_KEY) as ws:
            key = admin.add_user(ws.access, ws.store, "bench-app", "app").secret
            server = build(ws, models=refs[:1], settings=settings)
            server.engine.load()
            model_id = refs[0]
            model = server.engine.resolve(model_id)
            srv = server.app.state.server
            # warm up (first call pays lazy initialisation)
            inprocess_load(server.engine, model, 1, 1)
            with serving(server.app) as url:
                served_load(url, key, model_id, 1, 1)
                batcher = server.engine.batcher(model_id)
                for n in CLIENTS:
                    each = REQS if n < 8 else max(1, REQS // 4) if n == 8 else 1
                    ref = {"load_1m": os.getloadavg()[0], **hf_batch(server.engine, model_id, n)}
                    base = _batched(batcher, inprocess_load, server.engine, model, n, each)
                    got = _batched(batcher, served_load, url, key, model_id, n, each)
                    rows.append({"what": "transformers generate, one padded batch",
                                 "clients": n, **ref})
                    rows.append({"what": "in-process engine.generate", "clients": n, **base})
                    rows.append({"what": "served (stream, openai client)", "clients": n, **got,
                                 "overhead": got["wall_s"] / base["wall_s"]})
                # audit on versus off, 8 clients
                n = 8
                each = max(1, REQS // 4)
                on = _batched(batcher, served_load, url, key, model_id, n, each)
                real = srv.ws.audit
                ws.audit = _NoAudit()  # type: ignore[assignment]
                try:
                    off = _batched(batcher, served_load, url, key, model_id, n, each)
                finally:
                    ws.audit = real
                rows.append({"what": "served, audit on", "clients": n, **on})
                rows.append({"what": "served, audit off (bench only)", "clients": n, **off,
                             "overhead": on["wall_s"] / off["wall_s"]})
            # redaction throughput on answer-like text with planted identifiers
            gen = server.engine.generate(model, [{"role": "user", "content": PROMPTS[0]}],
                                         max_tokens=TOKENS, temperature=0, timeout_s=600)
            answer = "".join(gen)
            planted = (" Please contact Jane Doe at jane.doe@example.com or 555-867-5309; "
                       "her id EMP-0123456789 and SSN 123-45-6789 are on file. ")
            text = ((answer + planted) * 2000)[:1_000_000]
            for r in redaction_rate(server.redactor, text):
                rows.append({"clients": "", **r})
            meta["roster"] = server.roster
    meta["loadavg_before"] = load
    meta["loadavg_after"] = os.getloadavg()
    cols = ["what", "clients", "requests", "tokens", "wall_s", "tokens_per_s", "ttft_p50_ms",
            "ttft_p99_ms", "latency_p50_ms", "latency_p99_ms", "overhead", "mean_batch",
            "load_1m", "mb_per_s", "rss_mib", "loaded_mib"]
    write("serve", meta, rows, cols)
    md = Path(__file__).resolve().parent / "results" / "serve.md"
    md.write_text(md.read_text() + f"\nmax_tokens {TOKENS}, temperature 0; load average before "
                  f"{load[0]:.2f}, after {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs, shared); "
                  "overhead = served wall time / in-process wall time for the same requests "
                  "(audit rows: on / off).\n")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--memory":
        memory_child(sys.argv[2], sys.argv[3:])
    else:
        main()
