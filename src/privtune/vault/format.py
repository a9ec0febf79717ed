"""The privtune vault container: AES-256-GCM in a STREAM construction with an authenticated header.

Layout of one object file (all integers big-endian; see docs/vault-format.md)::

    magic        8 bytes   b"PTVAULT1"
    header_len   4 bytes   length of the header JSON (<= MAX_HEADER)
    header       JSON, UTF-8, canonical (sorted keys, no spaces)
    header_mac  32 bytes   HMAC-SHA256(mac_key, magic || header_len || header)
    chunks       ciphertext of each plaintext chunk followed by its 16-byte GCM tag

The data key (32 random bytes per object, wrapped elsewhere by a KEK) is never used directly:
``mac_key = HKDF-SHA256(data_key, info="privtune-vault v1 header")`` and
``payload_key = HKDF-SHA256(data_key, info="privtune-vault v1 payload")``. Chunk ``i`` is
encrypted under the nonce ``nonce_prefix (7) || i (4) || last (1)``, with the header MAC as
associated data, so chunks cannot be reordered, dropped, truncated, appended to, or moved under
another header. The header names the object it belongs to (``binding``); readers check it.

Every chunk is authenticated before its plaintext is released; the first failure raises
:class:`IntegrityError` and nothing of that chunk (or later ones) is returned.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privtune.errors import IntegrityError

MAGIC = b"PTVAULT1"
FORMAT_VERSION = 1
CIPHER = "AES-256-GCM-STREAM"
DEFAULT_CHUNK_SIZE = 1 << 20  # 1 MiB of plaintext per chunk
MIN_CHUNK_SIZE = 16
MAX_CHUNK_SIZE = 1 << 26
MAX_HEADER = 4096
TAG_SIZE = 16
MAC_SIZE = 32
KEY_SIZE = 32
NONCE_PREFIX_SIZE = 7
MAX_CHUNKS = 1 << 32  # the counter is 4 bytes
_LEN = struct.Struct(">I")


def new_data_key() -> bytes:
    return os.urandom(KEY_SIZE)


def _hkdf(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


def derive_keys(data_key: bytes) -> tuple[bytes, bytes]:
    """``(mac_key, payload_key)`` of a data key."""
    if len(data_key) != KEY_SIZE:
        raise ValueError("data keys are 32 bytes")
    return _hkdf(data_key, b"privtune-vault v1 header"), _hkdf(data_key, b"privtune-vault v1 payload")


def nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


@dataclass(frozen=True)
class Header:
    binding: str
    chunk_size: int
    nonce_prefix: bytes

    def encode(self) -> bytes:
        doc = {
            "binding": self.binding,
            "chunk_size": self.chunk_size,
            "cipher": CIPHER,
            "nonce_prefix": self.nonce_prefix.hex(),
            "v": FORMAT_VERSION,
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def decode(cls, raw: bytes) -> Header:
        try:
            doc = json.loads(raw.decode("utf-8"))
            if doc.get("v") != FORMAT_VERSION or doc.get("cipher") != CIPHER:
                raise ValueError("unsupported format version or cipher")
            chunk = doc["chunk_size"]
            prefix = bytes.fromhex(doc["nonce_prefix"])
            binding = doc["binding"]
            if not isinstance(chunk, int) or not MIN_CHUNK_SIZE <= chunk <= MAX_CHUNK_SIZE:
                raise ValueError("chunk size out of range")
            if len(prefix) != NONCE_PREFIX_SIZE or not isinstance(binding, str):
                raise ValueError("bad nonce prefix or binding")
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            raise IntegrityError("vault object header is malformed") from None
        return cls(binding=binding, chunk_size=chunk, nonce_prefix=prefix)


@dataclass
class StreamInfo:
    """What a write or read saw: plaintext and ciphertext sizes and SHA-256 digests."""

    size: int = 0
    sha256: str = ""
    ct_size: int = 0
    ct_sha256: str = ""


class Encryptor:
    """Incremental writer: ``update(data)`` returns ciphertext bytes, ``finish()`` the rest.

    Plaintext is buffered up to one chunk; memory stays at about two chunks for any size.
    """

    def __init__(self, data_key: bytes, binding: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 hash_plaintext: bool = True) -> None:
        if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError("chunk size out of range")
        mac_key, payload_key = derive_keys(data_key)
        self._aead = AESGCM(payload_key)
        self.header = Header(binding=binding, chunk_size=chunk_size,
                             nonce_prefix=os.urandom(NONCE_PREFIX_SIZE))
        raw = self.header.encode()
        preamble = MAGIC + _LEN.pack(len(raw)) + raw
        self._mac = hmac.new(mac_key, preamble, hashlib.sha256).digest()
        self._pending = preamble + self._mac
        self._chunk = chunk_size
        self._buf = bytearray()
        self._counter = 0
        self._pt_hash = hashlib.sha256() if hash_plaintext else None
        self.size = 0
        self._done = False

    def _seal(self, data: bytes | memoryview, last: bool) -> bytes:
        if self._counter >= MAX_CHUNKS:
            raise ValueError("object too large for one vault container")
        ct = self._aead.encrypt(nonce(self.header.nonce_prefix, self._counter, last), data, self._mac)
        self._counter += 1
        return ct

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Feed plaintext; return the ciphertext completed so far (may be empty)."""
        if self._done:
            raise ValueError("encryptor already finished")
        if self._pt_hash is not None:
            self._pt_hash.update(data)
        self.size += len(data)
        out = [self._pending]
        self._pending = b""
        view = memoryview(data)
        # Keep at least one byte back: the last chunk is only known at finish().
        if self._buf:
            take = min(len(view), self._chunk - len(self._buf))
            self._buf += view[:take]
            view = view[take:]
            if len(self._buf) == self._chunk and len(view):
                out.append(self._seal(bytes(self._buf), last=False))
                self._buf.clear()
        while len(view) > self._chunk:
            out.append(self._seal(view[: self._chunk], last=False))
            view = view[self._chunk:]
        if len(view):
            self._buf += view
        return b"".join(out) if len(out) > 1 else out[0]

    def finish(self) -> bytes:
        """Seal the last chunk (possibly empty when the whole payload is empty)."""
        if self._done:
            raise ValueError("encryptor already finished")
        self._done = True
        out = self._pending + self._seal(bytes(self._buf), last=True)
        self._buf.clear()
        self._pending = b""
        return out

    @property
    def sha256(self) -> str:
        return self._pt_hash.hexdigest() if self._pt_hash is not None else ""


