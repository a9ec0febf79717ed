"""The federation's parts without Flower: the plan's per-round ledger charges, the coordinator's
noise (once per round, at the planned scale), the keys, and a site refusing a lesser role."""

from __future__ import annotations

import math

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key

from privtune.access import admin
from privtune.dp.accountant import epsilon
from privtune.errors import PermissionDenied
from privtune.federated.pki import make_ca_and_server_cert, make_node_key
from privtune.federated.plan import FederatedSpec
from privtune.federated.server import GlobalAdapter
from privtune.federated.site import site_round
from privtune.io import jsonl_bytes
from privtune.train.spec import LoraSpec


@pytest.mark.slow
def test_round_charges_sum_to_the_composed_epsilon() -> None:
    spec = FederatedSpec(rounds=5, sampling_rate=0.3, noise_multiplier=1.1, target_epsilon=None,
                         delta=1e-5)
    sigma = spec.sigma()
    assert sigma == 1.1
    charges = [spec.round_charge(r, sigma) for r in range(1, 6)]
    assert sum(e for e, _ in charges) == pytest.approx(spec.epsilon_after(5, sigma), rel=1e-9)
    assert [d for _, d in charges] == [1e-5, 0, 0, 0, 0]  # delta once, not once per round
    # basic composition of the per-round figure would overcharge: the charges telescope
    assert sum(e for e, _ in charges) < 5 * spec.epsilon_after(1, sigma)


@pytest.mark.slow
def test_calibration_and_group_charges() -> None:
    spec = FederatedSpec(rounds=3, sampling_rate=0.3, target_epsilon=4.0, delta=1e-5)
    sigma = spec.sigma()
    assert epsilon(sigma, 0.3, 3, 1e-5, "rdp") <= 4.0
    # a person in 2 units of a site is charged more (group privacy)
    assert spec.round_charge(1, sigma, 2)[0] > spec.round_charge(1, sigma)[0]


def test_coordinator_adds_the_noise_once_at_the_planned_scale() -> None:
    shape = (64, 256)  # 16384 coordinates
    noise_std, expected_units = 1.5, 4.0
    g = GlobalAdapter([np.zeros(shape, np.float32)], noise_std, lr=1e-3)
    g.opt = _Capture(g.params)  # read the noisy gradient instead of stepping
    g.step([np.zeros(shape, np.float32)], expected_units)
    grad = g.opt.seen[0] * expected_units  # the noise before the division
    assert float(grad.std()) == pytest.approx(noise_std, rel=0.03)
    assert abs(float(grad.mean())) < 0.05
    # a second round draws fresh noise (SecureRandom: no seed)
    g.step([np.zeros(shape, np.float32)], expected_units)
    assert not np.allclose(g.opt.seen[0], grad / expected_units)


