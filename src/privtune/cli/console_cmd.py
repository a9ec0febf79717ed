"""``privtune console``: the web console for stewards, DPOs and auditors (docs/console.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, err_console, open_workspace


def register(app: typer.Typer) -> None:
    @app.command("console")
    def console(
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback "
                                 "by default; use TLS when it is not)."),
        port: int = typer.Option(8001, "--port", min=0, max=65535, help="TCP port."),
        tls_cert: Path = typer.Option(None, "--tls-cert", help="TLS certificate (PEM)."),
        tls_key: Path = typer.Option(None, "--tls-key", help="TLS private key (PEM)."),
        tls_self_signed: bool = typer.Option(False, "--tls-self-signed", help="Make a fresh "
                                             "self-signed certificate (written to "
                                             "<workspace>/console-tls/cert.pem for browsers to "
                                             "trust; its key never leaves a private temp dir)."),
        workspace: Path = WorkspaceOpt,
    ) -> None:
        """Serve the web console: overview, audits (release with the gate's verdict, four-eyes
        when configured), audit log, training runs, datasets, subject requests, alerts and
        incidents. Users sign in with their workspace API key; each page is checked against
        their own role and audited. Starting it needs console.serve (admin)."""
        from privtune.console.service import build
        from privtune.errors import InputError
        from privtune.serve.service import self_signed_cert, serve_app
        from privtune.tmp import private_tempdir

        with open_workspace(workspace) as ws:
            secure = bool(tls_cert or tls_self_signed)
            app = build(ws, secure=secure)
            if (tls_cert is None) != (tls_key is None):
                raise InputError("give both --tls-cert and --tls-key", field="tls_cert")
            if tls_self_signed and tls_cert is not None:
                raise InputError("--tls-self-signed or --tls-cert/--tls-key, not both",
                                 field="tls_self_signed")
            with private_tempdir("console-tls") as tmp:
                if tls_self_signed:
                    tls_cert, tls_key = self_signed_cert(
                        host, ws.root / "console-tls" / "cert.pem", tmp)
                    err_console.print(f"self-signed certificate: {tls_cert}")
                scheme = "https" if secure else "http"
                err_console.print(f"privtune console: {scheme}://{host}:{port}/")
                serve_app(app, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