def _fill(src: BinaryIO, buf: bytearray) -> int:
    """``readinto`` until ``buf`` is full or the stream ends; return the bytes read."""
    view, got = memoryview(buf), 0
    while got < len(buf):
        n = src.readinto(view[got:])  # type: ignore[attr-defined]  # typing.BinaryIO lacks readinto
        if not n:
            break
        got += n
    return got


def _encrypt_into(aead: AESGCM, iv: bytes, pt: memoryview, aad: bytes, out: memoryview) -> None:
    """``AESGCM.encrypt_into`` (cryptography >= 45, no allocation); before 45 (Flower's
    environment pins cryptography < 45, docs/federated.md) the same bytes through ``encrypt``."""
    if hasattr(aead, "encrypt_into"):
        aead.encrypt_into(iv, pt, aad, out)
    else:
        out[:] = aead.encrypt(iv, bytes(pt), aad)


def _decrypt_into(aead: AESGCM, iv: bytes, ct: memoryview, aad: bytes, out: memoryview) -> None:
    """``AESGCM.decrypt_into``, or ``decrypt`` before cryptography 45 (raises InvalidTag alike)."""
    if hasattr(aead, "decrypt_into"):
        aead.decrypt_into(iv, ct, aad, out)
    else:
        out[:] = aead.decrypt(iv, bytes(ct), aad)


def encrypt_stream(src: BinaryIO, dst: BinaryIO, data_key: bytes, binding: str, *,
                   chunk_size: int = DEFAULT_CHUNK_SIZE, hash_plaintext: bool = True,
                   hash_ciphertext: bool = True) -> StreamInfo:
    """Read ``src`` to its end, write the container to ``dst``.

    Memory is three preallocated buffers (two plaintext chunks for the one-chunk look-ahead that
    finds the last chunk, one ciphertext chunk), reused for every chunk: ~3 MiB for any size.
    """
    enc = Encryptor(data_key, binding, chunk_size=chunk_size, hash_plaintext=False)
    pt_hash = hashlib.sha256() if hash_plaintext else None
    ct_hash = hashlib.sha256() if hash_ciphertext else None
    head = enc.update(b"")
    dst.write(head)
    if ct_hash is not None:
        ct_hash.update(head)
    ct_size, size = len(head), 0
    cur, nxt = bytearray(chunk_size), bytearray(chunk_size)
    out = bytearray(chunk_size + TAG_SIZE)
    out_view = memoryview(out)
    prefix, aad = enc.header.nonce_prefix, enc._mac
    n_cur = _fill(src, cur)
    counter = 0
    while True:
        n_next = _fill(src, nxt) if n_cur == chunk_size else 0
        last = n_next == 0
        pt = memoryview(cur)[:n_cur]
        if counter >= MAX_CHUNKS:
            raise ValueError("object too large for one vault container")
        ct = out_view[: n_cur + TAG_SIZE]
        _encrypt_into(enc._aead, nonce(prefix, counter, last), pt, aad, ct)
        if pt_hash is not None:
            pt_hash.update(pt)
        if ct_hash is not None:
            ct_hash.update(ct)
        dst.write(ct)
        size += n_cur
        ct_size += len(ct)
        counter += 1
        if last:
            break
        cur, nxt, n_cur = nxt, cur, n_next
    return StreamInfo(size=size, sha256=pt_hash.hexdigest() if pt_hash else "", ct_size=ct_size,
                      ct_sha256=ct_hash.hexdigest() if ct_hash else "")


