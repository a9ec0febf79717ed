"""The console app: FastAPI serving server-rendered pages (Jinja2, auto-escaped) over one
workspace, as the signed-in user.

Login is by workspace API key (Argon2id-verified once by the serving stack's
:class:`~privtune.serve.auth.KeyCache`) into a server-side session (:mod:`.session`); the key is
never kept. Every request re-reads the key's and user's state (a revocation, expiry, disabled
user or role change takes effect on the next request). Every page and action is checked by the
workspace's :class:`~privtune.access.guard.Guard` as that user (audited first, like the CLI):
a refusal is a 403 page and a deny event. Every form carries the session's CSRF token; a POST
without it, or from another origin, is refused (403) and audited. Every response carries a
strict Content-Security-Policy (no script at all; styles only from the console's own
stylesheet; no external asset, no frame), ``no-store`` caching, ``nosniff`` and a same-origin
referrer policy (nothing leaves for another site).
The workspace is used under one lock (SQLite metadata and the audit log are single-writer):
requests are served concurrently, their workspace work one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from privtune.access.admin import in_lockdown
from privtune.access.principal import Principal
from privtune.access.users import AuthFailure
from privtune.audit.query import FORMATS, OUTCOMES
from privtune.errors import InputError, NotFoundError, PermissionDenied, PrivtuneError
from privtune.serve.auth import KeyCache
from privtune.workspace import Workspace

from . import pages
from .session import Session, Sessions, csrf_ok

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
MAX_FORM_BYTES = 16 * 1024
STATIC_CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f7f7f5}
header{background:#20303f;color:#fff;padding:.5rem 1rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
header a{color:#dfe9f3;text-decoration:none}header a.on{color:#fff;font-weight:bold}
header .who{margin-left:auto;font-size:.9rem}header form{display:inline}
main{padding:1rem 1.5rem;max-width:1200px}
table{border-collapse:collapse;margin:.5rem 0 1rem;background:#fff}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;font-size:.9rem;vertical-align:top}
th{background:#eef1f4}.pass{color:#1d6b36;font-weight:bold}.fail{color:#a11;font-weight:bold}
.note{background:#fff7e0;border:1px solid #e0c060;padding:.5rem;margin:.5rem 0}
.err{background:#fde8e8;border:1px solid #d66;padding:.5rem;margin:.5rem 0}
.ok{background:#e6f4ea;border:1px solid #6a6;padding:.5rem;margin:.5rem 0}
pre{background:#fff;border:1px solid #ccc;padding:.5rem;overflow:auto;max-height:24rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{background:#fff;border:1px solid #ccc;padding:.5rem 1rem;min-width:9rem}
.card b{font-size:1.4rem;display:block}svg{background:#fff;margin:.25rem 0}
button{cursor:pointer}label{margin-right:.5rem}.mono{font-family:monospace}
"""


@dataclass(frozen=True)
class ConsoleSettings:
    idle_s: float = 1800.0
    max_age_s: float = 8 * 3600.0
    key_ttl_s: float = 300.0
    key_recheck_s: float = 1.0


