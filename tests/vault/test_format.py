"""The container format: round trips, and every kind of damage caught before plaintext leaks."""

from __future__ import annotations

import io
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.errors import IntegrityError
from privtune.vault import format as fmt

CHUNK = 64
KEY = bytes(range(32))
BINDING = "vault0:obj@1"
HEADER_END_GUESS = 8 + 4  # magic + length; the header itself follows


def seal(data: bytes, chunk: int = CHUNK, key: bytes = KEY, binding: str = BINDING) -> bytes:
    return fmt.encrypt_bytes(data, key, binding, chunk_size=chunk)


def header_size(blob: bytes) -> int:
    return 8 + 4 + int.from_bytes(blob[8:12], "big") + fmt.MAC_SIZE


def released(blob: bytes, key: bytes = KEY, binding: str | None = BINDING) -> tuple[list[bytes], Exception | None]:
    """Plaintext chunks released before the reader raised (if it did)."""
    out: list[bytes] = []
    try:
        for pt in fmt.decrypt_chunks(io.BytesIO(blob), key, binding):
            out.append(bytes(pt))
    except Exception as exc:
        return out, exc
    return out, None


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=0, max_size=6 * CHUNK + 3), cuts=st.lists(st.integers(0, 7 * CHUNK), max_size=6))
def test_round_trip_any_size_any_write_pattern(data: bytes, cuts: list[int]) -> None:
    enc = fmt.Encryptor(KEY, BINDING, chunk_size=CHUNK)
    parts, last = [], 0
    for c in sorted(set(min(c, len(data)) for c in cuts)) + [len(data)]:
        parts.append(enc.update(data[last:c]))
        last = c
    blob = b"".join(parts) + enc.finish()
    n_chunks = max(1, -(-len(data) // CHUNK))
    assert len(blob) == header_size(blob) + len(data) + n_chunks * fmt.TAG_SIZE
    assert fmt.decrypt_bytes(blob, KEY, BINDING) == data
    assert enc.sha256 == __import__("hashlib").sha256(data).hexdigest()


@settings(max_examples=25, deadline=None)
@given(data=st.binary(min_size=0, max_size=5 * CHUNK))
def test_stream_functions_agree_with_bytes(data: bytes) -> None:
    dst = io.BytesIO()
    info = fmt.encrypt_stream(io.BytesIO(data), dst, KEY, BINDING, chunk_size=CHUNK)
    assert info.size == len(data) and info.ct_size == len(dst.getvalue())
    out = io.BytesIO()
    back = fmt.decrypt_stream(io.BytesIO(dst.getvalue()), out, KEY, BINDING)
    assert out.getvalue() == data and back.sha256 == info.sha256


def test_same_plaintext_gives_different_ciphertext() -> None:
    assert seal(b"x" * 100) != seal(b"x" * 100)


def test_thousand_bit_flips_each_caught_before_damaged_plaintext() -> None:
    rng = random.Random(1234)
    data = os.urandom(40 * CHUNK + 17)
    blob = seal(data)
    hsize = header_size(blob)
    positions = rng.sample(range(len(blob)), 1000)
    for pos in positions:
        bad = bytearray(blob)
        bad[pos] ^= 1 << rng.randrange(8)
        out, exc = released(bytes(bad))
        assert isinstance(exc, IntegrityError), (pos, exc)
        if pos < hsize:
            assert out == []
        else:
            damaged = (pos - hsize) // (CHUNK + fmt.TAG_SIZE)
            assert len(out) <= damaged
            assert b"".join(out) == data[: len(out) * CHUNK]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_every_truncation_is_caught(size: int) -> None:
    data = os.urandom(size)
    blob = seal(data)
    for cut in range(len(blob)):
        out, exc = released(blob[:cut])
        assert isinstance(exc, IntegrityError), (size, cut)
        assert b"".join(out) == data[: len(b"".join(out))]


@pytest.mark.parametrize("size", [0, 10, CHUNK, 2 * CHUNK, 2 * CHUNK + 9])
@pytest.mark.parametrize("extra", [1, fmt.TAG_SIZE, CHUNK + fmt.TAG_SIZE, 3 * CHUNK])
def test_appended_bytes_are_caught(size: int, extra: int) -> None:
    blob = seal(os.urandom(size))
    _, exc = released(blob + os.urandom(extra))
    assert isinstance(exc, IntegrityError)


def test_appending_a_valid_chunk_from_the_same_object_is_caught() -> None:
    blob = seal(os.urandom(3 * CHUNK))
    h, block = header_size(blob), CHUNK + fmt.TAG_SIZE
    chunks = [blob[h + i * block: h + (i + 1) * block] for i in range(3)]
    _, exc = released(blob + chunks[0])
    assert isinstance(exc, IntegrityError)


def test_swapped_reordered_and_dropped_chunks_are_caught() -> None:
    data = os.urandom(4 * CHUNK + 5)
    blob = seal(data)
    h, block = header_size(blob), CHUNK + fmt.TAG_SIZE
    head = blob[:h]
    chunks = [blob[h + i * block: h + (i + 1) * block] for i in range(5)]
    variants = [
        [chunks[1], chunks[0], *chunks[2:]],
        [chunks[0], chunks[2], chunks[1], chunks[3], chunks[4]],
        [chunks[0], chunks[1], chunks[3], chunks[2], chunks[4]],
        [chunks[0], *chunks[2:]],            # a middle chunk dropped
        chunks[:4],                          # the final chunk dropped (boundary truncation)
        [chunks[0], chunks[0], *chunks[2:]],  # a chunk duplicated
    ]
    for v in variants:
        out, exc = released(head + b"".join(v))
        assert isinstance(exc, IntegrityError)
        assert b"".join(out) == data[: len(b"".join(out))]


def test_header_moved_onto_another_object_is_caught() -> None:
    a, b = seal(os.urandom(3 * CHUNK)), seal(os.urandom(3 * CHUNK))
    ha, hb = header_size(a), header_size(b)
    out, exc = released(a[:ha] + b[hb:])
    assert isinstance(exc, IntegrityError) and out == []
    # Same data key, other object name: the binding check refuses it.
    c = seal(b"payload", binding="vault0:other@1")
    out, exc = released(c, binding=BINDING)
    assert isinstance(exc, IntegrityError) and out == []


def test_wrong_key_releases_nothing() -> None:
    blob = seal(b"secret text " * 20)
    out, exc = released(blob, key=bytes(32))
    assert isinstance(exc, IntegrityError) and out == []


def test_header_length_out_of_range_and_bad_magic() -> None:
    blob = bytearray(seal(b"abc"))
    big = bytearray(blob)
    big[8:12] = (1 << 31).to_bytes(4, "big")
    assert isinstance(released(bytes(big))[1], IntegrityError)
    assert isinstance(released(b"NOTVAULT" + bytes(blob[8:]))[1], IntegrityError)
    assert isinstance(released(b"")[1], IntegrityError)


def test_nonce_layout() -> None:
    n = fmt.nonce(b"\xaa" * 7, 5, True)
    assert n == b"\xaa" * 7 + b"\x00\x00\x00\x05" + b"\x01" and len(n) == 12
