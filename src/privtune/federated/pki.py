"""The federation's keys: a CA, the SuperLink's TLS certificate, the SuperNodes' auth keys.

:func:`make_ca_and_server_cert` writes ``ca.crt`` / ``ca.key`` (EC P-384, self-signed, CA
only), and ``server.pem`` / ``server.key`` (signed by the CA, with the SuperLink's names and
addresses as subject alternative names), the TLS files Flower's ``flower-superlink`` takes
(``--ssl-ca-certfile``, ``--ssl-certfile``, ``--ssl-keyfile``) and ``flower-supernode`` /
``flwr`` check against (``--root-certificates``). :func:`make_node_key` writes a SuperNode's
EC P-384 key pair in the OpenSSH formats Flower 1.23 reads: the private key for
``flower-supernode --auth-supernode-private-key``, the public key for ``flwr supernode
register`` (a SuperLink started with ``--enable-supernode-auth`` refuses every node whose key
was not registered). Private keys are written 0600 in a 0700 directory.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from privtune.fsutil import atomic_write, private_dir

VALID_DAYS = 365


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


@dataclass(frozen=True)
class NodeKey:
    private: Path
    public: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "privtune federation"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca_and_server_cert(out: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
                            ) -> TlsFiles:
    """A CA and the SuperLink's certificate for ``hosts`` (DNS names or IP addresses)."""
    out = private_dir(Path(out))
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_cert = (x509.CertificateBuilder().subject_name(_name("privtune federation CA"))
               .issuer_name(_name("privtune federation CA")).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                            crl_sign=True, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .sign(ca_key, hashes.SHA384()))
    key = ec.generate_private_key(ec.SECP384R1())
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    cert = (x509.CertificateBuilder().subject_name(_name(hosts[0]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA384()))
    files = TlsFiles(out / "ca.crt", out / "ca.key", out / "server.pem", out / "server.key")
    atomic_write(files.ca_key, _key_pem(ca_key), mode=0o600)
    atomic_write(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    atomic_write(files.server_key, _key_pem(key), mode=0o600)
    atomic_write(files.server_cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return files


def make_node_key(out: Path, name: str) -> NodeKey:
    """A SuperNode's EC P-384 key pair (OpenSSH private and public key files)."""
    out = private_dir(Path(out))
    key = ec.generate_private_key(ec.SECP384R1())
    pair = NodeKey(out / f"{name}.key", out / f"{name}.pub")
    atomic_write(pair.private, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption()), mode=0o600)
    atomic_write(pair.public, key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b"\n", mode=0o644)
    return pair
