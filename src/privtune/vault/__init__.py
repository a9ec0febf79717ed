"""The vault: versioned, immutable, hashed objects for everything that holds personal data.

Objects are addressed as ``name@version`` (``name`` alone means the latest version). Each
version is written atomically and durably and has a manifest row in the metadata store
(SHA-256 of the payload, size, schema, creator, parents).

Encryption at rest (chunked AEAD with envelope keys) plugs in at :mod:`privtune.vault.codec`;
this first version stores payloads through the identity codec.
"""

from privtune.vault.objects import ObjectRef, Vault, parse_ref

__all__ = ["ObjectRef", "Vault", "parse_ref"]
