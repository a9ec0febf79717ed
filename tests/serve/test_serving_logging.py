"""`serving()` starts uvicorn inside another program (the demo, the console's tests): it must
leave that program's logging alone. uvicorn's default logging config ran `dictConfig`, which
closes every handler the process has ever made; absl's handler (imported with JAX by the
synthetic-data code) closes its stream when closed, and that stream was the test runner's
captured stderr: the whole suite then died with "I/O operation on closed file"."""

from __future__ import annotations

import io
import json
import logging
import urllib.request

from fastapi import FastAPI

from privtune.serve.service import serving


class _Recording(logging.StreamHandler):
    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.closed_by: list[str] = []

    def close(self) -> None:
        self.closed_by.append("close")
        super().close()


def test_serving_leaves_the_host_programs_logging_alone() -> None:
    handler = _Recording()  # a handler of the host program, alive while the server runs
    root = logging.getLogger()
    root.addHandler(handler)
    before = list(root.handlers)
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"ok": "yes"}

    try:
        with serving(app) as url:
            reply = urllib.request.urlopen(url.removesuffix("/v1") + "/ping", timeout=30)
            assert json.loads(reply.read()) == {"ok": "yes"}
            reply.close()
        assert handler.closed_by == [] and not handler.stream.closed
        assert root.handlers == before
    finally:
        root.removeHandler(handler)
