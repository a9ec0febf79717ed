"""``privtune federated roster add|list|remove`` and ``privtune federated verdict-key`` (no
Flower): who may pin a site's verdict key (policy.write: admin and DPO, not the coordinating
ml-engineer), every attempt audited, bad key files refused with a typed error naming the file,
and the listing showing what is pinned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP384R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import select

from privtune.access import admin
from privtune.access.apikeys import ENV_API_KEY
from privtune.cli.main import run
from privtune.errors import InputError, NotFoundError, PermissionDenied
from privtune.gate.federation import ROSTER, key_fingerprint, read_roster, view_roster
from privtune.gate.release import public_pem
from privtune.pipeline.site import gate_site
from privtune.store.audit_models import AuditEvent
from privtune.workspace import Workspace


def _events(root: Path, op: str) -> list[AuditEvent]:
    with Workspace.open(root) as ws, ws.store.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.op == op).order_by(AuditEvent.seq)))


@pytest.fixture()
def coord(workspace, tmp_path, test_admin_key):
    keys = {
        role: admin.add_user(workspace.access, workspace.store, role, role).secret
        for role in ("ml-engineer", "dpo", "viewer")
    }
    keys["admin"] = test_admin_key
    pems = {}
    for name in ("site-1", "site-2"):
        pem = public_pem(Ed25519PrivateKey.generate().public_key())
        (tmp_path / f"{name}.pub").write_bytes(pem)
        pems[name] = pem
    return workspace.root, keys, pems, tmp_path


def test_only_admin_and_dpo_pin_keys_and_every_attempt_is_audited(coord, monkeypatch, capsys) -> None:
    root, keys, pems, d = coord
    w = str(root)
    monkeypatch.setenv(ENV_API_KEY, keys["ml-engineer"])  # the coordinating engineer
    assert (
        run(["federated", "roster", "add", "site-1", str(d / "site-1.pub"), "-w", w])
        == PermissionDenied.exit_code
    )
    err = capsys.readouterr().err
    assert "policy.write" in err and "Traceback" not in err
    denied = _events(root, "policy.write")
    assert [(e.outcome, e.role, e.object) for e in denied] == [("deny", "ml-engineer", ROSTER)]
    monkeypatch.setenv(ENV_API_KEY, keys["admin"])
    assert run(["federated", "roster", "add", "site-1", str(d / "site-1.pub"), "-w", w]) == 0
    assert f"sha256 {key_fingerprint(pems['site-1'])}" in capsys.readouterr().out
    monkeypatch.setenv(ENV_API_KEY, keys["dpo"])  # the DPO, who releases, may pin too
    assert run(["federated", "roster", "add", "site-2", str(d / "site-2.pub"), "-w", w]) == 0
    capsys.readouterr()
    allowed = [(e.outcome, e.role) for e in _events(root, "policy.write") if e.outcome == "allow"]
    assert ("allow", "admin") in allowed and ("allow", "dpo") in allowed
    with Workspace.open(root, api_key=keys["admin"]) as ws:
        ref, pins = view_roster(gate_site(ws))
        assert ref == f"{ROSTER}@2" and pins == pems
        assert read_roster(gate_site(ws), f"{ROSTER}@1") == {"site-1": pems["site-1"]}
    # the engineer cannot remove a site either; the listing is open to metadata readers
    monkeypatch.setenv(ENV_API_KEY, keys["ml-engineer"])
    assert run(["federated", "roster", "remove", "site-1", "-w", w]) == PermissionDenied.exit_code
    monkeypatch.setenv(ENV_API_KEY, keys["viewer"])
    assert run(["federated", "roster", "list", "--json", "-w", w]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == {"roster": f"{ROSTER}@2", "sites": {n: key_fingerprint(p) for n, p in pems.items()}}


def test_listing_and_removing_sites(coord, capsys) -> None:
    root, keys, pems, d = coord
    w = str(root)
    assert run(["federated", "roster", "list", "-w", w]) == 0
    assert "no federation roster yet" in capsys.readouterr().out
    for name in ("site-1", "site-2"):
        assert run(["federated", "roster", "add", name, str(d / f"{name}.pub"), "-w", w]) == 0
    capsys.readouterr()
    assert run(["federated", "roster", "list", "-w", w]) == 0
    out = capsys.readouterr().out
    assert "2 site(s)" in out
    for name, pem in pems.items():
        assert f"{name}\tsha256 {key_fingerprint(pem)}" in out
    assert run(["federated", "roster", "remove", "site-1", "-w", w]) == 0
    capsys.readouterr()
    assert run(["federated", "roster", "remove", "site-9", "-w", w]) == NotFoundError.exit_code
    assert "site-9" in capsys.readouterr().err
    assert run(["federated", "roster", "remove", "site-2", "-w", w]) == InputError.exit_code
    assert "last site" in capsys.readouterr().err
    with Workspace.open(root, api_key=keys["admin"]) as ws:
        assert view_roster(gate_site(ws))[1] == {"site-2": pems["site-2"]}


def test_a_bad_key_file_is_refused_naming_the_file(coord, capsys) -> None:
    root, keys, _, d = coord
    w = str(root)
    ec = (
        generate_private_key(SECP384R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    (d / "ec.pub").write_bytes(ec)  # a SuperNode's kind of key, not a verdict key
    (d / "junk.pub").write_text("not a key\n")
    for bad, why in (
        (d / "junk.pub", "not a PEM public key"),
        (d / "ec.pub", "not an Ed25519 key"),
        (d / "missing.pub", "cannot read the key file"),
    ):
        assert run(["federated", "roster", "add", "site-1", str(bad), "-w", w]) == InputError.exit_code
        err = capsys.readouterr().err
        assert str(bad) in err and why in err and "Traceback" not in err
    assert (
        run(["federated", "roster", "add", "bad name!", str(d / "site-1.pub"), "-w", w])
        == InputError.exit_code
    )
    capsys.readouterr()
    with Workspace.open(root, api_key=keys["admin"]) as ws:
        assert view_roster(gate_site(ws)) == (None, {})  # nothing was pinned


def test_a_sites_verdict_key_for_the_roster(coord, monkeypatch, capsys, make_workspace) -> None:
    root, keys, _, d = coord
    site = make_workspace(d / "site")
    site_root = site.root
    viewer = admin.add_user(site.access, site.store, "v", "viewer").secret
    site.close()
    out = d / "site-3.pub"
    monkeypatch.setenv(ENV_API_KEY, viewer)
    assert (
        run(["federated", "verdict-key", "--out", str(out), "-w", str(site_root)])
        == PermissionDenied.exit_code
    )
    assert not out.exists()
    monkeypatch.setenv(ENV_API_KEY, keys["admin"])
    assert run(["federated", "verdict-key", "--out", str(out), "-w", str(site_root)]) == 0
    pem = out.read_bytes()
    assert f"sha256 {key_fingerprint(pem)}" in capsys.readouterr().out
    assert (site_root / "federation-verdict-key.pub").read_bytes() == pem
    # the same key again (made once), and it is what the coordinator pins
    assert run(["federated", "verdict-key", "--out", str(d / "again.pub"), "-w", str(site_root)]) == 0
    assert (d / "again.pub").read_bytes() == pem
    assert run(["federated", "roster", "add", "site-3", str(out), "-w", str(root)]) == 0
    with Workspace.open(root, api_key=keys["admin"]) as ws:
        assert view_roster(gate_site(ws))[1] == {"site-3": pem}


def test_an_engineer_cannot_plant_a_roster_through_the_vault(coord) -> None:
    """Attack: the ml-engineer (data.write) writes ``federation-roster`` straight into the
    vault, claiming the kind ``blob`` and then ``roster``, to pin a key of their own. The
    reserved name fixes the kind to ``roster``, which is written as a policy: refused both
    times, and no roster exists afterwards."""
    root, keys, _pems, _d = coord
    mine = public_pem(Ed25519PrivateKey.generate().public_key())
    body = json.dumps({"schema": "privtune/federation-roster/1",
                       "sites": {"site-1": mine.decode()}}).encode()
    with Workspace.open(root, api_key=keys["ml-engineer"]) as ws:
        for kind in ("blob", "roster"):
            with pytest.raises(PermissionDenied):
                ws.vault.put(ROSTER, body, kind=kind)
    with Workspace.open(root, api_key=keys["admin"]) as ws:
        assert view_roster(gate_site(ws)) == (None, {})
