"""Encrypted vault objects: round trips, manifests, damage, plaintext never on disk."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.vault.conftest import PII_ROW, PLANTED

from privtune.errors import IntegrityError, KeyDestroyed, NotFoundError
from privtune.tmp import PREFIX, private_tempdir


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=0, max_size=5 * 64 + 7))
def test_put_get_round_trip(small_ws, data: bytes) -> None:
    ref = small_ws.vault.put("blob", data)
    assert small_ws.vault.get(ref) == data
    m = small_ws.vault.manifest(ref)
    assert m.size == len(data) and m.sha256 == hashlib.sha256(data).hexdigest()
    path = small_ws.vault.root / m.relpath
    assert m.ct_sha256 == hashlib.sha256(path.read_bytes()).hexdigest() and m.ct_size == path.stat().st_size


def test_streaming_put_file_and_get_to(small_ws, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(64 * 50 + 3))
    ref = small_ws.vault.put_file("big", src, kind="dataset", schema="raw")
    out = tmp_path / "out.bin"
    assert small_ws.vault.get_to(ref, out) == src.stat().st_size
    assert out.read_bytes() == src.read_bytes()
    buf = io.BytesIO()
    small_ws.vault.get_to(ref, buf)
    assert buf.getvalue() == src.read_bytes()
    ref2 = small_ws.vault.put_file("big", io.BytesIO(b"from a stream"), parents=[ref])
    assert small_ws.vault.get(ref2) == b"from a stream"
    assert small_ws.vault.manifest(ref2).parents == [ref]


def test_no_plaintext_anywhere_in_the_workspace(small_ws, tmp_path: Path) -> None:
    small_ws.vault.put("people", PII_ROW * 30, kind="table")
    d = tmp_path / "adapter"
    d.mkdir()
    (d / "notes.txt").write_bytes(PII_ROW)
    small_ws.vault.put_dir("adapter", d, kind="adapter")
    for p in files_under(small_ws.root):
        blob = p.read_bytes()
        for value in PLANTED:
            assert value.encode() not in blob, p


def test_damaged_object_is_integrity_error_and_verify_names_it(small_ws) -> None:
    small_ws.vault.put("t", b"hello world " * 40)
    path = small_ws.vault.root / small_ws.vault.manifest("t").relpath
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        small_ws.vault.get("t")
    results = {r.ref: r for r in small_ws.vault.verify()}
    assert not results["t@1"].ok and results["t@1"].status == "damaged"
    assert results["pseudonym-key@1"].ok


def test_object_files_swapped_between_versions_are_caught(small_ws) -> None:
    a = small_ws.vault.put("a", b"A" * 300)
    b = small_ws.vault.put("a", b"B" * 300)
    pa = small_ws.vault.root / small_ws.vault.manifest(a).relpath
    pb = small_ws.vault.root / small_ws.vault.manifest(b).relpath
    tmp = pa.read_bytes()
    pa.write_bytes(pb.read_bytes())
    pb.write_bytes(tmp)
    for ref in (a, b):
        with pytest.raises(IntegrityError):
            small_ws.vault.get(ref)


def test_missing_payload_file(small_ws) -> None:
    ref = small_ws.vault.put("gone", b"x")
    (small_ws.vault.root / small_ws.vault.manifest(ref).relpath).unlink()
    with pytest.raises(IntegrityError, match="missing"):
        small_ws.vault.get(ref)
    assert {r.ref: r.status for r in small_ws.vault.verify()}[ref] == "missing"


def test_directory_round_trip_through_private_tempdir(small_ws, tmp_path: Path) -> None:
    src = tmp_path / "ckpt"
    (src / "sub").mkdir(parents=True)
    (src / "adapter_config.json").write_text("{}")
    (src / "sub" / "w.bin").write_bytes(os.urandom(5000))
    ref = small_ws.vault.put_dir("ckpt", src, kind="adapter")
    with private_tempdir("test") as tmp:
        out = small_ws.vault.get_dir(ref, tmp / "ckpt")
        assert (out / "sub" / "w.bin").read_bytes() == (src / "sub" / "w.bin").read_bytes()
        where = tmp
    assert not where.exists()
    import tempfile

    assert not [p for p in Path(tempfile.gettempdir()).glob(f"{PREFIX}test-*") if p == where]


def test_crypto_shredding_makes_version_unreadable_even_from_a_backup(small_ws, tmp_path: Path) -> None:
    ref = small_ws.vault.put("person", PII_ROW)
    keep = small_ws.vault.put("person", b"other")
    backup = tmp_path / "backup"
    shutil.copytree(small_ws.vault.root, backup)
    small_ws.vault.shred(ref)
    with pytest.raises(KeyDestroyed):
        small_ws.vault.get(ref)
    assert small_ws.vault.get(keep) == b"other"
    # Put the backed-up object file back: still unreadable, the key is gone.
    shutil.rmtree(small_ws.vault.root)
    shutil.copytree(backup, small_ws.vault.root)
    with pytest.raises(KeyDestroyed):
        small_ws.vault.get(ref)
    assert isinstance(KeyDestroyed("x"), NotFoundError)
    assert {r.ref: r.status for r in small_ws.vault.verify()}[ref] == "shredded"


def test_stray_files_are_reported_not_read(small_ws) -> None:
    small_ws.vault.put("x", b"1")
    stray = small_ws.vault.root / "objects" / "x" / ".tmp-crashed"
    stray.write_bytes(b"partial")
    assert small_ws.vault.stray_files() == [stray]
    assert small_ws.vault.get("x") == b"1"


def test_a_shred_recheck_runs_under_the_write_lock_and_can_abort(small_ws) -> None:
    """``shred(ref, recheck=...)`` (retention's legal-hold re-check): when the re-check runs, the
    shred's transaction holds the database's write lock (no other writer can commit a hold
    meanwhile); a re-check that raises leaves the version readable."""
    import sqlite3

    from sqlalchemy.orm import Session

    ref = small_ws.vault.put("person", PII_ROW)
    db = small_ws.root / "metadata.db"
    locked: list[bool] = []

    def probe(s: Session) -> None:
        other = sqlite3.connect(db, timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            locked.append(False)
        except sqlite3.OperationalError as exc:
            locked.append("locked" in str(exc))
        finally:
            other.close()
        raise RuntimeError("held")

    with pytest.raises(RuntimeError, match="held"):
        small_ws.vault.shred(ref, recheck=probe)
    assert locked == [True]
    assert small_ws.vault.get(ref) == PII_ROW  # aborted: the key and the file are intact
    assert ref not in small_ws.vault.shredded()
    small_ws.vault.shred(ref, recheck=lambda s: None)
    with pytest.raises(KeyDestroyed):
        small_ws.vault.get(ref)
