"""Authentication gives no timing oracle on key ids; handles and keys are matched whole.

Issue 16, finding 11: an unknown key id answered in 0.0003 s, a known one in 0.28 s (the
Argon2id verification), so timing told which key ids exist; ``HANDLE_RE`` accepted a trailing
newline.
"""

from __future__ import annotations

import statistics
import time

import pytest

from privtune.access import apikeys, users
from privtune.access.apikeys import new_key, parse_key
from privtune.access.users import AuthFailure, authenticate, create_user
from privtune.errors import InputError
from privtune.vault.kdf import Argon2Params


def test_unknown_key_id_does_the_argon2_work_too(workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = users.verify_key

    def counting(stored: str, key: apikeys.ParsedKey) -> bool:
        calls.append(stored)
        return real(stored, key)

    monkeypatch.setattr(users, "verify_key", counting)
    with pytest.raises(AuthFailure, match="invalid API key"):
        authenticate(workspace.store, new_key().full)  # a key id nobody has
    assert len(calls) == 1 and calls[0].startswith("$argon2id$")


def test_auth_time_does_not_tell_known_from_unknown_key_ids(workspace) -> None:
    cost = Argon2Params(time_cost=2, memory_kib=16384, parallelism=1)  # ~tens of ms: measurable
    issued = create_user(workspace.store, "timing", "viewer", kdf=cost)
    known_wrong = f"ptk_{issued.key_id}_{'A' * 43}"       # a real key id, a wrong secret
    unknown = new_key().full                              # a key id that does not exist

    def median_seconds(key: str) -> float:
        out = []
        for _ in range(5):
            t0 = time.perf_counter()
            with pytest.raises(AuthFailure):
                authenticate(workspace.store, key)
            out.append(time.perf_counter() - t0)
        return statistics.median(out)

    known_t, unknown_t = median_seconds(known_wrong), median_seconds(unknown)
    # Before the fix the unknown id answered ~1000x faster; now both pay one Argon2id check.
    assert unknown_t > 0.3 * known_t, (known_t, unknown_t)


@pytest.mark.parametrize("handle", ["dana\n", "dana\r\n", "\ndana", "da na", "Dana"])
def test_handles_with_a_trailing_newline_or_other_junk_are_refused(workspace, handle: str) -> None:
    with pytest.raises(InputError, match="handle"):
        create_user(workspace.store, handle, "viewer")


def test_api_key_with_a_trailing_newline_inside_the_match_is_refused() -> None:
    key = new_key().full
    assert parse_key(key) is not None
    assert parse_key(key + "\n") is not None            # surrounding whitespace is stripped ...
    assert apikeys.KEY_RE.fullmatch(key + "\n") is None  # ... the pattern itself matches whole
    assert parse_key(key + "x") is None
