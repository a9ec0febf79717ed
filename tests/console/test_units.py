"""Fast tests of the console's parts: sessions (expiry, fixation, CSRF), the SVG plots
(escaped text, no script, no style attribute), the page-to-operation table against the role
matrix, and four-eyes' decision."""

from __future__ import annotations

import pytest

from privtune.access.roles import MATRIX
from privtune.console import pages, svg
from privtune.console.session import Sessions, csrf_ok


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_sessions_expire_idle_and_absolute() -> None:
    clock = Clock()
    s = Sessions(idle_s=10, max_age_s=25, clock=clock)
    sid, sess = s.new()
    assert s.get(sid) is sess
    clock.t = 9
    assert s.get(sid) is sess
    clock.t = 20  # 11 s idle
    assert s.get(sid) is None
    sid, sess = s.new()
    for t in (30, 38, 46):  # never idle 10 s, but 26 s old at the end
        clock.t = t
        got = s.get(sid)
    assert got is None


def test_session_ids_are_random_and_kept_only_hashed() -> None:
    s = Sessions()
    sid, _ = s.new()
    sid2, _ = s.new()
    assert sid != sid2 and len(sid) >= 43
    assert sid not in repr(s._by_digest)
    assert s.get(sid[:-1] + ("A" if sid[-1] != "A" else "B")) is None
    assert s.get("x" * 200) is None and s.get(None) is None
    s.drop(sid)
    assert s.get(sid) is None


def test_session_table_is_bounded() -> None:
    s = Sessions(max_sessions=5)
    ids = [s.new()[0] for _ in range(8)]
    assert len(s) == 5 and s.get(ids[0]) is None and s.get(ids[-1]) is not None


def test_csrf_compare() -> None:
    s = Sessions()
    _, sess = s.new()
    assert csrf_ok(sess, sess.csrf)
    assert not csrf_ok(sess, "") and not csrf_ok(sess, None) and not csrf_ok(None, sess.csrf)
    assert not csrf_ok(sess, sess.csrf[:-1])


def test_svg_escapes_text_and_has_no_script_or_style() -> None:
    bad = '<script>alert(1)</script>" onload="x'
    out = str(svg.line_chart([(bad, [(0, 0), (1, 1)]), ("nan", [(0, float("nan"))])],
                             title=bad, xlabel=bad, ylabel="y", diagonal=True))
    assert "<script" not in out and 'onload="x' not in out and "style=" not in out
    assert "&lt;script&gt;" in out and out.count("<polyline") == 1
    g = str(svg.lineage_graph([("employees@1", "table"), (bad, "adapter")],
                              [("employees@1", bad)]))
    assert "<script" not in g and "<line" in g
    bar = str(svg.budget_bar(9.0, 8.0))
    assert "#c0392b" in bar and "style=" not in bar


def test_empty_and_flat_series_do_not_fail() -> None:
    assert "<svg" in str(svg.line_chart([], title="t", xlabel="x", ylabel="y"))
    assert "<circle" in str(svg.line_chart([("one", [(3, 3)])], title="t", xlabel="x",
                                           ylabel="y"))


@pytest.mark.parametrize("role", sorted(MATRIX))
def test_pages_follow_the_role_matrix(role: str) -> None:
    for page, ops in pages.PAGES.items():
        assert pages.may_open(role, page) == any(op in MATRIX[role] for op in ops)
        op = pages.page_op(role, page)
        assert op in ops and (op in MATRIX[role] or not pages.may_open(role, page))
    # nobody may open the audit log without audit.read; the audits page needs model.read or
    # release.approve (the DPO's way in)
    assert pages.may_open(role, "audit-log") == ("audit.read" in MATRIX[role])
    assert pages.may_open(role, "audits") == bool({"model.read", "release.approve"} &
                                                  MATRIX[role])


def test_lockdown_leaves_only_the_look_pages() -> None:
    for role in MATRIX:
        if role == "break-glass":
            continue
        opens = {p for p in pages.PAGES if pages.may_open(role, p, lockdown=True)}
        assert opens <= {"overview", "runs", "run", "datasets", "requests", "audit-log",
                         "audit-verify", "audit-export"}


def test_epsilon_over_steps_per_unit_and_per_person() -> None:
    privacy = {"dp": True, "noise_multiplier": 1.1, "sampling_rate": 0.02, "steps": 200,
               "delta": 1e-5, "accountant": "rdp", "group_size": 3, "unit": "employee"}
    out = str(pages._epsilon_curve(privacy))
    assert out.count("<polyline") == 2 and "per employee" in out and "group of 3" in out
    from privtune.dp.accountant import epsilon
    from privtune.dp.group import group_epsilon

    unit = [epsilon(1.1, 0.02, t, 1e-5, "rdp") for t in (20, 100, 200)]
    person = [group_epsilon(1.1, 0.02, t, 1e-5, 3, "rdp") for t in (20, 100, 200)]
    assert unit == sorted(unit) and all(p > u for p, u in zip(person, unit, strict=True))
    assert pages._epsilon_curve({"dp": False}) is None
    assert pages._epsilon_curve({"dp": True}) is None  # an incomplete block draws nothing
