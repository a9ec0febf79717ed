"""A real released adapter served by the embedded engine (slow: trains a tiny model once).

The adapter is loaded from the vault in memory and refused unless the release registry vouches
for exactly its bytes, signed by the trusted key; the server's answer is the in-process
``generate`` answer (masked); streamed text equals non-streamed at temperature 0; a revocation
stops serving within a second; the CLI refuses a caller without ``model.read``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import openai
import pytest

from privtune.errors import IntegrityError, PrivacyPolicyError
from privtune.netguard import enable_offline_mode

from .conftest import live

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]
pytestmark = pytest.mark.slow
enable_offline_mode()

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
MSG = [{"role": "user", "content": "How many days of parental leave do I get?"}]


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> dict:
    from privtune.attacks.spec import AuditSpec
    from privtune.config import load_config
    from privtune.gate.audit import run_audit
    from privtune.gate.policy import GatePolicy
    from privtune.gate.release import release
    from privtune.gate.workspace_policy import set_policy
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.run import run_stages
    from privtune.pipeline.site import gate_site
    from privtune.synth import generate_company
    from privtune.workspace import Workspace, init_workspace

    root = tmp_path_factory.mktemp("serve")
    cfg = load_config(PipelineConfig, None, SMALL)
    export = root / "export"
    generate_company(30, 7, export, fmt="csv")
    ws = init_workspace(root / "ws")
    stages = run_stages(ws, cfg, export, stop="train", skip=("scan",))
    ws.close()
    assert stages.train is not None
    ref = stages.train.record.ref
    permissive = GatePolicy(canary_exposure_max=None, mia_auc_max=None,
                            mia_tpr_at_1pct_fpr_max=None, extraction_exact=None,
                            extraction_near=None, prompt_attack_leaks=None,
                            attribute_advantage_max=None, epsilon=None, min_reference_models=0,
                            min_candidates=0, min_subjects=0)
    with Workspace.open(root / "ws", api_key=ADMIN_KEY) as ws:
        set_policy(gate_site(ws), permissive)
        assert run_audit(gate_site(ws), ref, load_config(AuditSpec, None, CHEAP)).passed
        release(gate_site(ws), ref, root / "rel")
    return {"root": root, "ws_dir": root / "ws", "ref": ref}


@pytest.fixture()
def ws_copy(released, tmp_path):
    from privtune.workspace import Workspace

    d = tmp_path / "ws"
    shutil.copytree(released["ws_dir"], d)
    ws = Workspace.open(d, api_key=ADMIN_KEY)
    yield ws
    ws.close()


def test_served_answer_is_the_in_process_answer_and_stream_equals_whole(released, ws_copy) -> None:
    from privtune.access import admin
    from privtune.gate.adapters import open_adapter
    from privtune.serve.service import build
    from privtune.train.generate import generate

    ws = ws_copy
    key = admin.add_user(ws.access, ws.store, "helpdesk", "app").secret
    server = build(ws)
    assert server.roster  # the admin operator reads the person table: the roster is on
    server.engine.load()
    assert [m.id for m in server.engine.models()] == [released["ref"]]
    with open_adapter(ws.vault, released["ref"]) as (model, tok, _):
        expected = generate(model, tok, MSG, max_new_tokens=24)
    masked, _ = server.redactor.redact(expected)
    with live(server.app) as url:
        client = openai.OpenAI(base_url=url, api_key=key, max_retries=0)
        whole = client.chat.completions.create(model=released["ref"], messages=MSG,
                                               temperature=0, max_tokens=24)
        chunks = list(client.chat.completions.create(
            model=released["ref"].split("@")[0], messages=MSG, temperature=0, max_tokens=24,
            stream=True, stream_options={"include_usage": True}))
        done = client.completions.create(model=released["ref"], prompt="Parental leave is",
                                         temperature=0, max_tokens=8)
    assert done.object == "text_completion" and 1 <= done.usage.completion_tokens <= 8
    text = whole.choices[0].message.content
    assert text == masked
    assert 1 <= whole.usage.completion_tokens <= 24 and whole.usage.prompt_tokens > 5
    assert whole.choices[0].finish_reason in ("stop", "length")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert [c.choices[0].finish_reason for c in chunks if c.choices and
            c.choices[0].finish_reason] == [whole.choices[0].finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens


def test_unreleased_tampered_and_foreign_signed_adapters_are_refused(released, ws_copy,
                                                                     tmp_path) -> None:
    from privtune.gate.adapters import ADAPTER_SCHEMA
    from privtune.serve.engine import EmbeddedEngine, check_released, read_adapter
    from privtune.serve.service import _trusted_release_key

    ws = ws_copy
    trusted = _trusted_release_key(ws)
    files = read_adapter(ws.vault, released["ref"])
    assert check_released(ws.store, released["ref"], files, trusted).startswith("rel-")
    # one byte changed: not the adapter the release vouches for
    bad = dict(files)
    bad["adapter_model.safetensors"] = files["adapter_model.safetensors"][:-1] + b"\x00"
    with pytest.raises(PrivacyPolicyError, match="hash differs"):
        check_released(ws.store, released["ref"], bad, trusted)
    # the right bytes, but a signer that is not the trusted release key
    with pytest.raises(IntegrityError, match="not signed by the trusted release key"):
        check_released(ws.store, released["ref"], files, hashlib.sha256(b"x").hexdigest()[:16])
    # a new version of the adapter (here: the same files, or tampered ones), never released
    d = tmp_path / "adir"
    d.mkdir()
    for name, data in bad.items():
        (d / name).write_bytes(data)
    meta = ws.vault.manifest(released["ref"]).meta
    ref2 = ws.vault.put_dir("adapter", d, kind="adapter", schema=ADAPTER_SCHEMA, meta=meta)
    engine = EmbeddedEngine(ws.vault, ws.store, [ref2], trusted)
    with pytest.raises(PrivacyPolicyError, match="has not been released"):
        engine.load()
    assert not engine.ready and "has not been released" in engine.error


def test_revoked_release_stops_serving_within_a_second(released, ws_copy) -> None:
    from privtune.access import admin
    from privtune.gate.registry import change_state
    from privtune.pipeline.site import gate_site
    from privtune.serve.service import build

    ws = ws_copy
    key = admin.add_user(ws.access, ws.store, "helpdesk", "app").secret
    server = build(ws, models=[released["ref"]])
    server.engine.load()
    with live(server.app) as url:
        client = openai.OpenAI(base_url=url, api_key=key, max_retries=0)
        client.chat.completions.create(model=released["ref"], messages=MSG, max_tokens=4)
        change_state(gate_site(ws), released["ref"], "revoked", "INC-1")
        time.sleep(1.1)
        with pytest.raises(openai.PermissionDeniedError) as ei:
            client.chat.completions.create(model=released["ref"], messages=MSG, max_tokens=4)
    assert ei.value.body["code"] == "model_not_released"


def test_serve_cli_refuses_without_model_read(released, tmp_path, monkeypatch) -> None:
    from privtune.access import admin
    from privtune.cli.main import run
    from privtune.workspace import Workspace

    d = tmp_path / "ws"
    shutil.copytree(released["ws_dir"], d)
    with Workspace.open(d, api_key=ADMIN_KEY) as ws:
        app_key = admin.add_user(ws.access, ws.store, "helpdesk", "app").secret
    monkeypatch.setenv("PRIVTUNE_API_KEY", app_key)
    assert run(["serve", "--port", "0", "-w", str(Path(d))]) == 7


def test_the_cli_serves_until_sigterm(released, tmp_path) -> None:
    """``privtune serve`` in its own process: /health 503 then 200, an answer over the openai
    client, a clean exit on SIGTERM."""
    import json
    import signal
    import subprocess
    import sys

    from privtune.access import admin
    from privtune.workspace import Workspace

    from .conftest import free_port, raw

    d = tmp_path / "ws"
    shutil.copytree(released["ws_dir"], d)
    with Workspace.open(d, api_key=ADMIN_KEY) as ws:
        app_key = admin.add_user(ws.access, ws.store, "helpdesk", "app").secret
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "privtune", "serve", "--port", str(port),
                             "-w", str(d)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        seen, deadline = [], time.monotonic() + 300  # loading torch + the model at load ~20 took > 120 s
        while time.monotonic() < deadline:
            try:
                status, _, body = raw(base + "/health", method="GET")
            except OSError:
                time.sleep(0.2)
                continue
            seen.append(status)
            if status == 200:
                break
            time.sleep(0.1)
        assert seen and seen[-1] == 200, (seen[-3:], proc.poll(), body)
        assert json.loads(body) == {"status": "ready", "models": 1}
        client = openai.OpenAI(base_url=base + "/v1", api_key=app_key, max_retries=0)
        r = client.chat.completions.create(model="adapter", messages=MSG, max_tokens=8,
                                           temperature=0)
        assert r.usage.completion_tokens >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert MSG[0]["content"] not in out + err
    from sqlalchemy import select

    from privtune.store.audit_models import AuditEvent

    with Workspace.open(d, api_key=ADMIN_KEY) as ws, ws.store.session() as s:
        events = list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))
    assert any(e.op == "model.read" and e.object == "serve" for e in events)
    result = [e for e in events if e.op == "model.query.result"]
    assert len(result) == 1 and result[0].role == "app"
    assert json.loads(result[0].detail)["outcome"] == "ok"


def test_proxy_in_front_of_the_embedded_server(released, ws_copy) -> None:
    """The embedded server started as the upstream; a proxy front (its own keys, redaction and
    audit) gives the caller the same answer at temperature 0, streamed or not."""
    from privtune.access import admin
    from privtune.serve.service import build

    ws = ws_copy
    upstream_key = admin.add_user(ws.access, ws.store, "proxy-upstream", "app").secret
    caller_key = admin.add_user(ws.access, ws.store, "helpdesk", "app").secret
    inner = build(ws, models=[released["ref"]])
    inner.engine.load()
    with live(inner.app) as upstream:
        outer = build(ws, models=[released["ref"]], upstream=upstream, upstream_key=upstream_key)
        outer.engine.load()
        assert [m.id for m in outer.engine.models()] == [released["ref"]]
        with live(outer.app) as url:
            direct = openai.OpenAI(base_url=upstream, api_key=upstream_key, max_retries=0)
            want = direct.chat.completions.create(model=released["ref"], messages=MSG,
                                                  temperature=0, max_tokens=24)
            client = openai.OpenAI(base_url=url, api_key=caller_key, max_retries=0)
            got = client.chat.completions.create(model=released["ref"], messages=MSG,
                                                 temperature=0, max_tokens=24)
            streamed = list(client.chat.completions.create(
                model=released["ref"], messages=MSG, temperature=0, max_tokens=24, stream=True))
            with pytest.raises(openai.AuthenticationError):  # the upstream's key is not the front's
                openai.OpenAI(base_url=url, api_key="ptk_000000000000_" + "y" * 43,
                              max_retries=0).models.list()
    assert got.choices[0].message.content == want.choices[0].message.content
    assert got.usage.completion_tokens == want.usage.completion_tokens
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == \
        got.choices[0].message.content


def test_serve_smoke_asks_two_questions_and_reports_what_was_masked(released, ws_copy) -> None:
    from privtune.serve.service import SMOKE_QUESTIONS, serve_smoke
    from privtune.store.access_models import ApiKey

    ws = ws_copy
    answers = serve_smoke(ws, max_tokens=16)
    assert [a.question for a in answers] == list(SMOKE_QUESTIONS)
    assert all(1 <= a.completion_tokens <= 16 and a.finish_reason in ("stop", "length")
               for a in answers)
    assert all(isinstance(a.masked, dict) and all(n > 0 for n in a.masked.values())
               for a in answers)
    with ws.store.session() as s:  # the run's own app key was revoked at the end
        keys = [k for k in s.query(ApiKey).all() if k.revoked_at is not None]
    assert keys


# ------------------------------------------------------------------ batching (serve/batch.py)
PLANTED_PROMPT = {"ssn": "219-09-9999", "email": "kari.nordmann@mail.example"}
QUESTIONS = [
    "How many days of parental leave do I get?",
    "Who approves my holiday request?",
    f"My SSN is {PLANTED_PROMPT['ssn']}; what is the notice period for resigning?",
    f"Please mail {PLANTED_PROMPT['email']}: can I work from home on Fridays?",
]


@pytest.fixture(scope="module")
def two_adapters(released, tmp_path_factory) -> dict:
    """A copy of the released workspace with a second released adapter over the same base:
    the first one's LoRA weights changed (``lora_B`` scaled and shifted), so that it answers
    the same questions differently."""
    import torch
    from safetensors.torch import load as load_tensors
    from safetensors.torch import save as save_tensors

    from privtune.attacks.spec import AuditSpec
    from privtune.config import load_config
    from privtune.gate.adapters import ADAPTER_SCHEMA
    from privtune.gate.audit import run_audit
    from privtune.gate.release import release
    from privtune.pipeline.site import gate_site
    from privtune.serve.engine import read_adapter
    from privtune.workspace import Workspace

    root = tmp_path_factory.mktemp("two")
    shutil.copytree(released["ws_dir"], root / "ws")
    with Workspace.open(root / "ws", api_key=ADMIN_KEY) as ws:
        files = read_adapter(ws.vault, released["ref"])
        state = load_tensors(files["adapter_model.safetensors"])
        gen = torch.Generator().manual_seed(3)
        changed = {k: (v * 8 + torch.randn(v.shape, generator=gen) * 0.5) if "lora_B" in k else v
                   for k, v in state.items()}
        d = root / "other"
        d.mkdir()
        for name, data in files.items():
            (d / name).write_bytes(data)
        (d / "adapter_model.safetensors").write_bytes(save_tensors(changed))
        meta = ws.vault.manifest(released["ref"]).meta
        other = ws.vault.put_dir("other", d, kind="adapter", schema=ADAPTER_SCHEMA, meta=meta)
        spec = load_config(AuditSpec, None, CHEAP)
        assert run_audit(gate_site(ws), other, spec).passed
        release(gate_site(ws), other, root / "rel")
    return {"ws_dir": root / "ws", "refs": [released["ref"], other]}


@pytest.fixture()
def batching_server(two_adapters, tmp_path, caplog):
    """A live server over both adapters (one base, one scheduler), an app key, the refs."""
    import logging

    from privtune.access import admin
    from privtune.serve.app import ServeSettings
    from privtune.serve.service import build
    from privtune.workspace import Workspace

    caplog.set_level(logging.DEBUG)
    d = tmp_path / "ws"
    shutil.copytree(two_adapters["ws_dir"], d)
    with Workspace.open(d, api_key=ADMIN_KEY) as ws:
        key = admin.add_user(ws.access, ws.store, "helpdesk", "app").secret
        server = build(ws, settings=ServeSettings(max_concurrent=32, rate_per_minute=1e6,
                                                  batch_window_ms=50))
        server.engine.load()
        assert sorted(m.id for m in server.engine.models()) == sorted(two_adapters["refs"])
        with live(server.app) as url:
            yield {"url": url, "key": key, "refs": two_adapters["refs"], "server": server,
                   "ws": ws}


def _ask(url: str, key: str, model: str, question: str, max_tokens: int,
         stream: bool) -> tuple[str, int, str | None]:
    """(answer, completion tokens, finish_reason) of one request at temperature 0."""
    client = openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=300)
    msgs = [{"role": "user", "content": question}]
    if not stream:
        r = client.chat.completions.create(model=model, messages=msgs, temperature=0,
                                           max_tokens=max_tokens)
        return r.choices[0].message.content or "", r.usage.completion_tokens, \
            r.choices[0].finish_reason
    text, usage, finish = "", 0, None
    for c in client.chat.completions.create(model=model, messages=msgs, temperature=0,
                                            max_tokens=max_tokens, stream=True,
                                            stream_options={"include_usage": True}):
        if c.choices:
            text += c.choices[0].delta.content or ""
            finish = c.choices[0].finish_reason or finish
        if c.usage is not None:
            usage = c.usage.completion_tokens
    return text, usage, finish


def _in_threads(fns: list) -> list:
    import threading

    out: list = [None] * len(fns)
    errors: list = [None] * len(fns)

    def go(i: int) -> None:
        try:
            out[i] = fns[i]()
        except Exception as exc:  # kept for the assertion
            errors[i] = exc

    ts = [threading.Thread(target=go, args=(i,)) for i in range(len(fns))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    return [e if e is not None else o for o, e in zip(out, errors, strict=True)]


def _results(ws) -> list[dict]:
    from sqlalchemy import select

    from privtune.store.audit_models import AuditEvent

    with ws.store.session() as s:
        return [json.loads(e.detail) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.op == "model.query.result")
            .order_by(AuditEvent.seq))]


def test_concurrent_requests_batched_over_two_adapters_each_get_their_answer_alone(
        batching_server, caplog, capfd) -> None:
    """8 concurrent clients, both adapters, streamed and not, different max_tokens: every answer
    (text, usage, finish_reason) is the one it gets alone; streamed equals non-streamed; the
    requests really were decoded together; planted values in prompts reach no log."""
    s = batching_server
    url, key, refs = s["url"], s["key"], s["refs"]
    jobs = [(refs[i % 2], QUESTIONS[(i // 2) % len(QUESTIONS)], 6 + 4 * (i % 4), i % 3 == 0)
            for i in range(8)]
    alone = [_ask(url, key, m, q, n, False) for m, q, n, _ in jobs]
    assert any(alone[i][0] != alone[i + 1][0] for i in range(0, 8, 2))  # adapters differ
    batcher = s["server"].engine.batcher(refs[0])
    assert batcher is s["server"].engine.batcher(refs[1])  # one scheduler for the base
    batcher.steps.clear()
    together = _in_threads([lambda j=j: _ask(url, key, *j) for j in jobs])
    assert together == alone
    assert max(batcher.steps) >= 4  # decoded together (the window gathers the clients)
    assert all(r["outcome"] == "ok" for r in _results(s["ws"])[-8:])
    out = capfd.readouterr()
    for value in PLANTED_PROMPT.values():
        assert value not in out.out + out.err + caplog.text
        assert all(value not in json.dumps(r) for r in _results(s["ws"]))


def test_a_stream_dropped_mid_batch_and_a_failing_request_leave_the_others_complete(
        batching_server) -> None:
    """In one batch: a client that drops its stream after the first chunk (cancelled), a
    request whose prompt breaks the model (500, alone: each newcomer is then prefilled alone),
    and six others that get exactly their answers alone."""
    s = batching_server
    url, key, refs = s["url"], s["key"], s["refs"]
    server = s["server"]
    batcher = server.engine.batcher(refs[0])
    tok = server.engine._served[refs[0]][1].tokenizer
    poison_q = "Zygomorphic quasar xylophone?"

    def prompt_ids(q: str) -> set[int]:
        text = tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False,
                                       add_generation_prompt=True)
        return set(tok(text, add_special_tokens=False)["input_ids"])

    poison = prompt_ids(poison_q) - set().union(*(prompt_ids(q) for q in QUESTIONS))
    assert poison
    marker = next(iter(poison))
    model = batcher.model

    class Breaking:
        """The model, failing on any prompt (a prefill) that holds the poison question's
        token: a request that breaks the model."""

        def get_base_model(self):
            return model.get_base_model()

        def __call__(self, *, input_ids, **kw):
            if input_ids.shape[1] > 1 and bool((input_ids == marker).any()):
                raise RuntimeError("injected failure")
            return model(input_ids=input_ids, **kw)

    others = [(refs[i % 2], QUESTIONS[i % len(QUESTIONS)], 24, i % 2 == 0) for i in range(6)]
    alone = [_ask(url, key, *j) for j in others]
    n_before = len(_results(s["ws"]))

    def dropped() -> str:
        client = openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=300)
        stream = client.chat.completions.create(model=refs[0], messages=MSG, temperature=0,
                                                max_tokens=200, stream=True)
        next(iter(stream))
        stream.close()  # the client goes away mid-answer
        return "dropped"

    batcher.model = Breaking()
    try:
        got = _in_threads([lambda j=j: _ask(url, key, *j) for j in others] +
                          [dropped, lambda: _ask(url, key, refs[1], poison_q, 24, False)])
    finally:
        batcher.model = model
    assert got[:6] == alone
    assert got[6] == "dropped"
    assert isinstance(got[7], openai.InternalServerError)
    assert got[7].body["code"] == "generation_failed"
    deadline = time.monotonic() + 10
    while len(_results(s["ws"])) < n_before + 8 and time.monotonic() < deadline:
        time.sleep(0.05)  # the dropped stream is audited when the server notices
    outcomes = sorted(r["outcome"] for r in _results(s["ws"])[n_before:])
    assert outcomes == ["cancelled", "error"] + ["ok"] * 6
    assert _ask(url, key, *others[0]) == alone[0]  # the scheduler carries on
