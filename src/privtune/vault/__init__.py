"""The vault: encrypted, versioned, tamper-evident storage for everything that holds personal data.

Objects are addressed as ``name@version`` (``name`` alone means the latest version). Each
version is one container file (:mod:`privtune.vault.format`: AES-256-GCM STREAM, authenticated
header bound to the object) encrypted under a fresh data key, wrapped by the workspace's
key-encryption key (:mod:`privtune.vault.kek` providers, :mod:`privtune.vault.keyring`
versions and rotation). Manifests (SHA-256 of plaintext and ciphertext, size, schema, creator,
parents) and wrapped keys live in the metadata store. See docs/vault.md and
docs/vault-format.md.
"""

from privtune.vault.kek import KekSpec
from privtune.vault.objects import ObjectRef, Vault, VerifyResult, parse_ref

__all__ = ["KekSpec", "ObjectRef", "Vault", "VerifyResult", "parse_ref"]