class _Capture:
    def __init__(self, params) -> None:
        self.params, self.seen = params, []

    def step(self) -> None:
        self.seen = [p.grad.detach().numpy().copy() for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None


def test_ca_server_certificate_and_node_keys(tmp_path) -> None:
    tls = make_ca_and_server_cert(tmp_path / "tls")
    ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    srv = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    srv.verify_directly_issued_by(ca)
    sans = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in sans.get_values_for_type(x509.DNSName)
    assert (tls.server_key.stat().st_mode & 0o777) == 0o600
    key = make_node_key(tmp_path / "keys", "site-1")
    priv = load_ssh_private_key(key.private.read_bytes(), None)
    pub = load_ssh_public_key(key.public.read_bytes())
    assert priv.public_key().public_numbers() == pub.public_numbers()  # type: ignore[union-attr]
    assert priv.curve.name == "secp384r1"  # type: ignore[union-attr]
    assert (key.private.stat().st_mode & 0o777) == 0o600


def test_a_site_refuses_a_round_for_a_lesser_role(tmp_path, make_workspace) -> None:
    root = tmp_path / "site"
    ws = make_workspace(root)
    ws.vault.put("trainset", jsonl_bytes([{"id": "x", "employee_ids": ["E1"], "messages": []}]),
                 kind="examples")
    viewer = admin.add_user(ws.access, ws.store, "v", "viewer").secret
    ws.close()
    spec = FederatedSpec(noise_multiplier=1.0, target_epsilon=None)
    with pytest.raises(PermissionDenied):
        site_round(root, "trainset", tmp_path / "no-base", LoraSpec(), spec,
                   [np.zeros(1)], 1, "fed-test", 1.0, api_key=viewer)
    assert math.isfinite(spec.round_charge(1, 1.0)[0])


def test_vault_containers_without_the_into_methods(monkeypatch) -> None:
    """Flower's environment has cryptography < 45 (no AESGCM.encrypt_into / decrypt_into): the
    vault's stream format falls back to encrypt / decrypt, byte for byte the same container."""
    import io
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from privtune.errors import IntegrityError
    from privtune.vault import format as fmt

    class OldAESGCM:  # the cryptography 44 surface
        def __init__(self, key: bytes) -> None:
            self._a = AESGCM(key)

        def encrypt(self, *a):
            return self._a.encrypt(*a)

        def decrypt(self, *a):
            return self._a.decrypt(*a)

    key, data = os.urandom(32), os.urandom(150_000)
    new = io.BytesIO()
    fmt.encrypt_stream(io.BytesIO(data), new, key, "b", chunk_size=65536)
    monkeypatch.setattr(fmt, "AESGCM", OldAESGCM)
    out = io.BytesIO()
    fmt.decrypt_stream(io.BytesIO(new.getvalue()), out, key, "b")  # new container, old API
    assert out.getvalue() == data
    old = io.BytesIO()
    fmt.encrypt_stream(io.BytesIO(data), old, key, "b", chunk_size=65536)
    back = io.BytesIO()
    fmt.decrypt_stream(io.BytesIO(old.getvalue()), back, key, "b")
    assert back.getvalue() == data
    bad = bytearray(old.getvalue())
    bad[-3] ^= 1
    with pytest.raises(IntegrityError):
        fmt.decrypt_stream(io.BytesIO(bytes(bad)), io.BytesIO(), key, "b")


def test_a_site_verdict_verifies_only_unaltered_under_its_pinned_key() -> None:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from privtune.errors import IntegrityError
    from privtune.gate.federation import DOMAIN, SITE_SCHEMA, verify_site_verdict
    from privtune.gate.release import public_pem
    from privtune.gate.verdict import canonical

    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    doc = {"schema": SITE_SCHEMA, "site": "site-1", "passed": False, "failed": ["epsilon"]}

    def signed(d, k=key, domain=DOMAIN):
        return {"verdict": d, "signature": base64.b64encode(k.sign(domain + canonical(d))).decode()}

    assert verify_site_verdict(signed(doc), public_pem(key.public_key())) == doc
    flipped = signed(doc)
    flipped["verdict"] = {**doc, "passed": True, "failed": []}
    for bad in (flipped, signed(doc, other), {"verdict": doc, "signature": ""},
                signed(doc, domain=b""),  # a signature over the bare document (no domain tag)
                {"verdict": "x"}):
        with pytest.raises(IntegrityError):
            verify_site_verdict(bad, public_pem(key.public_key()))


def test_round_deadline_settings_are_validated() -> None:
    from pydantic import ValidationError

    assert FederatedSpec().round_timeout_s == 240.0
    assert FederatedSpec().required_sites() == 2  # the SecAgg+ threshold
    assert FederatedSpec(reconstruction_threshold=3).required_sites() == 3
    assert FederatedSpec(secagg=False).required_sites() == 2
    assert FederatedSpec(secagg=False, min_sites=1).required_sites() == 1
    assert FederatedSpec(min_sites=4).required_sites() == 4
    with pytest.raises(ValidationError, match="reconstruction threshold"):
        FederatedSpec(min_sites=2, reconstruction_threshold=3)  # SecAgg+ could not unmask
    for bad in ({"round_timeout_s": 0}, {"round_timeout_s": -5}, {"min_sites": 0},
                {"round_timeout": 60}):  # the old name is refused, not silently ignored
        with pytest.raises(ValidationError):
            FederatedSpec(**bad)


def test_simulate_refuses_bad_deadline_settings_before_starting(tmp_path, capsys) -> None:
    from privtune.cli.main import run

    out = tmp_path / "sim"
    assert run(["federated", "simulate", "--min-sites", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "reconstruction threshold" in err and "Traceback" not in err
    assert run(["federated", "simulate", "--round-timeout", "0", "--out", str(out)]) == 2
    assert "round_timeout_s" in capsys.readouterr().err
    assert not out.exists()  # nothing was prepared
