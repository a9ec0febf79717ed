"""A real released adapter served by the embedded engine (slow: trains a tiny model once).

The adapter is loaded from the vault in memory and refused unless the release registry vouches
for exactly its bytes, signed by the trusted key; the server's answer is the in-process
``generate`` answer (masked); streamed text equals non-streamed at temperature 0; a revocation
stops serving within a second; the CLI refuses a caller without ``model.read``."""

from __future__ import annotations

import hashlib
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
