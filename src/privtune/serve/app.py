"""The OpenAI-compatible API: one FastAPI app factory over a workspace and an engine.

Routes: ``POST /v1/chat/completions`` and ``POST /v1/completions`` (streamed as server-sent
events, or not), ``GET
/v1/models``, ``GET /health`` (503 while the engine loads, 200 ready), ``GET /metrics``
(Prometheus text: counts, latencies, tokens, refusals, redactions; labels are routes, status
codes, reasons and entity types, never a user or an employee).

Every request to ``/v1`` is authenticated by a workspace API key (``Authorization: Bearer
ptk_...``, :class:`~privtune.serve.auth.KeyCache`), limited (body size 413, per-key rate and
concurrency 429 with Retry-After, ``max_tokens``, a generation timeout), checked as
``model.query`` by the workspace's :class:`~privtune.access.guard.Guard` (the audit event is
written before the model runs; a lockdown refuses it), and its answer masked by the PII
:class:`~privtune.serve.redact.Redactor` before it leaves. Every request and refusal is in the
audit log: who (user id, role, key id), which model, token counts, redaction counts, latency;
never the prompt or the answer. Errors use OpenAI's body ``{"error": {"message", "type",
"param", "code"}}``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from privtune.access.admin import in_lockdown
from privtune.access.guard import Guard
from privtune.access.principal import Principal
from privtune.access.users import AuthFailure
from privtune.errors import NotFoundError, PermissionDenied, PrivacyPolicyError
from privtune.serve.auth import Concurrency, KeyCache, RateLimiter
from privtune.serve.engine import Engine, ServedModel
from privtune.serve.policy import ServePolicy
from privtune.serve.redact import Redactor
from privtune.workspace import Workspace


@dataclass(frozen=True)
class ServeSettings:
    max_body_bytes: int = 1 << 20
    max_tokens: int = 512
    default_max_tokens: int = 128
    rate_per_minute: float = 120.0
    rate_burst: int | None = None
    max_concurrent: int = 4
    timeout_s: float = 120.0
    key_ttl_s: float = 300.0
    key_recheck_s: float = 1.0
    #: Argon2id verifications (keys not yet cached: unknown or new) a minute per client address:
    #: guessing keys, or burning the server's CPU with random ones, is refused with 429.
    unknown_keys_per_minute: float = 30.0
    unknown_keys_burst: int = 10
    #: The embedded engine's batching (:mod:`privtune.serve.batch`): rows decoded together at
    #: most, and how long an idle model waits for more requests to start with.
    max_batch: int = 32
    batch_window_ms: float = 5.0


class ApiError(Exception):
    def __init__(self, status: int, message: str, type_: str, code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant"]
    content: str | list[dict[str, Any]]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        parts = []
        for p in self.content:
            if p.get("type") != "text" or not isinstance(p.get("text"), str):
                raise ValueError("only text content parts are supported")
            parts.append(p["text"])
        return "".join(parts)


class _StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class _GenRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=200)
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, ge=0.0, le=1.0)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: _StreamOptions | None = None
    n: int = Field(default=1, ge=1, le=1)

    def asked_tokens(self) -> int | None:
        return self.max_tokens

    def stops(self) -> tuple[str, ...]:
        """The ``stop`` strings (at most 4, each 1 to 64 characters)."""
        got = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(got) > 4 or any(not 1 <= len(s) <= 64 for s in got):
            raise ValueError("at most 4 strings of 1 to 64 characters")
        return tuple(got)

    def conversation(self) -> list[dict[str, str]] | str:
        raise NotImplementedError


class ChatRequest(_GenRequest):
    messages: list[_Message] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)

    def asked_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def conversation(self) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.text()} for m in self.messages]


class CompletionRequest(_GenRequest):
    """``POST /v1/completions``: one prompt (a string, or a list of one string), continued."""

    prompt: str | list[str]
    echo: Literal[False] = False

    def conversation(self) -> str:
        if isinstance(self.prompt, str):
            return self.prompt
        if len(self.prompt) != 1:
            raise ValueError("exactly one prompt per request")
        return self.prompt[0]


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("privtune_serve_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=r)
        self.latency = Histogram("privtune_serve_request_seconds", "Request latency",
                                 ["route"], registry=r)
        self.tokens = Counter("privtune_serve_tokens", "Tokens processed", ["kind"], registry=r)
        self.refusals = Counter("privtune_serve_refusals", "Refused requests by reason",
                                ["reason"], registry=r)
        self.redactions = Counter("privtune_serve_redactions", "Identifiers masked in answers",
                                  ["type"], registry=r)


class _Server:
    """The app's state: the workspace parts, the engine and the limits."""

    def __init__(self, ws: Workspace, engine: Engine, redactor: Redactor,
                 settings: ServeSettings, lock: threading.Lock,
                 policy: ServePolicy | None = None) -> None:
        self.ws, self.engine, self.redactor, self.settings = ws, engine, redactor, settings
        self.policy = policy or ServePolicy()
        self.unknown_keys = RateLimiter(settings.unknown_keys_per_minute,
                                        settings.unknown_keys_burst)
        self.lock = lock
        self.keys = KeyCache(ws.store, ttl_s=settings.key_ttl_s,
                             recheck_s=settings.key_recheck_s)
        self.rate = RateLimiter(settings.rate_per_minute, settings.rate_burst)
        self.concurrency = Concurrency(settings.max_concurrent)
        self.metrics = _Metrics()
        self._subkeys: dict[str, bytes] = {}

    # ------------------------------------------------------------ audit
    # The audit log is thread-safe with group commit (``AuditLog.append``): requests append
    # without the workspace lock, so concurrent requests share one durable transaction.
    def subkey(self, label: str) -> bytes:
        """The workspace subkey ``label`` (unwrapped once per server, not per request)."""
        with self.lock:
            if label not in self._subkeys:
                self._subkeys[label] = self.ws.keys.subkey(label)
            return self._subkeys[label]

    def guard(self, p: Principal | None) -> Guard:
        g = Guard(self.subkey, self.ws.audit, p)
        g.lockdown = lambda: in_lockdown(self.ws.store)
        return g

    def check(self, p: Principal, obj: str, **detail: Any) -> None:
        """``model.query`` for ``p`` (audited first); ApiError 403 when refused."""
        try:
            self.guard(p).check("model.query", obj, **detail)
        except PermissionDenied as exc:
            self.metrics.refusals.labels("permission").inc()
            raise ApiError(403, exc.message, "permission_error", "permission_denied") from None

    def refuse(self, p: Principal | None, obj: str, reason: str, **detail: Any) -> None:
        """Audit a refusal that is not the role's (limits, bad body, model not served)."""
        self.ws.audit.append(actor=p.user_id if p else "-", role=p.role if p else "-",
                             key_id=p.key_id if p else "", op="model.query", object=obj,
                             outcome="deny", reason=reason, detail=detail)

    def done(self, p: Principal, model: str, detail: dict[str, Any]) -> None:
        self.ws.audit.append(actor=p.user_id, role=p.role, key_id=p.key_id,
                             op="model.query.result", object=model, detail=detail)

    # ------------------------------------------------------------ auth
    def principal(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            self.metrics.refusals.labels("auth").inc()
            self.guard(None).record_auth_failure("", "serve: missing API key")
            raise ApiError(401, "missing API key (Authorization: Bearer ptk_...)",
                           "invalid_request_error", "invalid_api_key")
        key = key.strip()
        if not self.keys.is_cached(key):
            client = request.client.host if request.client else "-"
            wait = self.unknown_keys.take(client)
            if wait > 0:
                self.metrics.refusals.labels("unknown_key_rate").inc()
                self.guard(None).record_auth_failure("", "serve: too many unverified keys "
                                                         "from one client")
                raise ApiError(429, "too many API keys tried from this address; retry later",
                               "rate_limit_error", "rate_limit_exceeded",
                               headers={"Retry-After": str(max(1, int(wait + 0.999)))})
        try:
            return self.keys.authenticate(key)
        except AuthFailure as exc:
            self.metrics.refusals.labels("auth").inc()
            self.guard(None).record_auth_failure(exc.key_id, f"serve: {exc.message}")
            raise ApiError(401, "invalid API key", "invalid_request_error",
                           "invalid_api_key") from None


def _new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def _sse(obj: Any) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def create_app(ws: Workspace, engine: Engine, redactor: Redactor, *,
               settings: ServeSettings | None = None,
               lock: threading.Lock | None = None,
               policy: ServePolicy | None = None) -> FastAPI:
    """The API app. ``lock`` serialises the workspace's database reads with the engine's
    loading (pass the engine's). ``policy``: input screening and per-role model and pseudonym
    rules (:mod:`privtune.serve.policy`; default: the built-in screening, every role may query
    every model, no pseudonym shown)."""
    settings = settings or ServeSettings()
    srv = _Server(ws, engine, redactor, settings, lock or threading.Lock(), policy)
    app = FastAPI(title="privtune", version="1", docs_url=None, redoc_url=None)
    app.state.server = srv

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.middleware("http")
    async def _measure(request: Request, call_next: Any) -> Response:
        t0 = time.perf_counter()
        route = request.url.path if request.url.path in _ROUTES else "other"
        response = await call_next(request)
        srv.metrics.requests.labels(route, str(response.status_code)).inc()
        srv.metrics.latency.labels(route).observe(time.perf_counter() - t0)
        return response

    @app.get("/health")
    async def health() -> JSONResponse:
        if engine.error:
            return JSONResponse({"status": "failed"}, status_code=503)
        if not engine.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ready", "models": len(engine.models())})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(srv.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models(request: Request) -> JSONResponse:
        p = await run_in_threadpool(srv.principal, request)
        await run_in_threadpool(srv.check, p, "models", action="list")
        rp = srv.policy.role(p.role)
        data = [{"id": m.id, "object": "model", "created": m.created, "owned_by": "privtune"}
                for m in (engine.models() if engine.ready else []) if rp.may_query(m.id)]
        return JSONResponse({"object": "list", "data": data})

    @app.post("/v1/chat/completions", response_model=None, openapi_extra=_body(ChatRequest))
    async def chat(request: Request) -> Response:
        return await _complete(srv, request, ChatRequest)

    @app.post("/v1/completions", response_model=None, openapi_extra=_body(CompletionRequest))
    async def completions(request: Request) -> Response:
        return await _complete(srv, request, CompletionRequest)

    return app


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The request body's JSON schema for the OpenAPI document (the routes read and validate
    the body themselves, after the size limit and the key check), ``$defs`` inlined."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.split("/")[-1]])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": inline(schema)}}}}


