"""A guard that blocks outbound network connections while privtune trains or evaluates.

:func:`network_guard` is a context manager. Inside it, ``socket.socket.connect`` /
``connect_ex``, ``socket.create_connection`` and ``socket.getaddrinfo`` refuse every address
that is not loopback (``127.0.0.0/8``, ``::1``, ``localhost``) or a Unix socket, and raise
:class:`~privtune.errors.OfflineViolation`. A process-wide audit hook (:func:`sys.addaudithook`,
installed once, inert outside the guard) applies the same rule to the interpreter's own socket
audit events (``socket.connect``, ``socket.sendto``, ``socket.sendmsg``, ``socket.getaddrinfo``),
which the C module ``_socket`` raises itself: UDP datagrams sent with ``sendto``/``sendmsg``
and sockets made from ``_socket`` directly (bypassing the patched Python class) are refused too. The violation is also *recorded* (host and port
only: no payload) in :data:`violations` so that a library that swallows the exception and
retries cannot hide it: the caller checks :func:`raise_if_violated` at the end of the block and
fails loudly. Nothing is retried.

privtune never talks to a model hub either: every model, tokenizer and adapter comes from a local
directory. :func:`enable_offline_mode` sets the environment variables that make
``huggingface_hub``, ``transformers`` and ``datasets`` refuse network access (and turn off
telemetry); the guard calls it on entry, and model loaders call it before loading anything.

The guard nests (a counter) and restores the original functions on exit. It is process-wide
(sockets are), so other threads are blocked too while it is active, which is what we want.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

from privtune.errors import OfflineViolation

OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}

_LOCK = threading.Lock()
_DEPTH = 0
_ORIGINAL: dict[str, Any] = {}
#: ``(host, port)`` of every blocked attempt since the outermost guard was entered.
violations: list[tuple[str, int | None]] = []

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def enable_offline_mode() -> None:
    """Set the Hugging Face offline/telemetry variables in ``os.environ`` (idempotent).

    ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` into a module constant at import time, so the
    constant is patched as well when the library is already imported.
    """
    os.environ.update(OFFLINE_ENV)
    with contextlib.suppress(Exception):  # pragma: no cover - depends on import order
        from huggingface_hub import constants

        constants.HF_HUB_OFFLINE = True
        constants.HF_HUB_DISABLE_TELEMETRY = True


def is_offline() -> bool:
    """True when every offline variable is set to ``"1"``."""
    return all(os.environ.get(k) == v for k, v in OFFLINE_ENV.items())


def is_loopback(host: Any) -> bool:
    """True for loopback addresses and names (and for Unix-socket paths)."""
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    h = host.strip("[]").split("%")[0].lower()
    if h in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _refuse(host: Any, port: Any) -> None:
    h = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
    p = port if isinstance(port, int) else None
    violations.append((h, p))
    raise OfflineViolation(
        f"blocked an outbound connection to {h}:{p if p is not None else '?'} "
        "(privtune trains and evaluates offline; nothing may reach the network)"
    )


def _check_address(sock: socket.socket, address: Any) -> None:
    if getattr(sock, "family", None) == getattr(socket, "AF_UNIX", object()):
        return
    if isinstance(address, tuple) and address:
        host, port = address[0], address[1] if len(address) > 1 else None
        if not is_loopback(host):
            _refuse(host, port)
    elif isinstance(address, (str, bytes)):  # a Unix path on an AF_UNIX-like socket
        return


_HOOKED = False
#: The socket audit events the hook checks, and where their address argument sits.
_ADDRESS_EVENTS = {"socket.connect": 1, "socket.sendto": 1, "socket.sendmsg": 1}


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    """Refuse non-loopback socket traffic the C module reports (active only inside the guard)."""
    if _DEPTH == 0 or not event.startswith("socket."):
        return
    pos = _ADDRESS_EVENTS.get(event)
    if pos is not None:
        if len(args) > pos and args[pos] is not None:
            _check_address(args[0], args[pos])
    elif event == "socket.getaddrinfo" and args:
        host = args[0]
        if host is not None and not is_loopback(host):
            _refuse(host, args[1] if len(args) > 1 else None)


def _install_audit_hook() -> None:
    """Add the audit hook once per process (audit hooks cannot be removed)."""
    global _HOOKED
    if not _HOOKED:
        sys.addaudithook(_audit_hook)
        _HOOKED = True


def _install() -> None:
    _install_audit_hook()
    orig_connect = socket.socket.connect
    orig_connect_ex = socket.socket.connect_ex
    orig_create = socket.create_connection
    orig_gai = socket.getaddrinfo
    _ORIGINAL.update(connect=orig_connect, connect_ex=orig_connect_ex,
                     create_connection=orig_create, getaddrinfo=orig_gai)

    def connect(self: Any, address: Any) -> None:
        _check_address(self, address)
        return orig_connect(self, address)

    def connect_ex(self: Any, address: Any) -> int:
        _check_address(self, address)
        return orig_connect_ex(self, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_loopback(address[0]):
            _refuse(address[0], address[1] if len(address) > 1 else None)
        return orig_create(address, *args, **kwargs)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_loopback(host):
            _refuse(host, port)
        return orig_gai(host, port, *args, **kwargs)

    # patching the class is the point of the guard (mypy forbids assigning to a method)
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.create_connection = create_connection
    socket.getaddrinfo = getaddrinfo


def _uninstall() -> None:
    socket.socket.connect = _ORIGINAL["connect"]  # type: ignore[method-assign]
    socket.socket.connect_ex = _ORIGINAL["connect_ex"]  # type: ignore[method-assign]
    socket.create_connection = _ORIGINAL["create_connection"]
    socket.getaddrinfo = _ORIGINAL["getaddrinfo"]
    _ORIGINAL.clear()


def is_active() -> bool:
    return _DEPTH > 0


def raise_if_violated() -> None:
    """Raise :class:`OfflineViolation` if any connection was blocked (even if it was caught)."""
    if violations:
        host, port = violations[0]
        raise OfflineViolation(
            f"{len(violations)} outbound connection attempt(s) were blocked during an offline "
            f"run, first to {host}:{port if port is not None else '?'}"
        )


@contextlib.contextmanager
def network_guard() -> Iterator[None]:
    """Block non-loopback connections inside the block; on a clean exit, fail if any attempt
    was blocked (and swallowed by a library) meanwhile."""
    global _DEPTH
    enable_offline_mode()
    with _LOCK:
        if _DEPTH == 0:
            violations.clear()
            _install()
        _DEPTH += 1
    ok = False
    try:
        yield
        ok = True
    finally:
        with _LOCK:
            _DEPTH -= 1
            outermost = _DEPTH == 0
            if outermost:
                _uninstall()
        if ok and outermost:
            raise_if_violated()