class Denied(Exception):
    """A refusal to show as a page (status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Console:
    def __init__(self, ws: Workspace, *, secure: bool, lock: threading.Lock,
                 settings: ConsoleSettings) -> None:
        self.ws, self.secure, self.lock = ws, secure, lock
        self.keys = KeyCache(ws.store, ttl_s=settings.key_ttl_s,
                             recheck_s=settings.key_recheck_s)
        self.sessions = Sessions(idle_s=settings.idle_s, max_age_s=settings.max_age_s)
        self.cookie = "__Host-privtune" if secure else "privtune_session"
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("privtune.console", "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined)
        self.env.filters["ts"] = _ts
        self.env.filters["num"] = _num

    # ------------------------------------------------------------ the workspace, as a user
    @contextmanager
    def acting(self, p: Principal | None) -> Iterator[Workspace]:
        """The workspace with ``p`` as its principal, under the lock (one request at a time
        reads or writes it); the operator's is put back however the block ends."""
        with self.lock:
            before, self.ws.access.principal = self.ws.access.principal, p
            try:
                yield self.ws
            finally:
                self.ws.access.principal = before

    def locked(self) -> bool:
        return in_lockdown(self.ws.store)

    def auth_failure(self, key_id: str, reason: str) -> None:
        with self.acting(None) as ws:
            ws.access.record_auth_failure(key_id, f"console: {reason}")

    def refuse(self, p: Principal | None, op: str, obj: str, reason: str) -> None:
        """Audit a refusal that is not the role's (CSRF, origin)."""
        with self.acting(None) as ws:
            ws.audit.append(actor=p.user_id if p else "-", role=p.role if p else "-",
                            key_id=p.key_id if p else "", op=op, object=obj[:200],
                            outcome="deny", reason=reason)

    # ------------------------------------------------------------ sessions
    def session_of(self, request: Request) -> tuple[str | None, Session | None]:
        sid = request.cookies.get(self.cookie)
        return sid, self.sessions.get(sid)

    def set_cookie(self, response: Response, sid: str) -> None:
        response.set_cookie(self.cookie, sid, httponly=True, secure=self.secure,
                            samesite="strict", path="/")

    def current(self, sess: Session) -> Principal:
        """The session's principal as the store has it now; AuthFailure ends the session."""
        assert sess.principal is not None
        p = self.keys.current(sess.principal)
        sess.principal = p
        return p

    def render(self, name: str, request: Request, sess: Session | None, status: int = 200,
               **ctx: Any) -> HTMLResponse:
        p = sess.principal if sess else None
        locked = self.locked() if p else False
        nav = [(href, label, page == ctx.get("page")) for href, label, page in pages.NAV
               if p is not None and pages.may_open(p.role, page, lockdown=locked)]
        html = self.env.get_template(name).render(
            request_path=request.url.path, who=p, csrf=sess.csrf if sess else "", nav=nav,
            lockdown=locked, **ctx)
        return HTMLResponse(html, status_code=status)


def _ts(v: Any) -> str:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return "" if v is None else str(v)[:19].replace("T", " ")


def _num(v: Any, digits: int = 4) -> str:
    if isinstance(v, bool) or v is None:
        return "—" if v is None else str(v)
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


async def _form(request: Request) -> dict[str, str]:
    """A url-encoded form body (at most MAX_FORM_BYTES), one value per field."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise Denied(413, "form too large")
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype != "application/x-www-form-urlencoded":
        raise Denied(415, "forms are sent url-encoded")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise Denied(400, "malformed form") from None
    return {k: v[0] for k, v in fields.items()}


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def _safe_next(path: str | None) -> str:
    """Only a local path (no scheme, no host, no backslash): an open redirect otherwise."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path[:300]


