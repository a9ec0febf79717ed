"""Serving tests: a live uvicorn server on a free loopback port, in a thread, and the official
``openai`` client against it.

``FakeEngine`` answers with a fixed text (planted personal data, cut into small pieces so
identifiers are split across chunks) through the same app, limits, redaction and audit as the
embedded engine; the slow tests (test_live_model.py) serve a real released adapter."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from privtune.errors import NotFoundError, PrivacyPolicyError
from privtune.serve.engine import Generation, ServedModel
from privtune.serve.service import serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live(app: Any, **ssl: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields the base URL (``.../v1``)."""
    with serving(app, **ssl) as url:
        yield url


class FakeEngine:
    """An engine answering every question with ``text``, in ``piece``-character pieces."""

    ready = True
    error = ""

    def __init__(self, text: str, piece: int = 3, model: str = "helpdesk@1", *,
                 fail_at: int | None = None, delay: float = 0.0) -> None:
        self.text, self.piece = text, piece
        self.fail_at, self.delay = fail_at, delay
        self.cancelled = 0
        self.model = ServedModel(model, model.split("@")[0], "rel-test", 1_700_000_000)
        self.revoked = False
        self.calls = 0

    def models(self) -> list[ServedModel]:
        return [self.model]

    def close(self) -> None:
        self.closed = True

    def resolve(self, model: str) -> ServedModel:
        if model not in (self.model.id, self.model.name):
            raise NotFoundError(f"the model '{model}' is not served here")
        if self.revoked:
            raise PrivacyPolicyError(f"'{self.model.id}' was revoked: it is no longer served")
        return self.model

    def generate(self, model: ServedModel, messages: list[dict[str, str]] | str, *,
                 max_tokens: int, temperature: float, timeout_s: float,
                 top_p: float = 1.0, stop: tuple[str, ...] = ()) -> Generation:
        self.calls += 1
        self.last = messages
        self.sampling = {"temperature": temperature, "top_p": top_p, "stop": stop}
        words = self.text[: max_tokens * 4]
        prompt = messages if isinstance(messages, str) else " ".join(m["content"] for m in messages)
        gen = Generation(iter(()), prompt_tokens=len(prompt.split()))

        def pieces() -> Iterator[str]:
            for n, i in enumerate(range(0, len(words), self.piece)):
                if n == self.fail_at:
                    raise RuntimeError("the model failed")
                time.sleep(self.delay)
                yield words[i:i + self.piece]
            gen.completion_tokens = len(words.split())
            gen.finish_reason = "length" if len(words) < len(self.text) else "stop"

        def cancel() -> None:
            self.cancelled += 1

        gen.pieces = pieces()
        gen.cancel = cancel
        return gen


def raw(url: str, body: bytes | None = None, *, key: str | None = None,
        method: str | None = None, headers: dict[str, str] | None = None
        ) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of one plain HTTP request (stdlib only)."""
    import urllib.error
    import urllib.request

    h = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        h["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=body, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
