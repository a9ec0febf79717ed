"""Wiring: a workspace opened by the operator becomes a running server.

:func:`build` makes the engine (the released adapters to serve), the redactor (the PII
detector with the workspace roster when the operator may read the person table) and the app;
:func:`run` starts uvicorn on it (HTTP/1.1 keep-alive, graceful shutdown on SIGTERM: in-flight
requests finish), loading the models in a background thread so ``/health`` answers 503 until
they are ready. :func:`self_signed_cert` is the TLS helper: a fresh key and certificate for the
host, the key in a private temporary directory, the certificate written where clients can
trust it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import signal
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from privtune.access.roles import allowed
from privtune.errors import InputError
from privtune.fsutil import atomic_write, atomic_write_text
from privtune.gate.release import PUBKEY_FILE, load_public_key
from privtune.pii.detector import Detector
from privtune.pii.roster import Roster
from privtune.records import signer_key_id
from privtune.serve.app import ServeSettings, create_app
from privtune.serve.engine import EmbeddedEngine
from privtune.serve.policy import ServePolicy, load_policy
from privtune.serve.proxy import ProxyEngine
from privtune.serve.redact import Redactor, StreamRedaction
from privtune.workspace import Workspace

PERSON_TABLE = "employees"


@dataclass
class Server:
    app: FastAPI
    engine: EmbeddedEngine | ProxyEngine
    redactor: Redactor
    roster: bool  # the workspace roster is part of the detector


def _trusted_release_key(ws: Workspace, pubkey: Path | None = None) -> str:
    """The key id of the trusted release signing key (``--release-pubkey``, else the
    workspace's ``release-signing-key.pub``)."""
    import base64

    from cryptography.hazmat.primitives import serialization

    path = pubkey or ws.root / PUBKEY_FILE
    if not path.is_file():
        raise InputError("no release signing key: release a model first, or pass "
                         "--release-pubkey", path=path)
    key = load_public_key(path.read_bytes())
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return signer_key_id(base64.b64encode(raw).decode())


def _workspace_roster(ws: Workspace) -> Roster | None:
    """The roster of the newest readable person table, when the operator may read personal
    data (``data.read``); None otherwise (patterns and the people gazetteer still run)."""
    from privtune.io import read_table
    from privtune.pipeline.roles import object_mapping, stored_mapping

    p = ws.principal
    if p is None or not allowed(p.role, "data.read"):
        return None
    gone = ws.vault.shredded()
    refs = [r.ref for r in sorted((r for r in ws.vault.list() if r.name == PERSON_TABLE),
                                  key=lambda r: -r.version) if r.ref not in gone]
    if not refs:
        return None
    table = read_table(ws.vault, refs[0])
    mapping = object_mapping(stored_mapping(ws), PERSON_TABLE, table)
    return Roster.from_employees(table, mapping)


def build(ws: Workspace, *, models: list[str] | None = None, settings: ServeSettings | None = None,
          release_pubkey: Path | None = None, base: Path | None = None,
          upstream: str | None = None, upstream_key: str | None = None,
          policy: ServePolicy | Path | None = None) -> Server:
    """The server for ``ws`` (opened by the operator, who needs ``model.read`` to load the
    adapters). The engine is not loaded yet: call ``server.engine.load()`` (``run`` does, in a
    background thread). ``upstream``: forward generation to that OpenAI-compatible server
    (:class:`~privtune.serve.proxy.ProxyEngine`, with ``upstream_key`` as its key) instead of
    running the adapters here. ``policy``: the serving policy (:mod:`privtune.serve.policy`), or its YAML file (read
    after the permission check)."""
    lock = threading.Lock()
    ws.guard("model.read", "serve", action="start", models=len(models or []),
             proxy=upstream is not None)
    if isinstance(policy, Path):
        policy = load_policy(policy)
    roster = _workspace_roster(ws)
    redactor = Redactor(Detector(roster))
    engine: EmbeddedEngine | ProxyEngine
    if upstream is not None:
        engine = ProxyEngine(ws.store, upstream, models, api_key=upstream_key, lock=lock)
    else:
        trusted = _trusted_release_key(ws, release_pubkey)
        st = settings or ServeSettings()
        engine = EmbeddedEngine(ws.vault, ws.store, models, trusted, lock=lock, base=base,
                                max_batch=st.max_batch, batch_window_s=st.batch_window_ms / 1000)
    app = create_app(ws, engine, redactor, settings=settings, lock=lock, policy=policy)
    return Server(app, engine, redactor, roster is not None)


def self_signed_cert(host: str, cert_path: Path, key_dir: Path) -> tuple[Path, Path]:
    """``(certificate, key)``: an ECDSA P-256 key (written 0600 under ``key_dir``) and a
    certificate for ``host`` valid 30 days (written to ``cert_path`` for clients to trust)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        sans.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        sans.append(x509.DNSName(host))
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_path = Path(key_dir) / "tls-key.pem"
    atomic_write(key_path, key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()), mode=0o600)
    atomic_write_text(Path(cert_path), cert.public_bytes(serialization.Encoding.PEM).decode(),
                      mode=0o644)
    return Path(cert_path), key_path


def run(server: Server, *, host: str = "127.0.0.1", port: int = 8000,
        tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn finishes in-flight requests first)."""
    loader = threading.Thread(target=_load_quietly, args=(server.engine,), name="privtune-load",
                              daemon=True)
    loader.start()
    try:
        serve_app(server.app, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key)
    finally:
        loader.join(timeout=5)
        server.engine.close()


def serve_app(app: FastAPI, *, host: str, port: int, tls_cert: Path | None = None,
              tls_key: Path | None = None) -> None:
    """Run ``app`` with uvicorn until SIGINT/SIGTERM, then return (the console uses it too)."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            access_log=False, ssl_certfile=str(tls_cert) if tls_cert else None,
                            ssl_keyfile=str(tls_key) if tls_key else None,
                            timeout_graceful_shutdown=30)
    # uvicorn finishes in-flight requests on SIGTERM/SIGINT, then re-raises the signal to the
    # handler that was there before it: ours ends the run normally, so the caller closes the
    # workspace (the audit log's head is sealed) and the process exits 0.
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _stopped) for sig in _SIGNALS} if main else {}
    try:
        uvicorn.Server(config).run()
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class _Stopped(Exception):
    pass


def _stopped(sig: int, frame: object) -> None:
    raise _Stopped


@contextlib.contextmanager
def serving(app: FastAPI, *, host: str = "127.0.0.1", port: int = 0,
            start_timeout_s: float = 30.0, **ssl: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread (port 0: a free one) for the block;
    yields the base URL (``http://host:port/v1``; ``https`` when ``ssl`` holds uvicorn's
    ``ssl_certfile``/``ssl_keyfile``). The server stops when the block ends (in-flight
    requests finish first)."""
    import socket
    import time

    import uvicorn

    if port == 0:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
    # log_config=None: a server started inside another program (the demo, tests) must not
    # reconfigure that program's logging. uvicorn's default dictConfig closes every existing
    # handler, and one whose stream is not the current sys.stderr (absl's, under JAX) closes
    # its stream with it: here that was the test runner's captured stderr.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off", timeout_graceful_shutdown=10, log_config=None, **ssl)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="privtune-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise InputError(f"the server did not start on {host}:{port}", field="port")
        time.sleep(0.02)
    try:
        yield f"{'https' if ssl else 'http'}://{host}:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


SMOKE_QUESTIONS = ("How many days of parental leave do I get?",
                   "Who do I ask about my holiday balance?")


@dataclass(frozen=True)
class SmokeAnswer:
    """One question asked through the server with the ``openai`` client."""

    question: str
    answer: str               # as the client received it (already masked)
    masked: dict[str, int]    # what output redaction masked in it: entity type -> count
    completion_tokens: int
    finish_reason: str


class _RecordingRedactor(Redactor):
    """The server's redactor, keeping each answer's mask counts for the caller of serve_smoke."""

    def __init__(self, detector: Detector) -> None:
        super().__init__(detector)
        self.runs: list[StreamRedaction] = []

    def stream(self, *, keep_pseudonyms: bool = False) -> StreamRedaction:
        s = super().stream(keep_pseudonyms=keep_pseudonyms)
        self.runs.append(s)
        return s


def serve_smoke(ws: Workspace, questions: Sequence[str] = SMOKE_QUESTIONS, *,
                model: str | None = None, api_key: str | None = None,
                release_pubkey: Path | None = None, max_tokens: int = 48) -> list[SmokeAnswer]:
    """Start the server on a free loopback port, ask ``questions`` with the official ``openai``
    client (temperature 0), stop it; return each answer and what redaction masked in it.

    The operator needs ``model.read`` (``build``). The questions are asked with ``api_key``, or,
    when None, with a key of a fresh ``app`` user made for the run (``user.manage``, i.e. an
    admin) and revoked at the end. ``model``: the released adapter (default: every released
    one is loaded and the first is asked)."""
    import openai

    from privtune.access import admin

    server = build(ws, models=[model] if model else None, release_pubkey=release_pubkey)
    recorder = _RecordingRedactor(server.redactor.detector)
    server.app.state.server.redactor = recorder
    server.redactor = recorder
    issued = None
    if api_key is None:
        import secrets

        issued = admin.add_user(ws.access, ws.store, f"serve-smoke-{secrets.token_hex(3)}", "app",
                                expires_days=1)
        api_key = issued.secret
    try:
        server.engine.load()
        target = server.engine.models()[0].id
        out: list[SmokeAnswer] = []
        with serving(server.app) as url:
            client = openai.OpenAI(base_url=url, api_key=api_key, max_retries=0, timeout=300)
            for q in questions:
                reply = client.chat.completions.create(
                    model=target, messages=[{"role": "user", "content": q}], temperature=0,
                    max_tokens=max_tokens)
                counts = dict(sorted(recorder.runs[-1].counts.items())) if recorder.runs else {}
                choice = reply.choices[0]
                out.append(SmokeAnswer(q, choice.message.content or "", counts,
                                       reply.usage.completion_tokens if reply.usage else 0,
                                       choice.finish_reason or ""))
        return out
    finally:
        server.engine.close()
        if issued is not None:
            admin.revoke_key(ws.access, ws.store, issued.key_id)


def _load_quietly(engine: EmbeddedEngine | ProxyEngine) -> None:
    try:
        engine.load()
    except Exception:  # noqa: S110  (engine.error holds why; /health reports it)
        pass
