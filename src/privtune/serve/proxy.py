"""The proxy engine: an existing OpenAI-compatible server (vLLM, llama.cpp, another privtune
serve) does the generating; privtune keeps the API keys, the policy, the input screening, the
output redaction and the audit log in front of it.

A team that outgrows one CPU process puts vLLM (``vllm serve BASE --enable-lora --lora-modules
helpdesk@3=/path``) behind ``privtune serve --upstream http://gpu-host:8000/v1``. Each model
exposed is a release of this workspace: it is served only while the release registry holds a
``released`` row for it (checked at load and again before every request, at most
:data:`~privtune.serve.engine.RECHECK_S` old, so a revocation stops serving within a second),
and the upstream must list it (``GET /models``) when the proxy loads. privtune cannot see the
bytes an upstream loaded: the operator who configures the upstream vouches that it serves the
released adapter files (``privtune release`` writes them, signed, to the release bundle).

Requests go upstream with ``stream=True`` and ``stream_options.include_usage`` (token counts
come from the upstream's usage chunk); the upstream's text passes through the same streaming
redaction as the embedded engine's. A dropped client closes the upstream stream (the upstream
stops generating). The upstream's key, if it needs one, is the operator's
(``--upstream-key-env``), never a caller's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from privtune.errors import InputError, NotFoundError, PrivacyPolicyError
from privtune.gate.registry import entry_for
from privtune.serve.engine import Generation, ServedModel, recheck_release, released_refs
from privtune.store.db import MetadataStore


class ProxyEngine:
    """The :class:`~privtune.serve.engine.Engine` that forwards to ``upstream`` (a base URL
    ending in ``/v1``). ``refs``: the released models to expose (default: the newest released
    version of every model); ``names``: ref -> the model name the upstream knows it by (default:
    the ref itself)."""

    def __init__(self, store: MetadataStore, upstream: str, refs: list[str] | None = None, *,
                 names: dict[str, str] | None = None, api_key: str | None = None,
                 timeout_s: float = 600.0, lock: Any = None) -> None:
        if not upstream.startswith(("http://", "https://")):
            raise InputError("the upstream must be an http:// or https:// URL ending in /v1",
                             field="upstream")
        import threading

        self.store = store
        self.upstream = upstream.rstrip("/")
        self.refs = refs
        self.names = dict(names or {})
        self._key = api_key or "none"
        self.timeout_s = timeout_s
        self.ws_lock = lock or threading.Lock()
        self.ready = False
        self.error = ""
        self._served: dict[str, ServedModel] = {}
        self._checked: dict[str, float] = {}
        self._client: Any = None

    def _openai(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(base_url=self.upstream, api_key=self._key,
                                         max_retries=0, timeout=self.timeout_s)
        return self._client

    def close(self) -> None:
        """Close the connection pool to the upstream. Idempotent."""
        self.ready = False
        client, self._client = self._client, None
        if client is not None:
            client.close()

    # ---------------------------------------------------------------- loading
    def load(self) -> None:
        try:
            self._load()
            self.ready = True
        except Exception as exc:
            self.error = str(exc)
            raise

    def _load(self) -> None:
        with self.ws_lock:
            refs = list(self.refs) if self.refs else released_refs(self.store)
        if not refs:
            raise NotFoundError("no released model to serve (privtune release MODEL first)")
        try:
            listed = {m.id for m in self._openai().models.list()}
        except Exception as exc:
            raise InputError(f"the upstream {self.upstream} did not list its models "
                             f"({type(exc).__name__})", field="upstream") from None
        for ref in refs:
            with self.ws_lock:
                row = entry_for(self.store, ref)
            if row is None or row.state != "released":
                state = row.state if row is not None else "never released"
                raise PrivacyPolicyError(f"'{ref}' has not been released ({state}): it is not "
                                         "served")
            upstream_name = self.names.get(ref, ref)
            if upstream_name not in listed:
                raise NotFoundError(f"the upstream does not serve '{upstream_name}' (it lists "
                                    f"{len(listed)} models)")
            self._served[ref] = ServedModel(ref, ref.split("@")[0], row.id, int(time.time()))
            self._checked[ref] = time.monotonic()

    # ---------------------------------------------------------------- serving
    def models(self) -> list[ServedModel]:
        return list(self._served.values())

    def resolve(self, model: str) -> ServedModel:
        served = self._served.get(model)
        if served is None:
            named = [s for s in self._served.values() if s.name == model]
            served = named[0] if len(named) == 1 else None
        if served is None:
            raise NotFoundError(f"the model '{model[:80]}' is not served here")
        recheck_release(self.store, self.ws_lock, self._checked, served)
        return served

    def generate(self, model: ServedModel, messages: list[dict[str, str]] | str, *,
                 max_tokens: int, temperature: float, timeout_s: float,
                 top_p: float = 1.0, stop: tuple[str, ...] = ()) -> Generation:
        client = self._openai().with_options(timeout=timeout_s)
        name = self.names.get(model.id, model.id)
        common: dict[str, Any] = {"model": name, "max_tokens": max_tokens,
                                  "temperature": temperature, "top_p": top_p, "stream": True,
                                  "stream_options": {"include_usage": True}}
        if stop:
            common["stop"] = list(stop)
        if isinstance(messages, str):
            stream = client.completions.create(prompt=messages, **common)
        else:
            stream = client.chat.completions.create(messages=messages, **common)
        gen = Generation(iter(()), cancel=stream.close)
        gen.pieces = self._read(stream, gen, isinstance(messages, str))
        return gen

    @staticmethod
    def _read(stream: Any, gen: Generation, completion: bool) -> Iterator[str]:
        finish = None
        try:
            for chunk in stream:
                if getattr(chunk, "usage", None) is not None:
                    gen.prompt_tokens = int(chunk.usage.prompt_tokens or 0)
                    gen.completion_tokens = int(chunk.usage.completion_tokens or 0)
                for choice in chunk.choices or ():
                    text = choice.text if completion else (choice.delta.content
                                                           if choice.delta else None)
                    if text:
                        yield text
                    if choice.finish_reason:
                        finish = choice.finish_reason
        finally:
            stream.close()
        gen.finish_reason = finish if finish in ("stop", "length") else "stop"
