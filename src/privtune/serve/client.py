"""The CLI's ``--server`` mode: act through a running ``privtune serve`` instead of opening the
vault (the deployment where only the server holds the KEK and users hold only API keys).

The caller's key is ``$PRIVTUNE_API_KEY``; the server authenticates it, checks the permission,
screens, masks and audits, exactly as for any other client. Server errors come back as the
typed errors of :mod:`privtune.errors` (401/403 -> PermissionDenied, 400/404/413 -> InputError,
429 -> ResourceError, others -> PrivtuneError), so the CLI exits with the usual codes. Design of
the wider mode: docs/serve.md, "The CLI through the server".
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from privtune.access.apikeys import ENV_API_KEY
from privtune.errors import InputError, PermissionDenied, PrivtuneError, ResourceError


def _typed(exc: Exception) -> PrivtuneError:
    import openai

    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        msg = f"the server refused: {body.get('message') or exc.message} ({exc.status_code})"
        if exc.status_code in (401, 403):
            return PermissionDenied(msg)
        if exc.status_code == 429:
            return ResourceError(msg)
        if exc.status_code in (400, 404, 413, 422):
            return InputError(msg)
        return PrivtuneError(msg)
    if isinstance(exc, openai.APIConnectionError):
        return PrivtuneError("the server cannot be reached (is privtune serve running there?)")
    return PrivtuneError(f"the server's answer failed ({type(exc).__name__})")


def ask_server(server: str, question: str, *, model: str | None = None, max_tokens: int = 128,
               temperature: float = 0.0, api_key: str | None = None) -> Iterator[str]:
    """Stream the answer of the served ``model`` to ``question`` (already masked by the
    server)."""
    import openai

    key = api_key or os.environ.get(ENV_API_KEY)
    if not key:
        raise PermissionDenied(f"no API key: set {ENV_API_KEY} to a key the server accepts")
    if not server.startswith(("http://", "https://")):
        raise InputError("--server must be an http:// or https:// URL ending in /v1",
                         field="server")
    client = openai.OpenAI(base_url=server.rstrip("/"), api_key=key, max_retries=0, timeout=600)
    try:
        if model is None:
            names = [m.id for m in client.models.list().data]
            if len(names) != 1:
                raise InputError(f"the server offers {len(names)} models to this key: name one "
                                 "with --model", field="model")
            model = names[0]
        stream = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": question}],
            max_tokens=max_tokens, temperature=temperature, stream=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content
    except PrivtuneError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith("openai"):
            raise _typed(exc) from None
        raise