def encrypt_bytes(data: bytes, data_key: bytes, binding: str, *,
                  chunk_size: int = DEFAULT_CHUNK_SIZE) -> bytes:
    enc = Encryptor(data_key, binding, chunk_size=chunk_size, hash_plaintext=False)
    return enc.update(data) + enc.finish()


def _read_exact(src: BinaryIO, n: int) -> bytes:
    parts = []
    while n:
        b = src.read(n)
        if not b:
            break
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def read_header(src: BinaryIO, data_key: bytes, binding: str | None) -> tuple[Header, bytes]:
    """Read and authenticate the header; return it and its MAC (the chunks' associated data)."""
    magic = _read_exact(src, len(MAGIC))
    if magic != MAGIC:
        raise IntegrityError("not a privtune vault object (bad magic)")
    raw_len = _read_exact(src, 4)
    if len(raw_len) != 4:
        raise IntegrityError("vault object is truncated inside its header")
    (hlen,) = _LEN.unpack(raw_len)
    if hlen > MAX_HEADER:
        raise IntegrityError("vault object header length is out of range")
    raw = _read_exact(src, hlen)
    mac = _read_exact(src, MAC_SIZE)
    if len(raw) != hlen or len(mac) != MAC_SIZE:
        raise IntegrityError("vault object is truncated inside its header")
    mac_key, _ = derive_keys(data_key)
    want = hmac.new(mac_key, magic + raw_len + raw, hashlib.sha256).digest()
    if not hmac.compare_digest(want, mac):
        raise IntegrityError(
            "vault object header failed authentication (damaged, moved from another object, "
            "or not encrypted under this data key)"
        )
    header = Header.decode(raw)
    if binding is not None and header.binding != binding:
        raise IntegrityError("vault object header belongs to another object")
    return header, mac


def decrypt_chunks(src: BinaryIO, data_key: bytes, binding: str | None) -> Iterator[memoryview]:
    """Yield verified plaintext chunks of the container in ``src``.

    A chunk is yielded only after its tag verified and, for the final chunk, after the end of
    the stream was confirmed; any damage raises :class:`IntegrityError` at the damaged chunk.

    The chunks are views into two reused buffers (no allocation per chunk): a view stays valid
    until the iteration after the next one. Copy what you keep (``bytes(view)``).
    """
    header, mac = read_header(src, data_key, binding)
    _, payload_key = derive_keys(data_key)
    aead = AESGCM(payload_key)
    block = header.chunk_size + TAG_SIZE
    prefix = header.nonce_prefix
    cur, nxt = bytearray(block), bytearray(block)
    outs = (bytearray(header.chunk_size), bytearray(header.chunk_size))
    n_cur = _fill(src, cur)
    counter = 0
    while True:
        if n_cur < TAG_SIZE:
            raise IntegrityError(f"vault object is truncated (chunk {counter})")
        n_next = _fill(src, nxt) if n_cur == block else 0
        last = n_next == 0
        if counter >= MAX_CHUNKS:
            raise IntegrityError("vault object has too many chunks")
        out = memoryview(outs[counter & 1])[: n_cur - TAG_SIZE]
        try:
            _decrypt_into(aead, nonce(prefix, counter, last), memoryview(cur)[:n_cur], mac, out)
        except InvalidTag:
            what = "final " if last else ""
            raise IntegrityError(
                f"vault object failed authentication at {what}chunk {counter} "
                "(damaged, truncated, reordered or extended)"
            ) from None
        if last and not len(out) and counter > 0:
            raise IntegrityError("vault object ends with an empty chunk after data")
        yield out
        if last:
            return
        counter += 1
        cur, nxt, n_cur = nxt, cur, n_next


def decrypt_stream(src: BinaryIO, dst: BinaryIO, data_key: bytes, binding: str | None) -> StreamInfo:
    """Decrypt ``src`` into ``dst``; returns the plaintext size and SHA-256."""
    h = hashlib.sha256()
    size = 0
    for pt in decrypt_chunks(src, data_key, binding):
        h.update(pt)
        dst.write(pt)
        size += len(pt)
    return StreamInfo(size=size, sha256=h.hexdigest())


def decrypt_bytes(blob: bytes, data_key: bytes, binding: str | None) -> bytes:
    import io

    out = bytearray()
    for pt in decrypt_chunks(io.BytesIO(blob), data_key, binding):
        out += pt
    return bytes(out)
