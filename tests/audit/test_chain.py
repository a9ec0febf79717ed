"""The hash chain: every kind of tampering is found, at the position where it was made."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

import privtune.audit.log as auditlog
from privtune.audit.chain import GENESIS, event_hash, verify_rows
from privtune.audit.verify import verify_log

N = 30


@pytest.fixture()
def ws(db_url, tmp_path, monkeypatch, make_workspace):
    monkeypatch.setattr(auditlog, "CHECKPOINT_EVERY", 10)
    w = make_workspace(tmp_path / "ws", db_url=db_url)
    for i in range(N - 2):  # init wrote 2 events
        w.guard("metadata.read", f"obj-{i}", n=i)
    yield w
    w.close()


def _exec(ws, sql: str, **params) -> None:
    ws.audit.close()
    with ws.store.engine.begin() as c:
        c.execute(text(sql), params)


def _bad(ws) -> tuple[int | None, str]:
    r = verify_log(ws.audit, ws.pinned_public_key())
    return r.bad_position, r.reason


def test_intact_chain_verifies(ws) -> None:
    r = verify_log(ws.audit, ws.pinned_public_key())
    assert r.ok and r.events == N and r.checkpoints == N // 10


def test_edited_event(ws) -> None:
    _exec(ws, "UPDATE audit_events SET outcome = 'deny' WHERE seq = 17")
    assert _bad(ws)[0] == 17


@pytest.mark.parametrize("column,value", [("actor", "u-someoneelse"), ("object", "other"),
                                          ("ts", "2020-01-01T00:00:00.000000Z"),
                                          ("detail", '{"n":99}'), ("op", "data.read")])
def test_each_field_is_covered(ws, column: str, value: str) -> None:
    _exec(ws, f"UPDATE audit_events SET {column} = :v WHERE seq = 12", v=value)
    assert _bad(ws)[0] == 12


def test_deleted_event(ws) -> None:
    _exec(ws, "DELETE FROM audit_events WHERE seq = 8")
    pos, why = _bad(ws)
    assert pos == 8 and "missing" in why


def _renumber_from(ws, k: int, delta: int) -> None:
    _exec(ws, "UPDATE audit_events SET seq = -seq WHERE seq >= :k", k=k)
    _exec(ws, "UPDATE audit_events SET seq = -seq + :d WHERE seq < 0", d=delta)


def test_deleted_event_with_renumbering(ws) -> None:
    _exec(ws, "DELETE FROM audit_events WHERE seq = 8")
    _renumber_from(ws, 9, -1)
    assert _bad(ws)[0] == 8


def test_inserted_event(ws) -> None:
    _renumber_from(ws, 5, +1)
    prev = _hash_of(ws, 4)
    _exec(ws, "INSERT INTO audit_events (seq, ts, actor, role, key_id, op, object, outcome, reason, "
              "detail, prev_hash, hash) VALUES (5, '2026-01-01T00:00:00.000000Z', 'u-x', 'admin', "
              "'', 'data.read', 'employees@1', 'allow', '', '{}', :p, :h)", p=prev, h="f" * 64)
    assert _bad(ws)[0] == 5


def test_inserted_event_with_a_valid_hash_is_caught_by_the_chain_or_a_checkpoint(ws) -> None:
    _renumber_from(ws, 5, +1)
    prev = _hash_of(ws, 4)
    fields = [5, "2026-01-01T00:00:00.000000Z", "u-x", "admin", "", "data.read", "employees@1",
              "allow", "", "{}"]
    _exec(ws, "INSERT INTO audit_events (seq, ts, actor, role, key_id, op, object, outcome, reason, "
              "detail, prev_hash, hash) VALUES (5, :ts, 'u-x', 'admin', '', 'data.read', "
              "'employees@1', 'allow', '', '{}', :p, :h)", ts=fields[1], p=prev,
         h=event_hash(prev, fields))
    pos, _ = _bad(ws)
    assert pos in (5, 6)  # the forged event itself, or the displaced original after it


def test_reordered_events(ws) -> None:
    _exec(ws, "UPDATE audit_events SET seq = -1 WHERE seq = 20")
    _exec(ws, "UPDATE audit_events SET seq = 20 WHERE seq = 21")
    _exec(ws, "UPDATE audit_events SET seq = 21 WHERE seq = -1")
    assert _bad(ws)[0] == 20


def test_rewritten_chain_is_caught_by_the_signed_checkpoint(ws) -> None:
    """An attacker edits event 13 and recomputes every hash after it: the chain is
    self-consistent again, but the checkpoint signed at 20 no longer matches."""
    _exec(ws, "UPDATE audit_events SET outcome = 'deny' WHERE seq = 13")
    _rehash_all(ws)
    pos, why = _bad(ws)
    assert pos == 11 and "rewritten" in why  # first event not covered by a good checkpoint


def test_truncated_tail_is_caught_by_the_checkpoint(ws) -> None:
    _exec(ws, "DELETE FROM audit_events WHERE seq > 25")
    _exec(ws, "DELETE FROM audit_events WHERE seq > 15")
    pos, why = _bad(ws)
    assert pos == 16 and "truncated" in why


def test_forged_checkpoint_signature(ws) -> None:
    _exec(ws, "UPDATE audit_checkpoints SET signature = :s WHERE seq = 20", s="00" * 64)
    pos, why = _bad(ws)
    assert pos == 11 and "signature" in why


def test_removed_checkpoint(ws) -> None:
    _exec(ws, "DELETE FROM audit_checkpoints WHERE seq = 20")
    pos, why = _bad(ws)
    assert pos == 20 and "removed" in why


def test_cli_verify_names_the_position(ws, capsys) -> None:
    from privtune.cli.main import run

    root = str(ws.root)
    assert run(["audit-log", "verify", "-w", root]) == 0
    assert "intact" in capsys.readouterr().out
    _exec(ws, "UPDATE audit_events SET object = 'x' WHERE seq = 9")
    assert run(["audit-log", "verify", "-w", root]) == 5
    assert "position 9" in capsys.readouterr().err


def _hash_of(ws, seq: int) -> str:
    with ws.store.engine.connect() as c:
        return c.execute(text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": seq}).scalar_one()


def _rehash_all(ws) -> None:
    with ws.store.engine.connect() as c:
        rows = c.execute(text("SELECT seq, ts, actor, role, key_id, op, object, outcome, reason, "
                              "detail FROM audit_events ORDER BY seq")).all()
    prev = GENESIS
    with ws.store.engine.begin() as c:
        for r in rows:
            h = event_hash(prev, list(r))
            c.execute(text("UPDATE audit_events SET prev_hash = :p, hash = :h WHERE seq = :s"),
                      {"p": prev, "h": h, "s": r[0]})
            prev = h


# ---- property tests on the pure verifier (no database) -----------------------------------

def _chain(n: int) -> list[list]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        f = [seq, f"2026-01-01T00:00:{seq % 60:02d}.000000Z", f"u-{seq % 3}", "admin", "k", "data.read",
             f"obj@{seq}", "allow", "", "{}"]
        h = event_hash(prev, f)
        rows.append(f + [prev, h])
        prev = h
    return rows


@settings(max_examples=150, deadline=None)
@given(n=st.integers(2, 60), data=st.data())
def test_property_first_bad_position(n: int, data) -> None:
    rows = _chain(n)
    assert verify_rows(rows).bad_position is None and verify_rows(rows).events == n
    k = data.draw(st.integers(1, n))
    kind = data.draw(st.sampled_from(["edit", "delete", "swap", "insert"]))
    t = [list(r) for r in rows]
    if kind == "edit":
        col = data.draw(st.integers(1, 9))
        t[k - 1][col] = str(t[k - 1][col]) + "x"
        expect = k
    elif kind == "delete":
        if k == n:  # deleting the last event is truncation: the checkpoints' job
            return
        del t[k - 1]
        expect = k
    elif kind == "swap":
        if k == n:
            return
        t[k - 1][0], t[k][0] = t[k][0], t[k - 1][0]
        t[k - 1], t[k] = t[k], t[k - 1]
        expect = k
    else:
        forged = [k, "2026-01-01T00:00:00.000000Z", "u-9", "admin", "k", "data.read", "x@1", "allow",
                  "", "{}", t[k - 2][11] if k > 1 else GENESIS, f"{random.getrandbits(256):064x}"]
        for r in t[k - 1:]:
            r[0] += 1
        t.insert(k - 1, forged)
        expect = k
    assert verify_rows(t).bad_position == expect
