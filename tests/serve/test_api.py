"""The API with the official ``openai`` client against a live server (a fixed-answer engine):
the OpenAI schema (usage, one finish_reason per choice, include_usage, ``[DONE]``), the error
classes (401, 400, 403, 404, 413, 429 with Retry-After), the key cache honouring revocation and
lockdown within a second, planted personal data masked in answers and absent from the audit
log, the metrics and the server's output."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import openai
import pytest
from sqlalchemy import select

from privtune.access import admin
from privtune.pii.detector import Detector
from privtune.pii.roster import Roster
from privtune.serve.app import ServeSettings, create_app
from privtune.serve.redact import Redactor
from privtune.store.audit_models import AuditEvent

from .conftest import FakeEngine, live, raw

PLANTED = {"name": "Ingrid Halvorsen", "email": "ingrid.halvorsen@acme.example",
           "ssn": "219-09-9999", "token": "EMP-3fa9c01b2d", "id": "E73519"}
ANSWER = (f"Your leave request was approved by {PLANTED['name']} ({PLANTED['email']}, "
          f"employee {PLANTED['id']}, SSN {PLANTED['ssn']}); the case is filed under "
          f"{PLANTED['token']}. Ask HR if anything is unclear about the leave policy.")
ROSTER = [{"employee_id": "E73519", "first_name": "Ingrid", "last_name": "Halvorsen",
           "email": "ingrid.halvorsen@acme.example"},
          {"employee_id": "E73520", "first_name": "Tomas", "last_name": "Lindqvist",
           "email": "tomas.lindqvist@acme.example"}]
MSG = [{"role": "user", "content": "Who approved my leave?"}]


@pytest.fixture()
def served(workspace, request, caplog) -> Any:
    caplog.set_level(logging.DEBUG)
    ws = workspace
    keys = {r: admin.add_user(ws.access, ws.store, f"u-{r}", r).secret
            for r in ("app", "viewer", "auditor")}
    settings = getattr(request, "param", None) or ServeSettings(rate_per_minute=600,
                                                                max_body_bytes=4096)
    engine = FakeEngine(ANSWER)
    app = create_app(ws, engine, Redactor(Detector(Roster.from_employees(ROSTER))),
                     settings=settings)
    with live(app) as url:
        yield {"ws": ws, "url": url, "keys": keys, "engine": engine, "app": app}


def _client(served: dict[str, Any], key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=served["url"], api_key=key or served["keys"]["app"],
                         max_retries=0)


def _audit_rows(ws) -> list[AuditEvent]:
    with ws.store.session() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def _no_planted(text: str) -> None:
    low = text.lower()
    for kind, value in PLANTED.items():
        assert value.lower() not in low, f"planted {kind} leaked"
    assert "halvorsen" not in low


def test_non_stream_usage_and_masked_answer(served) -> None:
    r = _client(served).chat.completions.create(model="helpdesk@1", messages=MSG, temperature=0)
    assert r.object == "chat.completion" and r.model == "helpdesk@1"
    assert len(r.choices) == 1 and r.choices[0].finish_reason == "stop"
    text = r.choices[0].message.content
    assert r.choices[0].message.role == "assistant"
    _no_planted(text)
    for mask in ("[PERSON]", "[EMAIL]", "[SSN]", "[EMPLOYEE_ID]"):
        assert mask in text
    assert "leave request was approved by" in text and text.endswith("leave policy.")
    u = r.usage
    assert u.prompt_tokens > 0 and u.completion_tokens > 0
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens


def test_stream_equals_non_stream_one_finish_reason_and_usage_chunk(served) -> None:
    client = _client(served)
    whole = client.chat.completions.create(model="helpdesk", messages=MSG, temperature=0)
    chunks = list(client.chat.completions.create(
        model="helpdesk", messages=MSG, temperature=0, stream=True,
        stream_options={"include_usage": True}))
    assert len(chunks) > 3
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [f for f in finishes if f is not None] == ["stop"]
    assert finishes[-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.total_tokens == whole.usage.total_tokens
    assert all(c.usage is None for c in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    for c in chunks:  # no chunk carries any part of a planted identifier
        if c.choices and c.choices[0].delta.content:
            _no_planted(c.choices[0].delta.content)
            assert "Halv" not in c.choices[0].delta.content


def test_stream_ends_with_done(served) -> None:
    body = json.dumps({"model": "helpdesk@1", "messages": MSG, "stream": True}).encode()
    status, headers, data = raw(served["url"] + "/chat/completions", body,
                                key=served["keys"]["app"])
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [e for e in data.decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: ") for e in events)
    finishes = [json.loads(e[6:])["choices"][0]["finish_reason"] for e in events[:-1]]
    assert sum(f is not None for f in finishes) == 1


def test_bad_key_is_authentication_error_and_audited(served) -> None:
    bad = "ptk_0123456789ab_" + "x" * 43
    with pytest.raises(openai.AuthenticationError) as ei:
        _client(served, bad).chat.completions.create(model="helpdesk@1", messages=MSG)
    assert ei.value.status_code == 401
    assert ei.value.body["code"] == "invalid_api_key"
    status, _, data = raw(served["url"] + "/models", method="GET")
    assert status == 401 and set(json.loads(data)["error"]) == {"message", "type", "param", "code"}
    rows = _audit_rows(served["ws"])
    assert any(e.op == "auth" and e.outcome == "deny" for e in rows)
    assert served["engine"].calls == 0


def test_bad_body_is_bad_request_error(served) -> None:
    client = _client(served)
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model="helpdesk@1", messages=[])
    assert ei.value.body["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(model="helpdesk@1", messages=MSG, temperature=7)
    assert ei.value.body["param"] == "temperature"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="helpdesk@1", messages=MSG, max_tokens=100_000)
    status, _, data = raw(served["url"] + "/chat/completions", b"{not json",
                          key=served["keys"]["app"])
    err = json.loads(data)["error"]
    assert status == 400 and err["type"] == "invalid_request_error"
    assert served["engine"].calls == 0
    denies = [e for e in _audit_rows(served["ws"]) if e.op == "model.query" and e.outcome == "deny"]
    assert len(denies) == 4 and all(e.reason == "bad request" for e in denies)


def test_body_too_large_is_413(served) -> None:
    body = json.dumps({"model": "helpdesk@1",
                       "messages": [{"role": "user", "content": "x" * 10_000}]}).encode()
    status, _, data = raw(served["url"] + "/chat/completions", body, key=served["keys"]["app"])
    assert status == 413 and json.loads(data)["error"]["code"] == "request_too_large"
    assert served["engine"].calls == 0


@pytest.mark.parametrize("served", [ServeSettings(rate_per_minute=60, rate_burst=2)],
                         indirect=True)
def test_past_the_rate_limit_is_rate_limit_error(served) -> None:
    client = _client(served)
    for _ in range(2):
        client.chat.completions.create(model="helpdesk@1", messages=MSG)
    with pytest.raises(openai.RateLimitError) as ei:
        client.chat.completions.create(model="helpdesk@1", messages=MSG)
    assert int(ei.value.response.headers["retry-after"]) >= 1
    assert served["engine"].calls == 2
    # another key has its own bucket
    _client(served, served["keys"]["auditor"]).chat.completions.create(model="helpdesk@1",
                                                                       messages=MSG)


def test_roles_models_and_unknown_model(served) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        _client(served, served["keys"]["viewer"]).chat.completions.create(model="helpdesk@1",
                                                                          messages=MSG)
    assert [m.id for m in _client(served).models.list()] == ["helpdesk@1"]
    with pytest.raises(openai.NotFoundError):
        _client(served).chat.completions.create(model="other@1", messages=MSG)
    served["engine"].revoked = True
    with pytest.raises(openai.PermissionDeniedError) as ei:
        _client(served).chat.completions.create(model="helpdesk@1", messages=MSG)
    assert ei.value.body["code"] == "model_not_released"
    assert served["engine"].calls == 0


def test_key_cache_verifies_once_and_honours_revocation_and_lockdown(served) -> None:
    ws, client = served["ws"], _client(served)
    cache = served["app"].state.server.keys
    for _ in range(3):
        client.chat.completions.create(model="helpdesk@1", messages=MSG)
    assert cache.verifications == 1
    # a lockdown refuses the app role at once (the Guard reads it on every check)
    admin.set_lockdown(ws.access, ws.store, True)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="helpdesk@1", messages=MSG)
    ws.store.set_meta(admin.LOCKDOWN_META, "off")
    client.chat.completions.create(model="helpdesk@1", messages=MSG)
    key_id = served["keys"]["app"].split("_")[1]
    admin.revoke_key(ws.access, ws.store, key_id)
    time.sleep(1.1)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="helpdesk@1", messages=MSG)


def test_every_request_audited_without_text(served, caplog, capfd) -> None:
    client = _client(served)
    client.chat.completions.create(model="helpdesk@1", messages=MSG)
    list(client.chat.completions.create(model="helpdesk@1", messages=MSG, stream=True))
    rows = _audit_rows(served["ws"])
    results = [e for e in rows if e.op == "model.query.result"]
    assert len(results) == 2
    for e in results:
        d = json.loads(e.detail)
        assert d["outcome"] == "ok" and d["redactions"] >= 4 and d["completion_tokens"] > 0
        assert d["latency_ms"] >= 0 and d["redacted"]["EMAIL"] == 1
        assert e.role == "app" and e.key_id == served["keys"]["app"].split("_")[1]
    checks = [e for e in rows if e.op == "model.query" and e.outcome == "allow"]
    assert len(checks) == 2
    everything = "\n".join(" ".join(str(v) for v in e.__dict__.values()) for e in rows)
    _no_planted(everything)
    assert "Who approved my leave" not in everything  # nor the prompt
    _, _, metrics = raw(served["url"].removesuffix("/v1") + "/metrics", method="GET")
    text = metrics.decode()
    assert "privtune_serve_redactions_total{type=\"EMAIL\"}" in text
    assert "privtune_serve_tokens_total" in text
    _no_planted(text)
    assert "u-app" not in text and served["keys"]["app"].split("_")[1] not in text
    out = capfd.readouterr()
    _no_planted(out.out + out.err + caplog.text)


def test_health(served) -> None:
    status, _, data = raw(served["url"].removesuffix("/v1") + "/health", method="GET")
    assert status == 200 and json.loads(data) == {"status": "ready", "models": 1}
    served["engine"].ready = False
    status, _, data = raw(served["url"].removesuffix("/v1") + "/health", method="GET")
    assert status == 503 and json.loads(data)["status"] == "loading"


@pytest.mark.slow  # ~10 s: a TLS handshake refused by a client that does not trust the cert
def test_tls_round_trip_with_the_self_signed_certificate(workspace, tmp_path) -> None:
    from privtune.serve.service import self_signed_cert

    ws = workspace
    key = admin.add_user(ws.access, ws.store, "u-app", "app").secret
    app = create_app(ws, FakeEngine(ANSWER), Redactor(Detector()))
    cert, tls_key = self_signed_cert("127.0.0.1", tmp_path / "pub" / "cert.pem", tmp_path / "priv")
    assert tls_key.stat().st_mode & 0o077 == 0
    with live(app, ssl_certfile=str(cert), ssl_keyfile=str(tls_key)) as url:
        assert url.startswith("https://")
        trusting = openai.OpenAI(base_url=url, api_key=key, max_retries=0,
                                 http_client=openai.DefaultHttpxClient(verify=str(cert)))
        r = trusting.chat.completions.create(model="helpdesk@1", messages=MSG)
        _no_planted(r.choices[0].message.content)
        untrusting = openai.OpenAI(base_url=url, api_key=key, max_retries=0)
        with pytest.raises(openai.APIConnectionError):
            untrusting.chat.completions.create(model="helpdesk@1", messages=MSG)


def test_a_failure_mid_stream_ends_with_an_error_event_then_done(workspace) -> None:
    ws = workspace
    key = admin.add_user(ws.access, ws.store, "u-app", "app").secret
    app = create_app(ws, FakeEngine(ANSWER, fail_at=60), Redactor(Detector()))
    body = json.dumps({"model": "helpdesk@1", "messages": MSG, "stream": True}).encode()
    with live(app) as url:
        status, _, data = raw(url + "/chat/completions", body, key=key)
    events = [e for e in data.decode().split("\n\n") if e]
    assert status == 200 and events[-1] == "data: [DONE]"
    err = json.loads(events[-2][6:])["error"]
    assert err["code"] == "generation_failed" and set(err) == {"message", "type", "param", "code"}
    assert not any(json.loads(e[6:]).get("choices", [{}])[0].get("finish_reason")
                   for e in events[:-2])
    results = [json.loads(e.detail) for e in _audit_rows(ws) if e.op == "model.query.result"]
    assert [r["outcome"] for r in results] == ["error"]


@pytest.mark.slow  # ~7 s: a slow stream held open, dropped, then a whole answer
def test_concurrency_limit_and_a_dropped_stream_frees_its_slot(workspace) -> None:
    import http.client

    ws = workspace
    key = admin.add_user(ws.access, ws.store, "u-app", "app").secret
    engine = FakeEngine(ANSWER, piece=1, delay=0.02)
    app = create_app(ws, engine, Redactor(Detector()),
                     settings=ServeSettings(max_concurrent=1, rate_per_minute=600))
    body = json.dumps({"model": "helpdesk@1", "messages": MSG, "stream": True})
    with live(app) as url:
        port = int(url.split(":")[2].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v1/chat/completions", body,
                     {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 200
        resp.read1(64)  # the stream has started and holds the key's only slot
        with pytest.raises(openai.RateLimitError) as ei:
            openai.OpenAI(base_url=url, api_key=key, max_retries=0).chat.completions.create(
                model="helpdesk@1", messages=MSG)
        assert ei.value.body["code"] == "concurrency_limit_exceeded"
        conn.close()  # the client goes away mid-stream
        deadline = time.monotonic() + 10
        while engine.cancelled == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine.cancelled == 1
        r = openai.OpenAI(base_url=url, api_key=key, max_retries=0).chat.completions.create(
            model="helpdesk@1", messages=MSG)
        assert r.choices[0].finish_reason == "stop"
    outcomes = [json.loads(e.detail)["outcome"] for e in _audit_rows(ws)
                if e.op == "model.query.result"]
    assert outcomes == ["cancelled", "ok"]


def test_completions_endpoint_masks_and_streams_like_chat(served) -> None:
    client = _client(served)
    r = client.completions.create(model="helpdesk@1", prompt="The approver of my leave is",
                                  temperature=0)
    assert r.object == "text_completion" and r.choices[0].finish_reason == "stop"
    assert served["engine"].last == "The approver of my leave is"
    _no_planted(r.choices[0].text)
    assert "[PERSON]" in r.choices[0].text
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    chunks = list(client.completions.create(model="helpdesk@1", prompt=["Who?"], temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == r.choices[0].text
    assert [c.choices[0].finish_reason for c in chunks if c.choices and
            c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    with pytest.raises(openai.BadRequestError) as ei:
        client.completions.create(model="helpdesk@1", prompt=["a", "b"])
    assert ei.value.body["param"] == "prompt"
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model="helpdesk@1", prompt="a", echo=True)


def test_top_p_and_stop_reach_the_engine_and_a_bad_stop_is_refused(served) -> None:
    c = _client(served)
    c.chat.completions.create(model="helpdesk@1", messages=MSG, temperature=0.7, top_p=0.9,
                              stop=["\n\n", "END"])
    assert served["engine"].sampling == {"temperature": 0.7, "top_p": 0.9,
                                         "stop": ("\n\n", "END")}
    c.completions.create(model="helpdesk@1", prompt="Leave is", stop="END")
    assert served["engine"].sampling["stop"] == ("END",)
    calls = served["engine"].calls
    for bad in (["a", "b", "c", "d", "e"], "", "x" * 65):
        with pytest.raises(openai.BadRequestError) as ei:
            c.chat.completions.create(model="helpdesk@1", messages=MSG, stop=bad)
        assert ei.value.body["param"] == "stop"
    with pytest.raises(openai.BadRequestError) as ei:
        c.chat.completions.create(model="helpdesk@1", messages=MSG, top_p=1.5)
    assert ei.value.body["param"] == "top_p"
    assert served["engine"].calls == calls  # refused before the model ran