def create_console(ws: Workspace, *, secure: bool = False,
                   settings: ConsoleSettings | None = None,
                   lock: threading.Lock | None = None) -> FastAPI:
    """The console app over ``ws`` (opened by the operator; ``service.build`` checks
    ``console.serve``). ``secure``: served over TLS (the cookie is ``Secure`` and
    ``__Host-`` prefixed)."""
    con = Console(ws, secure=secure, lock=lock or threading.Lock(),
                  settings=settings or ConsoleSettings())
    app = FastAPI(title="privtune console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = con

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        try:
            response = await call_next(request)
        except Denied as exc:
            response = PlainTextResponse(exc.message, status_code=exc.status)
        h = response.headers
        h["Content-Security-Policy"] = CSP
        h["X-Content-Type-Options"] = "nosniff"
        # same-origin (not no-referrer): Chromium then sends the real Origin on our own form
        # posts (no-referrer makes it "null"), and nothing to other sites
        h["Referrer-Policy"] = "same-origin"
        h["X-Frame-Options"] = "DENY"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Cross-Origin-Resource-Policy"] = "same-origin"
        h.setdefault("Cache-Control", "no-store")
        if secure:
            h["Strict-Transport-Security"] = "max-age=31536000"
        return response

    @app.exception_handler(Denied)
    async def _denied(request: Request, exc: Denied) -> Response:
        _, sess = con.session_of(request)
        return con.render("error.html", request, sess, exc.status, page="",
                          title=f"{exc.status}", message=exc.message)

    @app.exception_handler(404)
    async def _not_found(request: Request, exc: Exception) -> Response:
        _, sess = con.session_of(request)
        return con.render("error.html", request, sess, 404, page="", title="404",
                          message="no such page")

    @app.exception_handler(405)
    async def _bad_method(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("method not allowed", status_code=405)

    # ------------------------------------------------------------ the request cycle
    async def signed_in(request: Request) -> tuple[Session, Principal] | RedirectResponse:
        sid, sess = con.session_of(request)
        if sess is None or sess.principal is None:
            target = "/login?" + urlencode({"next": _safe_next(request.url.path)})
            return RedirectResponse(target, status_code=303)
        try:
            p = await run_in_threadpool(con.current, sess)
        except AuthFailure as exc:
            con.sessions.drop(sid)
            await run_in_threadpool(con.auth_failure, exc.key_id, exc.message)
            return RedirectResponse("/login", status_code=303)
        return sess, p

    def run_as(p: Principal, work: Callable[[Workspace], Any]) -> Any:
        """``work`` on the workspace as ``p``: its checks (the page's operation first, then the
        library's own) are audited; refusals become pages."""
        with con.acting(p) as ws:
            try:
                return work(ws)
            except PermissionDenied as exc:
                raise Denied(403, exc.message) from None
            except NotFoundError as exc:
                raise Denied(404, exc.message) from None
            except InputError as exc:
                raise Denied(400, exc.message) from None

    async def show(request: Request, page: str, template: str, arg: Any = None,
                   obj: str = "") -> Response:
        who = await signed_in(request)
        if isinstance(who, RedirectResponse):
            return who
        sess, p = who
        data = await run_in_threadpool(run_as, p,
                                       lambda ws: pages.view(ws, page, arg, obj=obj))
        return con.render(template, request, sess, page=PAGE_OF.get(page, page), data=data)

    async def posted(request: Request, op: str, obj: str
                     ) -> tuple[Session, Principal, dict[str, str]] | RedirectResponse:
        """A signed-in POST with its form, after the CSRF and origin checks (audited)."""
        who = await signed_in(request)
        if isinstance(who, RedirectResponse):
            return who
        sess, p = who
        form = await _form(request)
        if not _same_origin(request):
            await run_in_threadpool(con.refuse, p, op, obj, "console: cross-origin form post")
            raise Denied(403, "cross-origin form posts are refused")
        if not csrf_ok(sess, form.get("csrf")):
            await run_in_threadpool(con.refuse, p, op, obj, "console: missing or wrong CSRF "
                                    "token")
            raise Denied(403, "missing or wrong CSRF token: reload the page and try again")
        return sess, p, form

    # ------------------------------------------------------------ static
    @app.get("/static/console.css")
    async def css() -> Response:
        return Response(STATIC_CSS, media_type="text/css",
                        headers={"Cache-Control": "public, max-age=3600"})

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)

    # ------------------------------------------------------------ login / logout
    @app.get("/login")
    async def login_page(request: Request, next: str = "/") -> Response:
        sid, sess = con.session_of(request)
        if sess is not None and sess.principal is not None:
            return RedirectResponse(_safe_next(next), status_code=303)
        fresh = sess is None
        if sess is None:
            sid, sess = con.sessions.new()
        resp = con.render("login.html", request, sess, page="", next=_safe_next(next),
                          error="")
        if fresh and sid:
            con.set_cookie(resp, sid)
        return resp

    @app.post("/login")
    async def login(request: Request) -> Response:
        sid, sess = con.session_of(request)
        form = await _form(request)
        if not _same_origin(request) or sess is None or not csrf_ok(sess, form.get("csrf")):
            await run_in_threadpool(con.refuse, None, "auth", "console",
                                    "console: login without a valid CSRF token")
            raise Denied(403, "missing or wrong CSRF token: reload the login page")
        key = form.get("api_key", "").strip()
        try:
            p = await run_in_threadpool(con.keys.authenticate, key)
        except AuthFailure as exc:
            await run_in_threadpool(con.auth_failure, exc.key_id, exc.message)
            return con.render("login.html", request, sess, 401, page="",
                              next=_safe_next(form.get("next")),
                              error="sign-in failed: invalid, revoked or expired API key")
        # a new session for the signed-in user: an id known before login is worth nothing now
        con.sessions.drop(sid)
        new_sid, _ = con.sessions.new(p)
        with_detail = {"action": "login", "via": "console"}
        await run_in_threadpool(_audit_login, con, p, with_detail)
        resp = RedirectResponse(_safe_next(form.get("next")), status_code=303)
        con.set_cookie(resp, new_sid)
        return resp

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        got = await posted(request, "auth", "console")
        if isinstance(got, RedirectResponse):
            return got
        sid, _ = con.session_of(request)
        con.sessions.drop(sid)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(con.cookie, path="/", secure=con.secure, httponly=True,
                           samesite="strict")
        return resp

    # ------------------------------------------------------------ pages
    @app.get("/")
    async def overview(request: Request) -> Response:
        return await show(request, "overview", "overview.html")

    @app.get("/audits")
    async def audits(request: Request) -> Response:
        return await show(request, "audits", "audits.html")

    @app.get("/audits/{audit_id}")
    async def audit(request: Request, audit_id: str) -> Response:
        return await show(request, "audit", "audit.html", audit_id, obj=audit_id[:64])

    @app.post("/audits/{audit_id}/release")
    async def release(request: Request, audit_id: str) -> Response:
        got = await posted(request, "release.approve", audit_id)
        if isinstance(got, RedirectResponse):
            return got
        sess, p, _ = got

        def work(ws: Workspace) -> tuple[Any, str, Any]:
            try:
                outcome, refusal = pages.release_from_audit(ws, audit_id), ""
            except PermissionDenied:
                raise
            except PrivtuneError as exc:  # the gate's refusal, shown on the audit's page
                # (an audit that does not exist is a 404: the page below raises it)
                outcome, refusal = None, exc.message
            return outcome, refusal, pages.view(ws, "audit", audit_id, obj=audit_id[:64])

        outcome, refusal, data = await run_in_threadpool(run_as, p, work)
        return con.render("audit.html", request, sess, 409 if refusal else 200,
                          page="audits", data=data, outcome=outcome, refusal=refusal)

    def log_query(request: Request) -> pages.LogQuery:
        qp = request.query_params
        outcome = qp.get("outcome", "")
        if outcome and outcome not in OUTCOMES:
            raise Denied(400, "outcome is allow or deny")
        before = qp.get("before", "")
        if before and not before.isdigit():
            raise Denied(400, "before is an event number")
        return pages.LogQuery(actor=qp.get("actor", "")[:40], op=qp.get("op", "")[:40],
                              object=qp.get("object", "")[:200], outcome=outcome,
                              before=int(before) if before else None)

    @app.get("/audit-log")
    async def audit_log(request: Request) -> Response:
        q = log_query(request)
        who = await signed_in(request)
        if isinstance(who, RedirectResponse):
            return who
        sess, p = who
        data = await run_in_threadpool(run_as, p, lambda ws: pages.view(ws, "audit-log", q))
        older = None if data["older"] is None else \
            "/audit-log?" + urlencode({**q.params(), "before": data["older"]})
        return con.render("audit_log.html", request, sess, page="audit-log", data=data,
                          q=q, older=older, verified="")

    @app.post("/audit-log/verify")
    async def audit_verify(request: Request) -> Response:
        got = await posted(request, "audit.read", "audit-log")
        if isinstance(got, RedirectResponse):
            return got
        sess, p, _ = got
        q = pages.LogQuery()
        line = await run_in_threadpool(run_as, p, lambda ws: pages.view(ws, "audit-verify"))
        data = await run_in_threadpool(run_as, p, lambda ws: pages.view(ws, "audit-log", q))
        older = None if data["older"] is None else f"/audit-log?before={data['older']}"
        return con.render("audit_log.html", request, sess, page="audit-log", data=data, q=q,
                          older=older, verified=line)

    @app.get("/audit-log/export")
    async def audit_export(request: Request, fmt: str = "jsonl") -> Response:
        if fmt not in FORMATS:  # the file name is fixed; fmt only picks one of two
            raise Denied(400, f"format is one of {', '.join(FORMATS)}")
        q = log_query(request)
        who = await signed_in(request)
        if isinstance(who, RedirectResponse):
            return who
        _, p = who
        text = await run_in_threadpool(run_as, p,
                                       lambda ws: pages.view(ws, "audit-export", (fmt, q)))
        media = "text/csv" if fmt == "csv" else "application/x-ndjson"
        return Response(text, media_type=media, headers={
            "Content-Disposition": f'attachment; filename="audit-log.{fmt}"'})

    @app.get("/runs")
    async def runs(request: Request) -> Response:
        return await show(request, "runs", "runs.html")

    @app.get("/runs/{run_id}")
    async def run(request: Request, run_id: str) -> Response:
        return await show(request, "run", "run.html", run_id, obj=run_id[:64])

    @app.get("/datasets")
    async def datasets(request: Request) -> Response:
        return await show(request, "datasets", "datasets.html")

    @app.post("/datasets/reveal")
    async def reveal(request: Request) -> Response:
        got = await posted(request, "data.read", "employees")
        if isinstance(got, RedirectResponse):
            return got
        sess, p, form = got
        column = form.get("column", "")

        def work(ws: Workspace) -> dict[str, Any]:
            value = pages.reveal(ws, column)
            data: dict[str, Any] = pages.view(ws, "datasets")
            data["revealed"] = {"column": column, "value": value}
            return data

        data = await run_in_threadpool(run_as, p, work)
        return con.render("datasets.html", request, sess, page="datasets", data=data)

    @app.get("/requests")
    async def requests_page(request: Request) -> Response:
        return await show(request, "requests", "list.html")

    @app.get("/retention")
    async def retention_page(request: Request) -> Response:
        return await show(request, "retention", "list.html")

    @app.get("/alerts")
    async def alerts_page(request: Request) -> Response:
        return await show(request, "alerts", "list.html")

    @app.get("/incidents")
    async def incidents_page(request: Request) -> Response:
        return await show(request, "incidents", "list.html")

    return app


#: A view's page in the navigation.
PAGE_OF = {"audit": "audits", "run": "runs"}


def _audit_login(con: Console, p: Principal, detail: dict[str, Any]) -> None:
    with con.acting(None) as ws:
        ws.audit.append(actor=p.user_id, role=p.role, key_id=p.key_id, op="auth",
                        object="console", outcome="allow", reason="", detail=detail)


#: Every route of the console (tests/console check each for status codes and headers).
ROUTES = ("/login", "/logout", "/", "/audits", "/audits/{audit_id}",
          "/audits/{audit_id}/release", "/audit-log", "/audit-log/verify", "/audit-log/export",
          "/runs", "/runs/{run_id}", "/datasets", "/datasets/reveal", "/requests", "/retention",
          "/alerts", "/incidents", "/static/console.css", "/favicon.ico")
