"""The tests' ``make_workspace`` (tests/conftest.py): each copy of the session's template is a
whole, independent workspace, consistent as ``init_workspace`` leaves one."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import TEST_ADMIN_KEY

from privtune.audit.verify import verify_log
from privtune.errors import NotFoundError
from privtune.workspace import Workspace


def test_copies_are_independent_and_each_verifies(tmp_path: Path, make_workspace) -> None:
    a = make_workspace(tmp_path / "a")
    b = make_workspace(tmp_path / "b")
    try:
        assert a.root != b.root and a.config.name == "a" and b.config.name == "b"
        assert a.initial_key is not None and a.initial_key.secret == TEST_ADMIN_KEY
        a.vault.put("only-in-a", b"x", kind="table")
        assert not b.vault.exists("only-in-a")
        try:
            b.vault.get("only-in-a")
            raise AssertionError("b read a's object")
        except NotFoundError:
            pass
    finally:
        a.close()
        b.close()
    for root in (tmp_path / "a", tmp_path / "b"):
        # a new process, as it were: the admin key authenticates (row MACs check out), the
        # audit chain and its signed head verify, every object verifies
        with Workspace.open(root, api_key=TEST_ADMIN_KEY) as w:
            r = verify_log(w.audit, w.pinned_public_key())
            assert r.ok, r.reason
            assert all(v.ok for v in w.vault.verify())
    assert (tmp_path / "a" / "vault").stat().st_ino != (tmp_path / "b" / "vault").stat().st_ino


def test_a_copy_with_its_database_outside_the_workspace(tmp_path: Path, make_workspace) -> None:
    url = f"sqlite:///{tmp_path}/meta.db"
    with make_workspace(tmp_path / "ws", db_url=url) as ws:
        assert ws.store.db_url == url and ws.config.db_url == url
        ws.vault.put("t", b"x", kind="table")
    assert (tmp_path / "meta.db").is_file() and not (tmp_path / "ws" / "metadata.db").exists()
    with Workspace.open(tmp_path / "ws", api_key=TEST_ADMIN_KEY) as w:
        assert verify_log(w.audit, w.pinned_public_key()).ok
        assert w.vault.get("t") == b"x"
