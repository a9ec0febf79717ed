"""Property-based fuzzing of the OpenAPI document (schemathesis) against a live server: every
operation, valid and invalid bodies and headers, with a valid key; no answer may be a server
error (5xx)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from privtune.access import admin
from privtune.pii.detector import Detector
from privtune.pii.roster import Roster
from privtune.serve.app import ServeSettings, create_app
from privtune.serve.redact import Redactor

from .conftest import FakeEngine, live
from .test_api import ANSWER, ROSTER

pytestmark = pytest.mark.slow  # a few hundred requests


def _fuzz(operation, mode, base: str, key: str, seen: list[tuple[str, int]]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        response = case.call(base_url=base, headers={"Authorization": f"Bearer {key}"},
                             timeout=30)
        seen.append((operation.label, response.status_code))
        assert response.status_code < 500, (operation.label, response.status_code,
                                            response.text[:300])

    run()


def test_no_operation_answers_a_server_error(workspace) -> None:
    ws = workspace
    key = admin.add_user(ws.access, ws.store, "fuzz-app", "app").secret
    app = create_app(ws, FakeEngine(ANSWER, piece=40),
                     Redactor(Detector(Roster.from_employees(ROSTER))),
                     settings=ServeSettings(rate_per_minute=1e6, max_concurrent=64,
                                            max_body_bytes=1 << 16))
    seen: list[tuple[str, int]] = []
    with live(app) as url:
        base = url.removesuffix("/v1")
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        ops = [op.ok() for op in schema.get_all_operations()]
        assert {o.label for o in ops} >= {"POST /v1/chat/completions", "POST /v1/completions",
                                          "GET /v1/models", "GET /health", "GET /metrics"}
        for operation in ops:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if mode is GenerationMode.NEGATIVE and operation.method.upper() != "POST":
                    continue  # nothing to make invalid in a GET without parameters
                _fuzz(operation, mode, base, key, seen)
    codes = {c for _, c in seen}
    assert len(seen) >= 60 and 200 in codes and 400 in codes
    assert not [x for x in seen if x[1] >= 500]
