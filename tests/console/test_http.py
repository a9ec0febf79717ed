"""Plain HTTP tests of every console route: status codes, security headers and cookies, the
login (session fixation, cookie flags), CSRF, role checks with their audit events, XSS through
reflected values, export path traversal, and no planted personal data on any page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from privtune.console.app import CSP, ROUTES
from privtune.store.audit_models import AuditEvent

from .conftest import AUDIT_ID, PLANTED, Client, no_planted

pytestmark = pytest.mark.slow  # one live console per module (~5 s to build)

PAGES = ("/", "/audits", "/audit-log", "/runs", "/datasets", "/requests", "/retention",
         "/alerts", "/incidents")
#: The pages each role may open (the role matrix: metadata.read, model.read or release.approve,
#: audit.read, alerts.manage, incident.manage).
MAY = {
    "admin": set(PAGES),
    "data-steward": {"/", "/runs", "/datasets", "/requests"},
    "ml-engineer": {"/", "/audits", "/runs", "/datasets", "/requests"},
    "auditor": {"/", "/audits", "/audit-log", "/runs", "/datasets", "/requests", "/retention",
                "/alerts"},
    "viewer": {"/", "/runs", "/datasets", "/requests"},
    "dpo": set(PAGES),
    "app": set(),
}


def _events(ws: Any, after: int = 0) -> list[AuditEvent]:
    with ws.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.seq > after)
                              .order_by(AuditEvent.seq)))


def _head(ws: Any) -> int:
    ev = _events(ws)
    return ev[-1].seq if ev else 0


def _signed_in(c: dict, role: str) -> Client:
    cl = Client(c["url"])
    status, _, _ = cl.login(c["keys"][role])
    assert status == 303, status
    return cl


def test_every_route_is_inventoried(console_ws) -> None:
    paths = {r.path for r in console_ws["app"].routes if hasattr(r, "methods")}
    assert paths == set(ROUTES)


def test_security_headers_on_every_route(console_ws) -> None:
    cl = _signed_in(console_ws, "admin")
    for path in (*PAGES, "/login", "/static/console.css", "/audits/audit-nope", "/nowhere"):
        status, h, _ = cl.get(path)
        assert status in (200, 303, 404), (path, status)
        assert h["content-security-policy"] == CSP, path
        assert "script-src" not in CSP and "'unsafe-inline'" not in CSP
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "same-origin" and h["x-frame-options"] == "DENY"
        if path != "/static/console.css":
            assert h["cache-control"] == "no-store", path


def test_signed_out_pages_redirect_to_login(console_ws) -> None:
    cl = Client(console_ws["url"])
    for path in PAGES + ("/audits/x", "/runs/x", "/audit-log/export?fmt=csv"):
        status, h, _ = cl.get(path)
        assert status == 303 and h["location"].startswith("/login?next="), path
    for path in ("/logout", "/audit-log/verify", "/datasets/reveal", "/audits/x/release"):
        status, h, _ = cl.request(path, {"csrf": "x"})
        assert status in (303, 403), path


def test_login_cookie_flags_and_fixation(console_ws) -> None:
    cl = Client(console_ws["url"])
    cl.csrf("/login")
    before = cl.cookie("privtune_session").value
    status, h, _ = cl.request("/login", {"csrf": cl.csrf("/login"),
                                         "api_key": console_ws["keys"]["auditor"]})
    assert status == 303
    cookie = h["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Path=/" in cookie and "Secure" not in cookie  # plain HTTP (TLS: test_tls)
    after = cl.cookie("privtune_session").value
    assert after != before, "the session id was not renewed at login (fixation)"
    # the planted (pre-login) id is not signed in
    attacker = Client(console_ws["url"])
    status, _, _ = attacker.get("/", headers={"Cookie": f"privtune_session={before}"})
    assert status == 303
    status, _, html = cl.get("/")
    assert status == 200 and "c-auditor" in html


def test_bad_key_is_refused_and_audited(console_ws) -> None:
    ws = console_ws["ws"]
    head = _head(ws)
    cl = Client(console_ws["url"])
    status, _, html = cl.login("ptk_0123456789ab_" + "A" * 43)
    assert status == 401 and "sign-in failed" in html
    assert any(e.op == "auth" and e.outcome == "deny" for e in _events(ws, head))


def test_login_without_csrf_is_refused(console_ws) -> None:
    cl = Client(console_ws["url"])
    cl.csrf("/login")
    status, _, _ = cl.request("/login", {"api_key": console_ws["keys"]["admin"]})
    assert status == 403
    assert cl.get("/")[0] == 303


def test_each_role_sees_its_pages_and_denials_are_audited(console_ws) -> None:
    ws = console_ws["ws"]
    for role, may in MAY.items():
        cl = _signed_in(console_ws, role)
        for path in PAGES:
            head = _head(ws)
            status, _, html = cl.get(path)
            if path in may:
                assert status == 200, (role, path, status)
            else:
                assert status == 403, (role, path, status)
                denies = [e for e in _events(ws, head) if e.outcome == "deny"]
                assert denies and denies[0].role == role, (role, path)
            no_planted(html)
        # the navigation links only what the role may open
        _, _, html = cl.get("/login")  # signed in: redirected
        status, _, home = cl.get("/")
        if status == 200:
            links = set(re.findall(r'<header>.*?</header>', home, re.S)[0].split('href="')[1:])
            linked = {x.split('"')[0] for x in links} - {"/static/console.css"}
            assert linked == may, (role, linked)


def test_plain_user_url_guessing_is_refused(console_ws) -> None:
    """A viewer guessing the audit, release and export URLs: 403 and a deny event each."""
    ws = console_ws["ws"]
    cl = _signed_in(console_ws, "viewer")
    for path in ("/audits", "/audits/audit-20990101-000000-abcdef", "/audit-log",
                 "/audit-log/export?fmt=jsonl", "/alerts", "/incidents"):
        head = _head(ws)
        status, _, _ = cl.get(path)
        assert status == 403, path
        assert [e for e in _events(ws, head) if e.outcome == "deny" and e.role == "viewer"]
    head = _head(ws)
    status, _, _ = cl.post("/audits/audit-20990101-000000-abcdef/release")
    assert status == 403
    assert [e for e in _events(ws, head) if e.outcome == "deny" and e.role == "viewer"]
    status, _, _ = cl.post("/datasets/reveal", {"column": "last_name"}, page="/datasets")
    assert status == 403


def test_csrf_less_and_cross_origin_posts_are_refused(console_ws) -> None:
    ws = console_ws["ws"]
    cl = _signed_in(console_ws, "auditor")
    for form in ({}, {"csrf": "forged"}):
        head = _head(ws)
        status, _, _ = cl.request("/audit-log/verify", form)
        assert status == 403
        assert any("CSRF" in e.reason for e in _events(ws, head))
    status, _, _ = cl.post("/audit-log/verify", headers={"Origin": "http://evil.example"})
    assert status == 403
    status, _, html = cl.post("/audit-log/verify", page="/audit-log")
    assert status == 200 and 'id="verified"' in html
    # a JSON body is not a form
    status, _, _ = cl.request("/audit-log/verify", raw=b'{"csrf": "x"}',
                              headers={"Content-Type": "application/json"})
    assert status == 415


def test_reflected_values_are_escaped(console_ws) -> None:
    cl = _signed_in(console_ws, "auditor")
    payload = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    from urllib.parse import quote

    status, _, html = cl.get("/audits/" + quote(payload, safe=""))
    assert status == 404 and "<script>alert(1)" not in html
    # the refused object is in the audit log, shown escaped
    status, _, html = cl.get("/audit-log?" + "object=" + quote(payload[:60], safe=""))
    assert status == 200
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html
    # the login page's next parameter: only local paths, escaped
    anon = Client(console_ws["url"])
    status, _, html = anon.get("/login?next=" + quote('"><script>alert(3)</script>', safe=""))
    assert "<script>alert(3)" not in html
    status, h, _ = anon.request("/login", {"csrf": anon.csrf("/login"), "next": "//evil.example/",
                                           "api_key": console_ws["keys"]["viewer"]})
    assert status == 303 and h["location"] == "/"


def test_export_is_fixed_names_only(console_ws) -> None:
    cl = _signed_in(console_ws, "auditor")
    status, h, body = cl.get("/audit-log/export?fmt=csv")
    assert status == 200 and h["content-disposition"] == 'attachment; filename="audit-log.csv"'
    assert body.startswith("seq,")
    no_planted(body)
    for fmt in ("../../etc/passwd", "csv/../../x", "jsonl%00", "..%2f..%2fprivtune.yaml"):
        status, _, _ = cl.get("/audit-log/export?fmt=" + fmt)
        assert status == 400, fmt
    for path in ("/static/../privtune.yaml", "/static/..%2f..%2fprivtune.yaml",
                 "/runs/..%2f..%2fprivtune.yaml", "/runs/../../metadata.db"):
        status, _, body = cl.get(path)
        assert status in (403, 404), path
        assert "db_url" not in body and "SQLite format" not in body


def test_audit_page_verdict_roc_and_gate(console_ws) -> None:
    ws = console_ws["ws"]
    auditor = _signed_in(console_ws, "auditor")
    status, _, html = auditor.get(f"/audits/{AUDIT_ID}")
    assert status == 200 and 'id="verdict"' in html and "FAILED" in html
    assert html.count("<svg") >= 2 and "<polyline" in html  # ROC and exposure, inline
    assert "would refuse" in html and 'id="release-form"' not in html  # not releasable
    dpo = _signed_in(console_ws, "dpo")
    status, _, html = dpo.get(f"/audits/{AUDIT_ID}")
    assert status == 200  # a DPO opens it through release.approve
    head = _head(ws)
    status, _, html = dpo.post(f"/audits/{AUDIT_ID}/release", page=f"/audits/{AUDIT_ID}")
    assert status == 409 and "The gate refused" in html
    assert not [e for e in _events(ws, head) if e.op == "release.approve"
                and '"approve-first"' in e.detail]
    for role in ("ml-engineer", "auditor"):  # may see, may not release
        head = _head(ws)
        cl = _signed_in(console_ws, role)
        status, _, _ = cl.post(f"/audits/{AUDIT_ID}/release", page=f"/audits/{AUDIT_ID}")
        assert status == 403
        assert [e for e in _events(ws, head) if e.op == "release.approve" and e.outcome == "deny"]


def test_pagination_and_filter(console_ws) -> None:
    cl = _signed_in(console_ws, "auditor")
    status, _, html = cl.get("/audit-log")
    assert status == 200
    seqs = [int(x) for x in re.findall(r"<tr><td>(\d+)</td>", html)]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 50
    m = re.search(r'href="(/audit-log\?before=\d+)" id="older"', html)
    assert m
    status, _, older = cl.get(m.group(1).replace("&amp;", "&"))
    more = [int(x) for x in re.findall(r"<tr><td>(\d+)</td>", older)]
    assert more and max(more) < min(seqs)
    status, _, html = cl.get("/audit-log?outcome=deny&op=auth")
    assert status == 200 and "allow</td>" not in html
    assert cl.get("/audit-log?outcome=maybe")[0] == 400
    assert cl.get("/audit-log?before=abc")[0] == 400


def test_pii_scan_is_masked_and_reveal_is_audited(console_ws) -> None:
    ws = console_ws["ws"]
    steward = _signed_in(console_ws, "data-steward")
    status, _, html = steward.get("/datasets")
    assert status == 200 and 'id="scan"' in html and "Xxxxxx" in html
    no_planted(html)
    head = _head(ws)
    status, _, html = steward.post("/datasets/reveal", {"column": "last_name"}, page="/datasets")
    assert status == 200 and PLANTED["last_name"] in html
    assert [e for e in _events(ws, head) if e.op == "data.read" and e.outcome == "allow"
            and '"reveal"' in e.detail]
    auditor = _signed_in(console_ws, "auditor")
    status, _, html = auditor.get("/datasets")
    assert status == 200 and 'id="scan"' not in html and "Reveal" not in html
    no_planted(html)


def test_revoked_key_ends_the_session(console_ws) -> None:
    from privtune.access import admin

    ws = console_ws["ws"]
    key = admin.add_user(ws.access, ws.store, "c-shortlived", "auditor")
    cl = Client(console_ws["url"])
    assert cl.login(key.secret)[0] == 303
    assert cl.get("/audit-log")[0] == 200
    admin.revoke_key(ws.access, ws.store, key.key_id)
    import time

    time.sleep(1.1)  # the key cache re-checks the store within a second
    assert cl.get("/audit-log")[0] == 303


def test_logout_ends_the_session(console_ws) -> None:
    cl = _signed_in(console_ws, "dpo")
    sid = cl.cookie("privtune_session").value
    status, h, _ = cl.post("/logout")
    assert status == 303 and h["location"] == "/login"
    replay = Client(console_ws["url"])
    assert replay.get("/", headers={"Cookie": f"privtune_session={sid}"})[0] == 303


def test_tls_cookie_is_secure_and_host_prefixed(console_ws, tmp_path) -> None:
    """Under TLS the session cookie is ``__Host-privtune; Secure`` (never sent over plain
    HTTP, bound to this host), and HSTS is set. Cookie theft without Secure: the plain-HTTP
    console's cookie lacks Secure (test_login_cookie_flags_and_fixation), so the console warns
    to use TLS off loopback (docs/console.md)."""
    import ssl

    from privtune.console.app import create_console
    from privtune.serve.service import self_signed_cert

    from .helpers import live

    cert, key = self_signed_cert("127.0.0.1", tmp_path / "cert.pem", tmp_path)
    app = create_console(console_ws["ws"], secure=True)
    ctx = ssl.create_default_context(cafile=str(cert))
    with live(app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        cl = Client(url, context=ctx)
        token = cl.csrf("/login")
        status, h, _ = cl.request("/login", {"csrf": token,
                                             "api_key": console_ws["keys"]["auditor"]})
        assert status == 303
        cookie = h["set-cookie"]
        assert cookie.startswith("__Host-privtune=") and "Secure" in cookie
        assert "HttpOnly" in cookie and "Path=/" in cookie and "Domain" not in cookie
        status, h, _ = cl.get("/audit-log")
        assert status == 200 and h["strict-transport-security"].startswith("max-age=")
        # the plain-HTTP cookie name is not accepted by the TLS console
        sid = cl.cookie("__Host-privtune").value
        other = Client(url, context=ctx)
        assert other.get("/", headers={"Cookie": f"privtune_session={sid}"})[0] == 303