class _EventStream(StreamingResponse):
    """The SSE stream of a run, read in worker threads. However the response ends (done, or the
    client went away and the ASGI task was cancelled) the generator is closed in a shielded
    scope: the model stops, the key's concurrency slot is freed, the request is audited."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._it = run.stream()

        async def body() -> AsyncIterator[bytes]:
            while True:
                chunk = await run_in_threadpool(next, self._it, None)
                if chunk is None:
                    break
                yield chunk

        super().__init__(body(), media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache"})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(self._close)

    def _close(self) -> None:
        self._it.close()  # runs the stream's own finally (audit "cancelled") if it had started
        if not self._run.finished:
            self._run.abandon()


_ROUTES = frozenset({"/health", "/metrics", "/v1/models", "/v1/chat/completions",
                     "/v1/completions"})


async def _complete(srv: _Server, request: Request, kind: type[_GenRequest]) -> Response:
    t0 = time.perf_counter()
    p = await run_in_threadpool(srv.principal, request)
    body = await _read_body(request, srv, p)
    wait = srv.rate.take(p.key_id)
    if wait > 0:
        srv.metrics.refusals.labels("rate_limit").inc()
        await run_in_threadpool(srv.refuse, p, "", "rate limit")
        raise ApiError(429, "rate limit reached for this API key; retry later",
                       "rate_limit_error", "rate_limit_exceeded",
                       headers={"Retry-After": str(max(1, int(wait + 0.999)))})
    req = await run_in_threadpool(_parse, srv, p, body, kind)
    await run_in_threadpool(srv.check, p, req.model[:200], stream=req.stream)
    model = await run_in_threadpool(_resolve, srv, p, req.model)
    flags = await run_in_threadpool(_screen, srv, p, model, req)
    if not srv.concurrency.acquire(p.key_id):
        srv.metrics.refusals.labels("concurrency").inc()
        await run_in_threadpool(srv.refuse, p, model.id, "too many concurrent requests")
        raise ApiError(429, "too many concurrent requests for this API key",
                       "rate_limit_error", "concurrency_limit_exceeded",
                       headers={"Retry-After": "1"})
    try:
        run = _Run(srv, p, model, req, t0, flags)
        key_text = request.headers.get("authorization", "").partition(" ")[2].strip()
        run.recheck = lambda: srv.keys.authenticate(key_text)
        if req.stream:
            return _EventStream(run)
        out = await run_in_threadpool(run.whole)
        return JSONResponse(out)
    except BaseException:
        srv.concurrency.release(p.key_id)
        raise


async def _read_body(request: Request, srv: _Server, p: Principal) -> bytes:
    limit = srv.settings.max_body_bytes
    declared = request.headers.get("content-length")
    too_big = declared is not None and declared.isdigit() and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    if not too_big:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                too_big = True
                break
            chunks.append(chunk)
    if too_big:
        srv.metrics.refusals.labels("body_too_large").inc()
        await run_in_threadpool(srv.refuse, p, "", "request body too large", limit=limit)
        raise ApiError(413, f"request body larger than {limit} bytes", "invalid_request_error",
                       "request_too_large")
    return b"".join(chunks)


def _parse(srv: _Server, p: Principal, body: bytes, kind: type[_GenRequest]) -> _GenRequest:
    def bad(message: str, param: str | None) -> ApiError:
        srv.metrics.refusals.labels("bad_request").inc()
        srv.refuse(p, "", "bad request", param=param or "")
        return ApiError(400, message, "invalid_request_error", "invalid_request", param)

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad("the request body is not valid JSON", None) from None
    if not isinstance(data, dict):
        raise bad("the request body must be a JSON object", None)
    try:
        req = kind.model_validate(data)
        req.conversation()
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(x) for x in err.get("loc", ())) or None
        # the message names the field and the rule, never the value sent
        raise bad(f"invalid request: {param}: {err.get('msg', 'invalid')}", param) from None
    except ValueError as exc:
        field = "messages" if kind is ChatRequest else "prompt"
        raise bad(f"invalid request: {field}: {exc}", field) from None
    try:
        req.stops()
    except ValueError as exc:
        raise bad(f"invalid request: stop: {exc}", "stop") from None
    limit = srv.settings.max_tokens
    asked = req.asked_tokens()
    if asked is not None and asked > limit:
        raise bad(f"max_tokens may be at most {limit}", "max_tokens")
    return req


def _resolve(srv: _Server, p: Principal, name: str) -> ServedModel:
    try:
        if not srv.engine.ready:
            raise ApiError(503, "the server is still loading its models", "server_error",
                           "loading", headers={"Retry-After": "5"})
        return srv.engine.resolve(name)
    except NotFoundError as exc:
        srv.metrics.refusals.labels("model_not_found").inc()
        srv.refuse(p, name[:200], "model not served")
        raise ApiError(404, exc.message, "invalid_request_error", "model_not_found", "model") from None
    except PrivacyPolicyError as exc:
        srv.metrics.refusals.labels("model_not_released").inc()
        srv.refuse(p, name[:200], "model no longer released")
        raise ApiError(403, exc.message, "permission_error", "model_not_released", "model") from None


def _screen(srv: _Server, p: Principal, model: ServedModel, req: _GenRequest) -> tuple[str, ...]:
    """The policy's role rule (the model) and input screening; refusals are audited (the rule's
    name, never the text). Returns the flags to record with the request."""
    if not srv.policy.role(p.role).may_query(model.id):
        srv.metrics.refusals.labels("model_not_allowed").inc()
        srv.refuse(p, model.id, f"policy: role {p.role} may not query this model")
        raise ApiError(403, f"role {p.role} may not query '{model.id}' (serving policy)",
                       "permission_error", "model_not_allowed", "model")
    conv = req.conversation()
    text = conv if isinstance(conv, str) else "\n".join(m["content"] for m in conv)
    got = srv.policy.screen(text, srv.redactor.detector)
    if got.refused is not None:
        srv.metrics.refusals.labels(f"screening_{got.refused}").inc()
        srv.refuse(p, model.id, f"screening: {got.refused}")
        what = {"injection": "a prompt-injection pattern",
                "exfiltration": "a data-exfiltration pattern",
                "named_person": "a request about a named person or a pseudonym"}[got.refused]
        raise ApiError(400, f"request refused by the serving policy: {what}",
                       "invalid_request_error", "content_refused", "messages"
                       if isinstance(req, ChatRequest) else "prompt")
    return got.flags


class _KeyRevoked(Exception):
    """The caller's key stopped being valid while its answer was being generated."""


