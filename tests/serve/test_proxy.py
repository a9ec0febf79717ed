"""The proxy engine: an upstream OpenAI-compatible server that does NOT mask anything (a vLLM
stand-in speaking the protocol: ``GET /v1/models``, streamed chat and text completions with a
usage chunk) behind privtune's front: the caller's key, the audit, the redaction and the
release registry are privtune's; the upstream's raw personal data never reaches the caller.
The embedded privtune server as the upstream is in test_live_model.py (slow)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from privtune.access import admin
from privtune.errors import NotFoundError, PrivacyPolicyError
from privtune.pii.detector import Detector
from privtune.pii.roster import Roster
from privtune.serve import engine as engine_mod
from privtune.serve import proxy as proxy_mod
from privtune.serve.app import ServeSettings, create_app
from privtune.serve.proxy import ProxyEngine
from privtune.serve.redact import Redactor

from .conftest import live
from .test_api import ANSWER, MSG, PLANTED, ROSTER, _audit_rows, _no_planted

UPSTREAM_KEY = "upstream-secret-1"


def upstream_app(text: str, served: str = "helpdesk@1") -> tuple[FastAPI, dict[str, Any]]:
    """A bare OpenAI-compatible server answering ``text`` in 3-character pieces (no masking)."""
    app = FastAPI()
    seen: dict[str, Any] = {"auth": [], "bodies": [], "closed": 0}

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        seen["auth"].append(request.headers.get("authorization"))
        return JSONResponse({"object": "list", "data": [{"id": served, "object": "model",
                                                         "created": 0, "owned_by": "x"}]})

    async def complete(request: Request, chat: bool) -> StreamingResponse:
        body = await request.json()
        seen["auth"].append(request.headers.get("authorization"))
        seen["bodies"].append(body)
        words = text[: body["max_tokens"] * 4]

        def sse(obj: Any) -> bytes:
            return b"data: " + json.dumps(obj).encode() + b"\n\n"

        async def gen():
            try:
                for i in range(0, len(words), 3):
                    piece = words[i:i + 3]
                    choice = ({"index": 0, "delta": {"content": piece}, "finish_reason": None}
                              if chat else {"index": 0, "text": piece, "finish_reason": None})
                    yield sse({"id": "x", "object": "chunk", "created": 0, "model": served,
                               "choices": [choice]})
                end = ({"index": 0, "delta": {}, "finish_reason": "stop"} if chat else
                       {"index": 0, "text": "", "finish_reason": "stop"})
                yield sse({"id": "x", "object": "chunk", "created": 0, "model": served,
                           "choices": [end]})
                yield sse({"id": "x", "object": "chunk", "created": 0, "model": served,
                           "choices": [], "usage": {"prompt_tokens": 7,
                                                    "completion_tokens": len(words.split()),
                                                    "total_tokens": 7 + len(words.split())}})
                yield b"data: [DONE]\n\n"
            finally:
                seen["closed"] += 1

        return StreamingResponse(gen(), media_type="text/event-stream")

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> StreamingResponse:
        return await complete(request, True)

    @app.post("/v1/completions")
    async def completions(request: Request) -> StreamingResponse:
        return await complete(request, False)

    return app, seen


@dataclass
class _Row:
    id: str
    state: str


@pytest.fixture()
def registry(monkeypatch) -> dict[str, _Row]:
    """The release registry as the proxy reads it (ref -> row); a test revokes by editing it."""
    rows = {"helpdesk@1": _Row("rel-proxy-1", "released")}
    monkeypatch.setattr(proxy_mod, "entry_for", lambda store, ref: rows.get(ref))
    monkeypatch.setattr(engine_mod, "entries",  # the release recheck both engines share
                        lambda store, name: [r for ref, r in rows.items() if ref.startswith(name + "@")])
    return rows


@pytest.fixture()
def front(workspace, registry) -> Any:
    ws = workspace
    key = admin.add_user(ws.access, ws.store, "helpdesk-app", "app").secret
    up, seen = upstream_app(ANSWER)
    with live(up) as upstream_url:
        engine = ProxyEngine(ws.store, upstream_url, ["helpdesk@1"], api_key=UPSTREAM_KEY)
        engine.load()
        app = create_app(ws, engine, Redactor(Detector(Roster.from_employees(ROSTER))),
                         settings=ServeSettings(rate_per_minute=600))
        with live(app) as url:
            yield {"ws": ws, "url": url, "key": key, "seen": seen, "engine": engine,
                   "registry": registry, "upstream": upstream_url}


def test_the_front_masks_what_the_upstream_lets_through(front) -> None:
    client = openai.OpenAI(base_url=front["url"], api_key=front["key"], max_retries=0)
    whole = client.chat.completions.create(model="helpdesk@1", messages=MSG, temperature=0)
    text = whole.choices[0].message.content
    _no_planted(text)
    assert "[PERSON]" in text and "[SSN]" in text and "[EMPLOYEE_ID]" in text
    assert whole.usage.prompt_tokens == 7 and whole.usage.completion_tokens > 5  # upstream's usage
    chunks = list(client.chat.completions.create(model="helpdesk", messages=MSG, stream=True,
                                                 temperature=0))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    done = client.completions.create(model="helpdesk@1", prompt="The leave", max_tokens=40)
    _no_planted(done.choices[0].text)
    seen = front["seen"]
    # the upstream got the operator's key, never the caller's, and a streamed request
    assert set(seen["auth"]) == {f"Bearer {UPSTREAM_KEY}"}
    assert all(b["stream"] and b["stream_options"] == {"include_usage": True} for b in seen["bodies"])
    assert seen["bodies"][0]["messages"] == MSG
    # privtune's audit: the request and its result, with no planted value
    rows = _audit_rows(front["ws"])
    results = [r for r in rows if r.op == "model.query.result"]
    assert len(results) == 3 and all(json.loads(r.detail)["redactions"] >= 4 for r in results)
    blob = " ".join(f"{r.object} {r.reason} {r.detail}" for r in rows).lower()
    for value in PLANTED.values():
        assert value.lower() not in blob


def test_a_revoked_release_stops_the_proxy_within_a_second(front) -> None:
    client = openai.OpenAI(base_url=front["url"], api_key=front["key"], max_retries=0)
    client.chat.completions.create(model="helpdesk@1", messages=MSG, max_tokens=4)
    front["registry"]["helpdesk@1"].state = "revoked"
    time.sleep(1.1)
    with pytest.raises(openai.PermissionDeniedError) as ei:
        client.chat.completions.create(model="helpdesk@1", messages=MSG, max_tokens=4)
    assert ei.value.body["code"] == "model_not_released"
    assert len(front["seen"]["bodies"]) == 1  # nothing more went upstream


def test_a_caller_key_is_never_forwarded_and_a_bad_one_never_reaches_upstream(front) -> None:
    client = openai.OpenAI(base_url=front["url"], api_key="ptk_000000000000_" + "x" * 43,
                           max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="helpdesk@1", messages=MSG)
    assert front["seen"]["bodies"] == []


def test_load_refuses_unreleased_or_unlisted_models(workspace, registry) -> None:
    up, _ = upstream_app(ANSWER, served="other@1")
    with live(up) as url:
        with pytest.raises(NotFoundError, match="does not serve 'helpdesk@1'"):
            ProxyEngine(workspace.store, url, ["helpdesk@1"]).load()
        registry["helpdesk@1"].state = "quarantined"
        with pytest.raises(PrivacyPolicyError, match="has not been released"):
            ProxyEngine(workspace.store, url, ["helpdesk@1"], names={"helpdesk@1": "other@1"}).load()
        registry["helpdesk@1"].state = "released"
        eng = ProxyEngine(workspace.store, url, ["helpdesk@1"], names={"helpdesk@1": "other@1"})
        eng.load()
        assert [m.id for m in eng.models()] == ["helpdesk@1"]
