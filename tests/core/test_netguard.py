"""The network guard blocks outbound connections, reports them, and lets loopback through."""

from __future__ import annotations

import os
import socket
import threading
import urllib.request

import pytest

from privtune import netguard
from privtune.errors import OfflineViolation
from privtune.netguard import OFFLINE_ENV, enable_offline_mode, is_offline


def test_outbound_connection_fails_and_is_reported():
    with pytest.raises(OfflineViolation, match=r"203\.0\.113\.5:443"), netguard.network_guard():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect(("203.0.113.5", 443))
        finally:
            s.close()
    assert not netguard.is_active()
    assert socket.socket.connect is not None and netguard.violations == [("203.0.113.5", 443)]


@pytest.mark.parametrize("attempt", [
    lambda: socket.create_connection(("example.com", 80), timeout=1),
    lambda: socket.getaddrinfo("huggingface.co", 443),
    lambda: urllib.request.urlopen("http://example.com/", timeout=1),
])
def test_every_entry_point_is_blocked(attempt):
    with pytest.raises(OfflineViolation), netguard.network_guard():
        attempt()


def test_a_swallowed_violation_is_still_reported_at_the_end():
    """A library that catches the error (and might retry) cannot hide the attempt."""
    tries = []
    with pytest.raises(OfflineViolation, match="1 outbound connection attempt"), netguard.network_guard():
        try:
            socket.create_connection(("198.51.100.7", 80))
        except OSError:
            tries.append("retry would happen here")
        except OfflineViolation:
            tries.append("caught")
    assert tries == ["caught"]


def test_loopback_is_allowed_and_the_guard_nests_and_restores():
    original = socket.socket.connect
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    accepted = []
    t = threading.Thread(target=lambda: accepted.append(srv.accept()[0].close()))
    t.start()
    with netguard.network_guard():
        with netguard.network_guard():
            assert netguard.is_active() and is_offline()
            c = socket.create_connection(("127.0.0.1", port), timeout=5)
            c.close()
        assert netguard.is_active()
        socket.getaddrinfo("localhost", port)
    t.join(5)
    srv.close()
    assert len(accepted) == 1
    assert not netguard.is_active() and socket.socket.connect is original


@pytest.mark.parametrize("host,ok", [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True),
                                     ("[::1]", True), ("localhost", True), ("10.0.0.1", False),
                                     ("8.8.8.8", False), ("example.com", False), (None, False)])
def test_is_loopback(host, ok):
    assert netguard.is_loopback(host) is ok


def test_enable_offline_mode_sets_all_variables_idempotently(monkeypatch):
    for k in OFFLINE_ENV:
        monkeypatch.delenv(k, raising=False)
    enable_offline_mode()
    enable_offline_mode()
    assert is_offline()
    assert all(os.environ[k] == "1" for k in OFFLINE_ENV)


# --- issue 16 finding 11: UDP datagrams and the raw ``_socket`` module escaped the guard.
@pytest.mark.parametrize("send", [
    lambda s: s.sendto(b"x", ("203.0.113.9", 53)),
    lambda s: s.sendto(b"x", 0, ("203.0.113.9", 53)),
    lambda s: s.sendmsg([b"x"], [], 0, ("203.0.113.9", 53)),
])
def test_udp_datagrams_to_the_network_are_blocked(send):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with pytest.raises(OfflineViolation, match=r"203\.0\.113\.9:53"), netguard.network_guard():
            send(s)
    finally:
        s.close()
    assert ("203.0.113.9", 53) in netguard.violations


@pytest.mark.parametrize("use", [
    lambda s: s.connect(("203.0.113.7", 443)),
    lambda s: s.connect_ex(("203.0.113.7", 443)),
    lambda s: s.sendto(b"x", ("203.0.113.7", 443)),
])
def test_raw_socket_module_is_blocked(use):
    import _socket

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        with pytest.raises(OfflineViolation, match=r"203\.0\.113\.7:443"), netguard.network_guard():
            use(s)
    finally:
        s.close()


def test_raw_getaddrinfo_is_blocked():
    import _socket

    with pytest.raises(OfflineViolation), netguard.network_guard():
        _socket.getaddrinfo("huggingface.co", 443)


def test_udp_to_loopback_passes_and_the_hook_is_inert_outside_the_guard():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with netguard.network_guard():
            tx.sendto(b"ping", rx.getsockname())
        assert rx.recv(16) == b"ping"
        # outside the guard the (permanent) hook lets everything through
        netguard._audit_hook("socket.sendto", (tx, ("203.0.113.9", 9)))
        netguard._audit_hook("socket.getaddrinfo", ("example.com", 80, 0, 0, 0))
    finally:
        tx.close()
        rx.close()
