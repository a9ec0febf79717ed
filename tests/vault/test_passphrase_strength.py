"""``init`` refuses a weak vault passphrase unless told to (issue 16, finding 10).

Before: ``init`` accepted a one-character passphrase, and an offline dictionary attack on the
KEK's check value found ``summer2024`` at 0.25 s per guess.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from privtune.cli.main import run
from privtune.vault import KekSpec
from privtune.vault.strength import WeakPassphrase, check_passphrase
from privtune.workspace import init_workspace

WEAK = ["Z", "summer2024", "password1234", "Summer2024!!", "qwertyuiop123", "aaaaaaaaaaaaaaaa"]
STRONG = ["correct horse battery staple", "test passphrase, not a secret",
          "granite-otter-lantern-97-velvet"]


@pytest.mark.parametrize("weak", WEAK)
def test_weak_passphrases_are_refused_without_echoing_them(weak: str) -> None:
    with pytest.raises(WeakPassphrase) as e:
        check_passphrase(weak)
    assert weak not in str(e.value) and "--allow-weak-passphrase" in str(e.value)


@pytest.mark.parametrize("strong", STRONG)
def test_strong_passphrases_pass(strong: str) -> None:
    check_passphrase(strong)


def test_init_refuses_a_weak_passphrase_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVTUNE_PASSPHRASE", "summer2024")
    with pytest.raises(WeakPassphrase):
        init_workspace(tmp_path / "w")
    assert not (tmp_path / "w").exists()
    ws = init_workspace(tmp_path / "w", kek=KekSpec(allow_weak=True))  # on purpose
    assert ws.vault.get("pseudonym-key")
    ws.close()


def test_cli_init_weak_passphrase_exit_2_unless_allowed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PRIVTUNE_PASSPHRASE", "x")
    assert run(["init", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert "passphrase" in err and "12" in err
    assert not (tmp_path / "w").exists()
    assert run(["init", str(tmp_path / "w"), "--allow-weak-passphrase"]) == 0


def test_rotation_to_a_weak_new_passphrase_is_refused(
        workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRIVTUNE_NEW_PASSPHRASE", "password1234")
    with pytest.raises(WeakPassphrase):
        workspace.vault.keyring.rotate(KekSpec("passphrase", new_passphrase=True))
    # re-wrapping under the same (already accepted) passphrase needs no new check
    version, _ = workspace.vault.keyring.rotate()
    assert version == 2