class _Run:
    """One completion: generate, mask, count, audit; as one answer or as SSE chunks."""

    def __init__(self, srv: _Server, p: Principal, model: ServedModel, req: _GenRequest,
                 t0: float, flags: tuple[str, ...] = ()) -> None:
        self.srv, self.p, self.model, self.req, self.t0 = srv, p, model, req, t0
        self.flags = flags
        self.keep_pseudonyms = srv.policy.role(p.role).show_pseudonyms
        #: Raises AuthFailure once the caller's key is revoked or expired (or its user
        #: disabled): a long answer stops within a second of it.
        self.recheck: Callable[[], object] | None = None
        self.chat = isinstance(req, ChatRequest)
        self.id = _new_id() if self.chat else "cmpl-" + uuid.uuid4().hex[:24]
        self.created = int(time.time())
        self.max_tokens = req.asked_tokens() or srv.settings.default_max_tokens
        self.finished = False

    def _pieces(self) -> tuple[Iterator[str], Any, Any]:
        gen = self.srv.engine.generate(
            self.model, self.req.conversation(), max_tokens=self.max_tokens,
            temperature=self.req.temperature, top_p=self.req.top_p, stop=self.req.stops(),
            timeout_s=self.srv.settings.timeout_s)
        red = self.srv.redactor.stream(keep_pseudonyms=self.keep_pseudonyms)

        def masked() -> Iterator[str]:
            for piece in gen:
                if self.recheck is not None:
                    try:  # the key is re-read at most once a second (KeyCache.recheck_s)
                        self.recheck()
                    except AuthFailure:
                        raise _KeyRevoked from None
                out = red.feed(piece)
                if out:
                    yield out
            tail = red.finish()
            if tail:
                yield tail

        return masked(), gen, red

    def _usage(self, gen: Any) -> dict[str, int]:
        return {"prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
                "total_tokens": gen.prompt_tokens + gen.completion_tokens}

    def abandon(self) -> None:
        """The stream was dropped before it started: free the slot, audit the cancellation."""
        from privtune.serve.engine import Generation

        self._finish(Generation(iter(())), self.srv.redactor.stream(), "cancelled")

    def _finish(self, gen: Any, red: Any, outcome: str) -> None:
        if self.finished:
            return
        self.finished = True
        gen.cancel()
        m = self.srv.metrics
        m.tokens.labels("prompt").inc(gen.prompt_tokens)
        m.tokens.labels("completion").inc(gen.completion_tokens)
        for kind, n in red.counts.items():
            m.redactions.labels(kind).inc(n)
        self.srv.concurrency.release(self.p.key_id)
        self.srv.done(self.p, self.model.id, {
            "release": self.model.release_id, "stream": self.req.stream, "outcome": outcome,
            "api": "chat" if self.chat else "completions",
            "prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
            "finish_reason": gen.finish_reason, "redactions": red.total,
            "redacted": dict(sorted(red.counts.items())),
            "latency_ms": round((time.perf_counter() - self.t0) * 1000, 1),
            **({"flagged": list(self.flags)} if self.flags else {})})

    def whole(self) -> dict[str, Any]:
        pieces, gen, red = self._pieces()
        try:
            text = "".join(pieces)
        except _KeyRevoked:
            self._finish(gen, red, "revoked")
            raise ApiError(401, "the API key was revoked during the request",
                           "invalid_request_error", "invalid_api_key") from None
        except Exception:
            self._finish(gen, red, "error")
            raise ApiError(500, "the model failed while generating", "server_error",
                           "generation_failed") from None
        self._finish(gen, red, "ok")
        if not self.chat:
            return {"id": self.id, "object": "text_completion", "created": self.created,
                    "model": self.model.id, "system_fingerprint": None,
                    "choices": [{"index": 0, "text": text, "logprobs": None,
                                 "finish_reason": gen.finish_reason}],
                    "usage": self._usage(gen)}
        return {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.model.id, "system_fingerprint": None,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "logprobs": None, "finish_reason": gen.finish_reason}],
                "usage": self._usage(gen)}

    def stream(self) -> Generator[bytes, None, None]:
        include_usage = bool(self.req.stream_options and self.req.stream_options.include_usage)
        base = {"id": self.id, "object": "chat.completion.chunk" if self.chat else
                "text_completion", "created": self.created, "model": self.model.id,
                "system_fingerprint": None}

        def chunk(delta: dict[str, Any], finish: str | None) -> bytes:
            choice: dict[str, Any] = ({"index": 0, "delta": delta} if self.chat else
                                      {"index": 0, "text": delta.get("content", "")})
            c = {**base, "choices": [{**choice, "logprobs": None, "finish_reason": finish}]}
            if include_usage:
                c["usage"] = None
            return _sse(c)

        pieces, gen, red = self._pieces()
        outcome = "cancelled"
        try:
            if self.chat:
                yield chunk({"role": "assistant", "content": ""}, None)
            for text in pieces:
                yield chunk({"content": text}, None)
            yield chunk({}, gen.finish_reason)
            if include_usage:
                yield _sse({**base, "choices": [], "usage": self._usage(gen)})
            outcome = "ok"
        except _KeyRevoked:
            outcome = "revoked"
            yield _sse({"error": {"message": "the API key was revoked during the request",
                                  "type": "invalid_request_error", "param": None,
                                  "code": "invalid_api_key"}})
        except Exception:
            outcome = "error"
            yield _sse({"error": {"message": "the model failed while generating",
                                  "type": "server_error", "param": None,
                                  "code": "generation_failed"}})
        finally:
            self._finish(gen, red, outcome)
        yield b"data: [DONE]\n\n"
