"""``privtune serve``: the OpenAI-compatible local API over released adapters (docs/serve.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, err_console, open_workspace


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback "
                                 "by default; use TLS when it is not)."),
        port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
        models: list[str] = typer.Option(None, "--model", help="A released adapter to serve "
                                         "(name or name@version; repeatable). Default: the "
                                         "newest released version of every model."),
        tls_cert: Path = typer.Option(None, "--tls-cert", help="TLS certificate (PEM)."),
        tls_key: Path = typer.Option(None, "--tls-key", help="TLS private key (PEM)."),
        tls_self_signed: bool = typer.Option(False, "--tls-self-signed", help="Make a fresh "
                                             "self-signed certificate (written to "
                                             "<workspace>/serve-tls/cert.pem for clients to "
                                             "trust; its key never leaves a private temp dir)."),
        release_pubkey: Path = typer.Option(None, "--release-pubkey", help="The trusted release "
                                            "signing key (default: the workspace's "
                                            "release-signing-key.pub)."),
        rate: float = typer.Option(120.0, "--rate-limit", min=0.1, help="Requests a minute per "
                                   "API key."),
        max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="Largest max_tokens a "
                                       "request may ask for."),
        upstream: str = typer.Option(None, "--upstream", help="Forward generation to this "
                                     "OpenAI-compatible server (a vLLM or llama.cpp URL ending "
                                     "in /v1); privtune keeps auth, screening, redaction and "
                                     "audit in front. The upstream must list each released "
                                     "model by its ref (name@N)."),
        upstream_key_env: str = typer.Option(None, "--upstream-key-env", help="Name of the "
                                             "environment variable holding the upstream's "
                                             "API key (if it needs one)."),
        policy: Path = typer.Option(None, "--policy", help="The serving policy (YAML): input "
                                    "screening, which models each role may query, whether "
                                    "pseudonym tokens are shown (docs/serve.md)."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Serve released models over an OpenAI-compatible API (chat completions, models,
        health, metrics). Callers authenticate with workspace API keys (role app, or any role
        holding model.query); every answer is PII-masked; every request is audited. Needs
        model.read to load the adapters; only released, verified adapters are served."""
        from privtune.errors import InputError
        from privtune.serve.app import ServeSettings
        from privtune.serve.service import build, run, self_signed_cert
        from privtune.tmp import private_tempdir

        with open_workspace(workspace) as ws:
            import os

            upstream_key = os.environ.get(upstream_key_env) if upstream_key_env else None
            if upstream_key_env and not upstream_key:
                raise InputError(f"${upstream_key_env} is not set", field="upstream_key_env")
            server = build(ws, models=list(models or []) or None, release_pubkey=release_pubkey,
                           settings=ServeSettings(rate_per_minute=rate, max_tokens=max_tokens),
                           upstream=upstream, upstream_key=upstream_key,
                           policy=policy)
            if (tls_cert is None) != (tls_key is None):
                raise InputError("give both --tls-cert and --tls-key", field="tls_cert")
            if tls_self_signed and tls_cert is not None:
                raise InputError("--tls-self-signed or --tls-cert/--tls-key, not both",
                                 field="tls_self_signed")
            scheme = "https" if (tls_cert or tls_self_signed) else "http"
            with private_tempdir("serve-tls") as tmp:
                if tls_self_signed:
                    tls_cert, tls_key = self_signed_cert(host, ws.root / "serve-tls" / "cert.pem",
                                                         tmp)
                    err_console.print(f"self-signed certificate: {tls_cert}")
                err_console.print(f"privtune serve: {scheme}://{host}:{port}/v1 "
                                  f"(roster {'on' if server.roster else 'off'}); "
                                  "loading models…")
                run(server, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)

    @app.command("ask")
    def ask(
        question: str = typer.Argument(..., help="The question (one user message)."),
        server: str = typer.Option(..., "--server", help="A running privtune serve, e.g. "
                                   "https://hr-llm.internal:8443/v1 (the CLI acts through it "
                                   "and never opens the vault)."),
        model: str = typer.Option(None, "--model", help="Model name or ref (default: the only "
                                  "one the server lets this key query)."),
        max_tokens: int = typer.Option(128, "--max-tokens", min=1),
        temperature: float = typer.Option(0.0, "--temperature", min=0.0, max=2.0),
    ) -> None:
        """Ask a served model a question through a running server (--server mode): the key in
        $PRIVTUNE_API_KEY authenticates; the server checks model.query, screens the question,
        masks the answer and audits the request. Prints the answer, streamed."""
        from privtune.serve.client import ask_server

        for piece in ask_server(server, question, model=model, max_tokens=max_tokens,
                                temperature=temperature):
            typer.echo(piece, nl=False)
        typer.echo()

