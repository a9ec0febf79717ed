"""privtune serve: an OpenAI-compatible local API over released adapters (docs/serve.md).

:mod:`app` (the FastAPI app factory, routes, limits, audit), :mod:`auth` (API keys, rate and
concurrency limits), :mod:`engine` (the embedded transformers + peft engine over released,
verified adapters), :mod:`redact` (output PII masking, streaming-safe), :mod:`service` (wiring,
TLS, uvicorn).
"""
