"""Issue 16, finding 4: ``audit-log verify`` checks signatures with the public key pinned at
``init``; a missing or swapped key is a verification failure, never a silent skip.

Before: verify read the public key from ``keys/`` and, when the directory was gone, skipped
every signature check and said "intact".
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import privtune.audit.log as auditlog
from privtune.audit import api
from privtune.audit.verify import verify_log
from privtune.cli.main import run
from privtune.vault import wskeys
from privtune.vault.wskeys import KEYS_DIR, SIGNING_FILE, fingerprint, public_key_text
from privtune.workspace import CONFIG_FILE, Workspace

ADMIN_KEY = "ptk_0123456789ab_" + "T" * 43  # tests/conftest.py


@pytest.fixture()
def ws(tmp_path, monkeypatch, make_workspace):
    monkeypatch.setattr(auditlog, "CHECKPOINT_EVERY", 5)
    w = make_workspace(tmp_path / "ws")
    for i in range(8):
        w.guard("metadata.read", f"obj-{i}")
    yield w
    w.close()


def _verify(w: Workspace) -> api.VerifyReport:
    return api.verify(w.guard, w.audit, w.pinned_public_key(), w.keys.public_key)


def _set_pin(w: Workspace, text: str) -> None:
    cfg = yaml.safe_load((w.root / CONFIG_FILE).read_text())
    cfg["audit_public_key"] = text
    (w.root / CONFIG_FILE).write_text(yaml.safe_dump(cfg))


def test_init_pins_the_public_key_and_prints_its_fingerprint(tmp_path: Path, capsys) -> None:
    assert run(["init", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out
    with Workspace.open(tmp_path / "w") as w:
        pub = w.keys.public_key()
        assert w.config.audit_public_key == public_key_text(pub)
        assert fingerprint(pub) in out and re.search(r"SHA256:[A-Za-z0-9+/]{43}", out)


def test_intact_log_verifies_with_the_pin(ws) -> None:
    r = _verify(ws)
    assert r.ok and r.checkpoints >= 1


def test_missing_pin_is_a_failure(ws, capsys) -> None:
    assert not verify_log(ws.audit, None).ok
    _set_pin(ws, "")
    with Workspace.open(ws.root, api_key=ADMIN_KEY) as w:
        r = _verify(w)
    assert not r.ok and "no pinned" in r.reason
    assert run(["audit-log", "verify", "-w", str(ws.root)]) == 5
    assert "no pinned" in capsys.readouterr().err


def test_missing_signing_key_is_a_failure_not_a_skip(ws) -> None:
    (ws.root / KEYS_DIR / SIGNING_FILE).unlink()
    with Workspace.open(ws.root, api_key=ADMIN_KEY) as w:
        r = _verify(w)
    assert not r.ok and "signing key" in r.reason and "audit-signing.key" in r.reason
    shutil.rmtree(ws.root / KEYS_DIR)
    with Workspace.open(ws.root) as w:  # the log itself still verifies under the pin: a failure
        assert not api.verify(lambda *a, **k: None, w.audit, w.pinned_public_key(),
                              w.keys.public_key).ok


def test_swapped_signing_key_is_a_failure(ws) -> None:
    """The passphrase holder wraps a key of their own into keys/: checkpoints it signs fail
    under the pin, and verify says the key is not the pinned one before any is signed."""
    evil = Ed25519PrivateKey.generate()
    wskeys._write_wrapped(ws.root, ws.vault.keyring, SIGNING_FILE, wskeys._raw_private(evil))
    with Workspace.open(ws.root, api_key=ADMIN_KEY) as w:
        r = _verify(w)
        assert not r.ok and "not the pinned one" in r.reason
        for i in range(5):
            w.guard("metadata.read", f"more-{i}")  # a checkpoint signed by the swapped key
        r2 = verify_log(w.audit, w.pinned_public_key())
        assert not r2.ok and "invalid signature" in r2.reason


def test_swapped_pin_is_a_failure(ws) -> None:
    _set_pin(ws, public_key_text(Ed25519PrivateKey.generate().public_key()))
    with Workspace.open(ws.root, api_key=ADMIN_KEY) as w:
        r = verify_log(w.audit, w.pinned_public_key())
        assert not r.ok and "invalid signature" in r.reason
        r = _verify(w)
        assert not r.ok

