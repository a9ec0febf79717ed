"""The console in a real browser: Playwright driving Debian's Chromium (``/usr/bin/chromium``;
``playwright install``'s own build cannot run here).

One workspace with a trained adapter (a tiny model, no DP) that passed its audit under a
permissive workspace policy, four-eyes on releases (``release_approval: other-user``). Each role
signs in through the login form and sees what it may; a viewer typing the audit and release URLs
gets 403 pages and deny events; two DPOs approve the release end to end (the first approval
cannot also release); a page that would run an injected script does not; every page is
screenshotted (``test-artifacts/console/*.png``, checked non-empty); no employee's name or
e-mail is in any page's HTML, for any role.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from privtune.store.audit_models import AuditEvent

from .conftest import ADMIN_KEY, add_users, live

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("PRIVTUNE_TEST_ARTIFACTS", REPO / "test-artifacts")) / "console"

SMALL = [
    "company.employees=24", "company.seed=5",
    "model.tiny.steps=10", "model.tiny.warmup=2", "model.tiny.batch_size=8",
    "model.tiny.seq_len=64", "model.tiny.model.hidden_size=32",
    "model.tiny.model.intermediate_size=64", "model.tiny.model.num_hidden_layers=1",
    "model.tiny.model.vocab_size=512", "dataset.val_fraction=0.5",
    "train.steps=10", "train.batch_size=8", "train.lr=0.01", "train.eval_every=5",
    "train.warmup_steps=2", "dp.enabled=false",
]
CHEAP_AUDIT = ["exposure.candidates=20", "mia.reference_models=0", "extraction.employees=0",
               "extraction.samples=0", "prompt_attacks.enabled=false"]


def _chromium_or_skip() -> None:
    if Path(CHROMIUM).is_file():
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI: no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium)")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); CI runs these")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Any:
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=ARGS, headless=True,
            viewport={"width": 1280, "height": 900})
        yield ctx
        ctx.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, make_workspace: Any) -> Any:
    """A workspace with a released-able adapter: trained, audited and passed."""
    from privtune.attacks.spec import AuditSpec
    from privtune.config import load_config
    from privtune.console.service import build
    from privtune.gate.audit import run_audit
    from privtune.gate.policy import GatePolicy
    from privtune.gate.workspace_policy import set_policy
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.run import run_stages
    from privtune.pipeline.site import gate_site
    from privtune.synth import generate_company

    _chromium_or_skip()
    root = tmp_path_factory.mktemp("console-e2e")
    cfg = load_config(PipelineConfig, None, SMALL)
    export = root / "export"
    generate_company(24, 5, export, fmt="csv")
    ws = make_workspace(root / "ws")
    stages = run_stages(ws, cfg, export, stop="train")
    adapter = stages.train.record.ref
    permissive = GatePolicy(canary_exposure_max=None, mia_auc_max=None,
                            mia_tpr_at_1pct_fpr_max=None, extraction_exact=None,
                            extraction_near=None, prompt_attack_leaks=None,
                            attribute_advantage_max=None, epsilon=None,
                            min_reference_models=0, min_candidates=0, min_subjects=0)
    set_policy(gate_site(ws), permissive)
    out = run_audit(gate_site(ws), adapter, load_config(AuditSpec, None, CHEAP_AUDIT))
    assert out.passed
    keys = add_users(ws)
    ws.config.release_approval = "other-user"
    with open(export / "employees.csv", newline="") as f:
        people = list(csv.DictReader(f))
    planted = sorted({f"{p['first_name']} {p['last_name']}".lower() for p in people} |
                     {p["email"].lower() for p in people if p.get("email")})
    app = build(ws)
    with live(app) as url:
        yield {"ws": ws, "url": url, "keys": keys, "audit": out.audit_id, "adapter": adapter,
               "planted": planted}
    ws.close()


def _login(page: Any, url: str, key: str) -> None:
    page.context.clear_cookies()  # one browser profile: sign the last user out first
    page.goto(url + "/login")
    page.fill("#api_key", key)
    with page.expect_navigation():
        page.click("#login button[type=submit]")


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 2000, name


def _clean(html: str, planted: list[str]) -> None:
    low = html.lower()
    leaked = [p for p in planted if p in low]
    assert not leaked, f"{len(leaked)} employees' names or e-mails on the page"


PAGES = {"overview": "/", "audits": "/audits", "audit-log": "/audit-log", "runs": "/runs",
         "datasets": "/datasets", "requests": "/requests", "retention": "/retention",
         "alerts": "/alerts",
         "incidents": "/incidents"}


def test_every_page_for_every_role(trained, browser) -> None:
    from .test_http import MAY

    url = trained["url"]
    pages = {**PAGES, "audit": f"/audits/{trained['audit']}"}
    for role in ("admin", "data-steward", "ml-engineer", "auditor", "viewer", "dpo"):
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: errors.append(m.text)
                if m.type == "error" else None)
        page.on("dialog", lambda d: pytest.fail(f"a script ran: {d.message}"))
        _login(page, url, trained["keys"][role])
        assert page.url.rstrip("/") == url, page.url
        for name, path in pages.items():
            resp = page.goto(url + path)
            allowed = (path if name != "audit" else "/audits") in MAY[role]
            assert resp is not None and resp.status == (200 if allowed else 403), (role, path)
            _clean(page.content(), trained["planted"])
            if allowed:
                _shot(page, f"{role}-{name}")
        # the strict CSP let the console's own stylesheet through and blocked nothing of ours
        assert not [e for e in errors if "Content Security Policy" in e], errors
        page.close()


def test_viewer_guessing_release_urls_gets_403_and_deny_events(trained, browser) -> None:
    ws = trained["ws"]
    page = browser.new_page()
    _login(page, trained["url"], trained["keys"]["viewer"])
    with ws.store.session() as s:
        head = s.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    resp = page.goto(trained["url"] + f"/audits/{trained['audit']}")
    assert resp.status == 403 and "may not" in page.inner_text("#error")
    _shot(page, "viewer-403")
    with ws.store.session() as s:
        denies = list(s.scalars(select(AuditEvent).where(AuditEvent.seq > head,
                                                         AuditEvent.outcome == "deny")))
    assert denies and all(e.role == "viewer" for e in denies)
    page.close()


def test_release_end_to_end_with_four_eyes(trained, browser) -> None:
    from privtune.errors import PrivacyPolicyError
    from privtune.gate.release import release
    from privtune.pipeline.site import gate_site

    url, audit = trained["url"], trained["audit"]
    # the CLI's path (privtune release) honours four-eyes too: no first approval, no release
    ws = trained["ws"]
    with pytest.raises(PrivacyPolicyError, match="four-eyes"):
        release(gate_site(ws), trained["adapter"])
    first = browser.new_page()
    _login(first, url, trained["keys"]["dpo"])
    first.goto(url + f"/audits/{audit}")
    assert "would release" in first.inner_text("#gate")
    with first.expect_navigation():
        first.click("#release-button")
    assert "First approval recorded" in first.inner_text("#release-outcome")
    _shot(first, "dpo-first-approval")
    # the first approver cannot also release
    first.goto(url + f"/audits/{audit}")
    with first.expect_navigation():
        first.click("#release-button")
    assert "four-eyes" in first.content()
    first.close()
    # an ml-engineer sees the audit but no release button
    eng = browser.new_page()
    _login(eng, url, trained["keys"]["ml-engineer"])
    eng.goto(url + f"/audits/{audit}")
    assert eng.locator("#release-button").count() == 0
    eng.close()
    second = browser.new_page()
    _login(second, url, trained["keys"]["dpo2"])
    second.goto(url + f"/audits/{audit}")
    assert "waiting for a second approver" in second.inner_text("#first-approval")
    with second.expect_navigation():
        second.click("#release-button")
    assert "Released" in second.inner_text("#release-outcome")
    _shot(second, "dpo2-released")
    second.goto(url + "/")
    assert "released" in second.inner_text("#releases")
    second.close()
    from privtune.gate.registry import entries

    rows = entries(trained["ws"].store)
    assert [r.model_ref for r in rows if r.state == "released"] == [trained["adapter"]]
    # a DPO writes the release bundle with the CLI too (release.approve covers the adapter
    # and release-key reads)
    import contextlib
    import io

    from privtune.cli.main import run

    out = Path(trained["ws"].root).parent / "dpo-bundle"
    env = {"PRIVTUNE_API_KEY": trained["keys"]["dpo"]}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            code = run(["release", trained["adapter"], "--out", str(out), "-w",
                        str(trained["ws"].root)])
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert code == 0 and (out / "release.sig").is_file()


def test_forged_cross_site_form_is_refused(trained, browser, tmp_path) -> None:
    """A page on another origin posting the release form with the victim's cookie: refused
    (SameSite=Strict keeps the cookie home; the CSRF token and Origin check refuse it anyway)."""
    page = browser.new_page()
    _login(page, trained["url"], trained["keys"]["admin"])
    evil = tmp_path / "evil.html"
    evil.write_text(f'<form id="f" method="post" action="{trained["url"]}/audit-log/verify">'
                    '<input name="csrf" value="guess"></form>'
                    '<script>document.getElementById("f").submit()</script>')
    page.goto(evil.as_uri())
    page.wait_for_load_state()
    assert "verified" not in page.content()
    assert page.url.startswith(trained["url"] + "/login") or "403" in page.content() or \
        "CSRF" in page.content()
    page.close()


def test_injected_script_in_a_reflected_value_does_not_run(trained, browser) -> None:
    page = browser.new_page()
    ran: list[str] = []
    page.on("dialog", lambda d: (ran.append(d.message), d.dismiss()))
    _login(page, trained["url"], trained["keys"]["auditor"])
    bad = "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"
    page.goto(trained["url"] + f"/audits/{bad}")
    page.goto(trained["url"] + f"/audit-log?object={bad}")
    page.wait_for_load_state()
    assert "<img src=x" in page.inner_text("#events")  # shown as text
    assert ran == []
    page.close()


def test_screenshot_for_the_readme(trained, browser) -> None:
    """docs/img/console-audit.png is made from this page (see docs/console.md)."""
    page = browser.new_page()
    page.set_viewport_size({"width": 1000, "height": 1250})
    _login(page, trained["url"], ADMIN_KEY)
    page.goto(trained["url"] + f"/audits/{trained['audit']}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "readme-audit.png"))  # the first screen only
    assert (ARTIFACTS / "readme-audit.png").stat().st_size > 2000
    if os.environ.get("PRIVTUNE_UPDATE_SCREENSHOT"):
        shutil.copyfile(ARTIFACTS / "readme-audit.png", REPO / "docs" / "img" / "console-audit.png")
    page.close()
