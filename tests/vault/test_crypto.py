"""Round-trip and tamper tests for vault.crypto (no Django needed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import math
import os
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vault import crypto
from vault.crypto import (
    HEADER_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    IntegrityError,
    KeyRing,
    StreamEncryptor,
    UnknownKeyVersion,
)

SEG = SEGMENT_SIZE + TAG_SIZE  # one full ciphertext segment
BOUNDARY_SIZES = sorted(
    {0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1}
    | {k * SEGMENT_SIZE + d for k in range(1, 5) for d in (-1, 0, 1)}
)


def encrypt(plaintext: bytes, dek: bytes, blob_id: str, chunk: int | None = None) -> bytes:
    encryptor = StreamEncryptor(dek, blob_id=blob_id)
    step = chunk or max(1, len(plaintext))
    out = [encryptor.update(plaintext[i : i + step]) for i in range(0, len(plaintext), step)]
    return b"".join([*out, encryptor.finalize()])


def decrypt(ciphertext: bytes, dek: bytes, blob_id: str) -> bytes:
    return b"".join(crypto.decrypt_stream(io.BytesIO(ciphertext), dek, blob_id=blob_id))


def decrypt_into(
    ciphertext: bytes, dek: bytes, blob_id: str, buffer: bytearray | None = None, read=None
) -> bytes:
    """Through StreamDecryptor.readinto, one buffer reused for every call."""
    buffer = bytearray(3 * SEGMENT_SIZE + 100) if buffer is None else buffer
    decryptor = crypto.StreamDecryptor(read or io.BytesIO(ciphertext), dek, blob_id=blob_id)
    out = []
    while n := decryptor.readinto(buffer):
        out.append(bytes(buffer[:n]))
    assert decryptor.readinto(buffer) == 0  # and it stays ended
    return b"".join(out)


def assert_rejected(ciphertext: bytes, dek: bytes, blob_id: str) -> None:
    with pytest.raises(IntegrityError):
        decrypt(ciphertext, dek, blob_id)
    with pytest.raises(IntegrityError):  # the same refusals decrypting into buffers
        decrypt_into(ciphertext, dek, blob_id)


def segments_of(ciphertext: bytes) -> list[bytes]:
    body = ciphertext[HEADER_SIZE:]
    return [body[i : i + SEG] for i in range(0, len(body), SEG)]


def ring(*versions: int) -> KeyRing:
    return KeyRing({v: os.urandom(32) for v in versions})


# --- streaming round trips ---------------------------------------------------


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_it_round_trips_at_every_segment_boundary(size):
    dek, plaintext = crypto.new_dek(), os.urandom(size)
    for chunk in (None, 7919, SEGMENT_SIZE):
        ciphertext = encrypt(plaintext, dek, "blob-1", chunk)
        assert len(ciphertext) == crypto.ciphertext_size(size)
        assert decrypt(ciphertext, dek, "blob-1") == plaintext
        for capacity in (SEGMENT_SIZE, 2 * SEGMENT_SIZE + 7):
            buffer = bytearray(capacity)
            assert decrypt_into(ciphertext, dek, "blob-1", buffer) == plaintext


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_it_round_trips_whatever_the_chunking_and_read_sizes(data):
    segments = st.integers(0, 4)
    size = data.draw(
        st.one_of(
            st.sampled_from(BOUNDARY_SIZES),
            st.builds(lambda k, d: max(0, k * SEGMENT_SIZE + d), segments, st.integers(-3, 3)),
            st.builds(lambda k, r: k * SEGMENT_SIZE + r, segments, st.integers(0, SEGMENT_SIZE)),
        ),
        label="size",
    )
    seed = data.draw(st.integers(0, 2**32), label="seed")
    rng = random.Random(seed)
    plaintext = rng.randbytes(size)
    cuts = sorted(data.draw(st.lists(st.integers(0, size), max_size=12), label="cuts"))
    dek = rng.randbytes(32)

    encryptor = StreamEncryptor(dek, blob_id="b")
    bounds = zip([0, *cuts], [*cuts, size], strict=True)
    pieces = [encryptor.update(plaintext[a:b]) for a, b in bounds]
    ciphertext = b"".join([*pieces, encryptor.finalize()])
    assert len(ciphertext) == crypto.ciphertext_size(size)
    # Chunk boundaries must not matter: same layout as one-shot encryption.
    assert len(ciphertext) == len(encrypt(plaintext, dek, "b"))

    source = io.BytesIO(ciphertext)

    def short_reads(n: int) -> bytes:
        return source.read(rng.randint(1, max(1, min(n, 2 * SEG))))

    out = list(crypto.decrypt_stream(short_reads, dek, blob_id="b"))
    assert b"".join(out) == plaintext
    assert all(len(p) <= SEGMENT_SIZE for p in out)


def test_decrypting_into_one_reused_buffer_never_leaks_an_earlier_streams_bytes():
    dek = crypto.new_dek()
    # Larger streams first, so every later, shorter one lands on a dirty buffer.
    for capacity in (SEGMENT_SIZE, 2 * SEGMENT_SIZE + 1, 5 * SEGMENT_SIZE):
        buffer = bytearray(b"\xaa" * capacity)
        for size in sorted(BOUNDARY_SIZES, reverse=True):
            plaintext = os.urandom(size)
            ciphertext = encrypt(plaintext, dek, "b", 7919)
            assert decrypt_into(ciphertext, dek, "b", buffer) == plaintext


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_decrypting_into_buffers_copes_with_short_reads_and_plain_read_callables(data):
    size = data.draw(st.sampled_from(BOUNDARY_SIZES), label="size")
    rng = random.Random(size)
    plaintext = rng.randbytes(size)
    dek = crypto.new_dek()
    source = io.BytesIO(encrypt(plaintext, dek, "b"))

    def short_reads(n: int) -> bytes:  # no readinto: the decryptor copies what read returns
        return source.read(rng.randint(1, max(1, min(n, 2 * SEG))))

    capacity = data.draw(st.integers(SEGMENT_SIZE, 4 * SEGMENT_SIZE), label="capacity")
    assert decrypt_into(b"", dek, "b", bytearray(capacity), read=short_reads) == plaintext


def test_decrypting_into_buffers_reads_in_whole_batches_and_needs_a_segment_of_room():
    dek = crypto.new_dek()
    ciphertext = encrypt(os.urandom(40 * SEGMENT_SIZE), dek, "b")
    source = io.BytesIO(ciphertext)
    decryptor = crypto.StreamDecryptor(source, dek, blob_id="b", segments=4)
    with pytest.raises(ValueError):
        decryptor.readinto(bytearray(SEGMENT_SIZE - 1))
    buffer = bytearray(10 * SEGMENT_SIZE)
    assert decryptor.readinto(buffer) == 4 * SEGMENT_SIZE  # at most `segments` per call
    assert source.tell() == HEADER_SIZE + 4 * SEG + 1  # and one byte of look-ahead, no more


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_sealing_into_buffers_gives_the_same_stream_even_from_a_reused_input(data):
    size = data.draw(st.integers(0, 5 * SEGMENT_SIZE), label="size")
    plaintext = random.Random(size).randbytes(size)
    cuts = sorted(data.draw(st.lists(st.integers(0, size), max_size=8), label="cuts"))
    dek = crypto.new_dek()
    encryptor = StreamEncryptor(dek, blob_id="b")
    scratch = bytearray()  # the caller's input buffer, overwritten after every call
    pieces = []
    for a, b in zip([0, *cuts], [*cuts, size], strict=True):
        scratch[:] = plaintext[a:b]
        out = bytearray(StreamEncryptor.max_update_size(len(scratch)))
        written = encryptor.update_into(scratch, out)
        pieces.append(bytes(out[:written]))
        scratch[:] = b"\xff" * len(scratch)  # a kept reference would now be wrong
    ciphertext = b"".join([*pieces, encryptor.finalize()])
    assert len(ciphertext) == crypto.ciphertext_size(size)
    assert decrypt(ciphertext, dek, "b") == plaintext


def test_update_and_update_into_emit_identical_bytes():
    dek, plaintext = crypto.new_dek(), os.urandom(3 * SEGMENT_SIZE + 5)
    chunks = [plaintext[:100], plaintext[100 : 2 * SEGMENT_SIZE], plaintext[2 * SEGMENT_SIZE :]]
    one, two = StreamEncryptor(dek, blob_id="b"), StreamEncryptor(dek, blob_id="b")
    two._prefix, two._header, two._aad = one._prefix, one._header, one._aad  # same nonces
    into = []
    for chunk in chunks:
        out = bytearray(StreamEncryptor.max_update_size(len(chunk)))
        written = two.update_into(chunk, out)
        into.append(bytes(out[:written]))
    assert into == [one.update(chunk) for chunk in chunks]
    assert one.finalize() == two.finalize()


def test_it_emits_the_header_once_even_without_update():
    dek = crypto.new_dek()
    encryptor = StreamEncryptor(dek, blob_id="b")
    empty = encryptor.finalize()
    assert len(empty) == HEADER_SIZE + TAG_SIZE == crypto.ciphertext_size(0)
    assert empty[:4] == b"AMPV" and empty[4] == 1
    assert int.from_bytes(empty[5:9], "big") == SEGMENT_SIZE
    assert decrypt(empty, dek, "b") == b""
    encryptor = StreamEncryptor(dek, blob_id="b")
    first = encryptor.update(b"")
    assert len(first) == HEADER_SIZE and encryptor.update(b"") == b""
    assert decrypt(first + encryptor.finalize(), dek, "b") == b""


def test_it_keeps_memory_flat_while_encrypting_and_decrypting():
    dek = crypto.new_dek()
    encryptor = StreamEncryptor(dek, blob_id="b")
    fed = emitted = 0
    for _ in range(3 * SEGMENT_SIZE // 1024 + 1):
        fed += 1024
        emitted += len(encryptor.update(os.urandom(1024)))
        held_back = fed - (emitted - HEADER_SIZE) // SEG * SEGMENT_SIZE
        assert held_back <= SEGMENT_SIZE  # never more than one segment buffered
    assert emitted == HEADER_SIZE + 3 * SEG
    ciphertext = b"".join(
        crypto.encrypt_stream((os.urandom(SEGMENT_SIZE) for _ in range(8)), dek, blob_id="b")
    )
    source = io.BytesIO(ciphertext)
    stream = crypto.decrypt_stream(source, dek, blob_id="b")
    next(stream)
    assert source.tell() <= HEADER_SIZE + 2 * SEG + 1


def test_it_refuses_to_use_an_encryptor_after_finalize():
    encryptor = StreamEncryptor(crypto.new_dek(), blob_id="b")
    encryptor.finalize()
    with pytest.raises(crypto.CryptoError):
        encryptor.update(b"x")
    with pytest.raises(crypto.CryptoError):
        encryptor.finalize()


def test_it_computes_ciphertext_sizes():
    assert crypto.ciphertext_size(0) == HEADER_SIZE + TAG_SIZE
    assert crypto.ciphertext_size(SEGMENT_SIZE) == HEADER_SIZE + SEG
    assert crypto.ciphertext_size(SEGMENT_SIZE + 1) == HEADER_SIZE + SEG + 1 + TAG_SIZE
    with pytest.raises(ValueError):
        crypto.ciphertext_size(-1)


# --- stream tampering --------------------------------------------------------


@pytest.fixture(scope="module")
def three_segments():
    dek = crypto.new_dek()
    plaintext = os.urandom(2 * SEGMENT_SIZE + 1000)
    return dek, plaintext, encrypt(plaintext, dek, "blob-A")


def interesting_positions(length: int) -> set[int]:
    positions = set(range(HEADER_SIZE)) | set(range(HEADER_SIZE, length, 97)) | {length - 1}
    for start in range(HEADER_SIZE, length, SEG):
        end = min(start + SEG, length)
        positions |= {start, start + 1, end - TAG_SIZE - 1, end - TAG_SIZE, end - 1}
    return positions


def test_it_detects_a_bit_flip_in_every_region(three_segments):
    dek, _, ciphertext = three_segments
    positions = interesting_positions(len(ciphertext))
    assert set(range(HEADER_SIZE)) <= positions and len(positions) > 1300
    for position in sorted(positions):
        tampered = bytearray(ciphertext)
        tampered[position] ^= 1 << (position % 8)
        assert_rejected(bytes(tampered), dek, "blob-A")


@pytest.mark.parametrize("plaintext_size", [2 * SEGMENT_SIZE + 1000, 2 * SEGMENT_SIZE, 0])
def test_it_detects_truncation_anywhere(plaintext_size):
    dek = crypto.new_dek()
    ciphertext = encrypt(os.urandom(plaintext_size), dek, "b")
    cuts = set(range(0, len(ciphertext), 97)) | set(range(HEADER_SIZE + 2))
    for boundary in range(HEADER_SIZE, len(ciphertext) + 1, SEG):
        cuts |= {boundary - 17, boundary - 16, boundary - 1, boundary, boundary + 1}
    cuts = {c for c in cuts if 0 <= c < len(ciphertext)}
    # Dropping whole final segments, exactly at a boundary, is among them.
    assert HEADER_SIZE + SEG in cuts or plaintext_size < SEGMENT_SIZE
    for cut in sorted(cuts):
        assert_rejected(ciphertext[:cut], dek, "b")


def test_it_detects_bytes_after_the_final_segment(three_segments):
    dek, _, ciphertext = three_segments
    for extra in (b"\x00", os.urandom(TAG_SIZE), os.urandom(SEG + 1), ciphertext):
        assert_rejected(ciphertext + extra, dek, "blob-A")
    last = segments_of(ciphertext)[-1]
    assert_rejected(ciphertext + last, dek, "blob-A")


def test_it_detects_reordered_duplicated_and_dropped_segments(three_segments):
    dek, _, ciphertext = three_segments
    header, (s0, s1, s2) = ciphertext[:HEADER_SIZE], segments_of(ciphertext)
    for order in ([s1, s0, s2], [s0, s0, s1, s2], [s0, s1, s1, s2], [s0, s2], [s1, s2], [s2]):
        assert_rejected(header + b"".join(order), dek, "blob-A")
    assert decrypt(header + s0 + s1 + s2, dek, "blob-A") == three_segments[1]


def test_it_detects_a_segment_spliced_from_another_blob(three_segments):
    dek, plaintext, ciphertext = three_segments
    header, (s0, s1, s2) = ciphertext[:HEADER_SIZE], segments_of(ciphertext)
    for other_id in ("blob-B", "blob-A"):  # another blob, or a re-encryption of this one
        other = encrypt(plaintext, dek, other_id)
        o_header, (_, o1, o2) = other[:HEADER_SIZE], segments_of(other)
        assert_rejected(header + s0 + o1 + s2, dek, "blob-A")
        assert_rejected(header + s0 + s1 + o2, dek, "blob-A")
        assert_rejected(o_header + s0 + s1 + s2, dek, "blob-A")


def test_it_rejects_the_wrong_blob_id_or_key(three_segments):
    dek, _, ciphertext = three_segments
    assert_rejected(ciphertext, dek, "blob-B")
    assert_rejected(ciphertext, dek, "blob-A ")
    assert_rejected(ciphertext, crypto.new_dek(), "blob-A")


def test_it_uses_a_fresh_nonce_prefix_for_every_stream():
    dek = crypto.new_dek()
    headers = {StreamEncryptor(dek, blob_id="b").update(b"") for _ in range(1000)}
    assert len(headers) == 1000
    assert len({h[9:HEADER_SIZE] for h in headers}) == 1000


# --- data keys and key rings ---------------------------------------------------


def test_it_wraps_and_unwraps_a_dek_bound_to_its_blob():
    keys = ring(1, 2)
    dek = crypto.new_dek()
    version, wrapped = crypto.wrap_dek(keys, dek, blob_id="blob-1")
    assert version == 2 and len(wrapped) == 60
    assert crypto.unwrap_dek(keys, version, wrapped, blob_id="blob-1") == dek
    with pytest.raises(IntegrityError):
        crypto.unwrap_dek(keys, version, wrapped, blob_id="blob-2")
    with pytest.raises(IntegrityError):
        crypto.unwrap_dek(keys, 1, wrapped, blob_id="blob-1")
    with pytest.raises(IntegrityError):
        crypto.unwrap_dek(ring(2), version, wrapped, blob_id="blob-1")
    with pytest.raises(UnknownKeyVersion):
        crypto.unwrap_dek(keys, 3, wrapped, blob_id="blob-1")
    for position in range(len(wrapped)):
        tampered = bytearray(wrapped)
        tampered[position] ^= 0x80
        with pytest.raises(IntegrityError):
            crypto.unwrap_dek(keys, version, bytes(tampered), blob_id="blob-1")
    with pytest.raises(IntegrityError):
        crypto.unwrap_dek(keys, version, wrapped[:-1], blob_id="blob-1")


def test_it_detects_wrapped_deks_swapped_between_blobs():
    keys = ring(1)
    _, wrapped_a = crypto.wrap_dek(keys, crypto.new_dek(), blob_id="a")
    _, wrapped_b = crypto.wrap_dek(keys, crypto.new_dek(), blob_id="b")
    with pytest.raises(IntegrityError):
        crypto.unwrap_dek(keys, 1, wrapped_b, blob_id="a")
    with pytest.raises(IntegrityError):
        crypto.unwrap_dek(keys, 1, wrapped_a, blob_id="b")


def test_it_rotates_by_rewrapping_without_touching_the_data():
    old = KeyRing({1: os.urandom(32)})
    dek = crypto.new_dek()
    ciphertext = encrypt(b"evidence", dek, "blob-1")
    version, wrapped = crypto.wrap_dek(old, dek, blob_id="blob-1")
    rotated = KeyRing({1: old.kek(1), 2: os.urandom(32)})
    new_version, rewrapped = crypto.rewrap_dek(rotated, version, wrapped, blob_id="blob-1")
    assert (version, new_version) == (1, 2)
    retired = KeyRing({2: rotated.kek(2)})
    unwrapped = crypto.unwrap_dek(retired, new_version, rewrapped, blob_id="blob-1")
    assert decrypt(ciphertext, unwrapped, "blob-1") == b"evidence"


def test_it_parses_a_key_ring_with_comments_and_both_base64_alphabets():
    raw = [os.urandom(32) for _ in range(3)]
    spec = (
        "# Amparo key file\n\n"
        f"1:{base64.urlsafe_b64encode(raw[0]).decode().rstrip('=')}\n"
        f"  # retired soon\n2:{base64.b64encode(raw[1]).decode()}, "
        f"7:{base64.urlsafe_b64encode(raw[2]).decode()}\n"
    )
    keys = crypto.parse_keyring(spec)
    assert keys.versions() == [1, 2, 7] and keys.current_version == 7
    assert [keys.kek(v) for v in (1, 2, 7)] == raw
    assert isinstance(keys, crypto.KeyProvider)
    assert crypto.parse_keyring(f"3:{crypto.generate_key()}").current_version == 3
    text = repr(keys)
    assert all(base64.b64encode(k).decode()[:8] not in text for k in raw)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("1:{a},1:{b}", "appears twice"),
        ("1:{a},2:{a}", "same key"),
        ("1:{short}", "32 bytes"),
        ("1:{long}", "32 bytes"),
        ("1:not*base64!", "not base64"),
        ("0:{a}", "positive"),
        ("-1:{a}", "VERSION:BASE64KEY"),
        ("x:{a}", "VERSION:BASE64KEY"),
        ("{a}", "VERSION:BASE64KEY"),
        ("", "empty"),
        ("# only a comment\n", "empty"),
    ],
)
def test_it_refuses_bad_key_rings_without_printing_keys(spec, message):
    a, b = crypto.generate_key(), crypto.generate_key()
    short = base64.urlsafe_b64encode(os.urandom(16)).decode()
    long = base64.urlsafe_b64encode(os.urandom(33)).decode()
    spec = spec.format(a=a, b=b, short=short, long=long)
    with pytest.raises(ValueError, match=message) as error:
        crypto.parse_keyring(spec)
    for secret in (a, b, short, long):
        assert secret[:10] not in str(error.value)


def test_it_derives_distinct_keys_per_purpose_and_version():
    keys = ring(1, 2)
    crypto.check_purpose_keys(keys)
    derived = {(v, p): crypto.derive_key(keys, p, v) for v in (1, 2) for p in crypto.PURPOSES}
    assert len(set(derived.values())) == len(derived)
    assert crypto.derive_key(keys, "field") == derived[(2, "field")]
    assert crypto.derive_key(keys, "field", 1) == derived[(1, "field")]
    with pytest.raises(ValueError):
        crypto.derive_key(keys, "everything")


def test_it_refuses_to_start_when_purpose_keys_coincide():
    class SameKeyTwice:
        current_version = 2

        def __init__(self):
            self.key = os.urandom(32)

        def kek(self, version: int) -> bytes:
            return self.key

        def versions(self) -> list[int]:
            return [1, 2]

    with pytest.raises(ValueError, match="same key"):
        crypto.check_purpose_keys(SameKeyTwice())


# --- sealing to a police unit ------------------------------------------------


def test_it_seals_a_dek_that_only_the_recipient_can_open():
    private, public = crypto.generate_recipient_keypair()
    keys = ring(1)
    dek = crypto.new_dek()
    sealed = crypto.seal_dek(dek, public, blob_id="blob-1")
    assert len(sealed) == 92 and sealed != crypto.seal_dek(dek, public, blob_id="blob-1")
    assert crypto.open_sealed_dek(sealed, private, blob_id="blob-1") == dek
    # Everything the server holds — the public key, every KEK and purpose key — fails.
    server_keys = [public, keys.kek(1)] + [crypto.derive_key(keys, p) for p in crypto.PURPOSES]
    for key in [*server_keys, crypto.generate_recipient_keypair()[0]]:
        with pytest.raises(IntegrityError):
            crypto.open_sealed_dek(sealed, key, blob_id="blob-1")
    with pytest.raises(IntegrityError):
        crypto.open_sealed_dek(sealed, private, blob_id="blob-2")
    for position in (0, 31, 32, 43, 44, 60, 91):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01
        with pytest.raises(IntegrityError):
            crypto.open_sealed_dek(bytes(tampered), private, blob_id="blob-1")
    with pytest.raises(IntegrityError):
        crypto.open_sealed_dek(sealed[:-1], private, blob_id="blob-1")


def test_it_refuses_an_invalid_recipient_key():
    with pytest.raises(crypto.CryptoError):
        crypto.seal_dek(crypto.new_dek(), bytes(32), blob_id="b")  # a low-order point
    with pytest.raises(crypto.CryptoError):
        crypto.seal_dek(crypto.new_dek(), b"short", blob_id="b")


def test_it_round_trips_recipient_keys_through_pem_and_base64():
    private, public = crypto.generate_recipient_keypair()
    pem = crypto.private_key_to_pem(private)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert crypto.private_key_from_pem(pem) == private
    locked = crypto.private_key_to_pem(private, password=b"correct horse")
    assert b"ENCRYPTED" in locked
    assert crypto.private_key_from_pem(locked, password=b"correct horse") == private
    assert crypto.public_key_from_b64(crypto.public_key_to_b64(public)) == public
    assert crypto.public_key_from_b64(base64.b64encode(public).decode()) == public
    with pytest.raises(ValueError):
        crypto.public_key_from_b64(base64.b64encode(public[:31]).decode())


def test_it_fingerprints_public_keys_for_reading_aloud():
    _, public = crypto.generate_recipient_keypair()
    fingerprint = crypto.public_key_fingerprint(public)
    assert re.fullmatch(r"([0-9A-F]{4} ){7}[0-9A-F]{4}", fingerprint)
    assert fingerprint.replace(" ", "").lower() == hashlib.sha256(public).hexdigest()[:32]


# --- small fields and blind indexes --------------------------------------------


def test_it_round_trips_a_field_bound_to_its_context():
    key = os.urandom(32)
    context = "support_case|narrative|3f1c2a"
    token = crypto.encrypt_field(key, "Mi hija…".encode(), context=context)
    assert token[0] == 1
    assert crypto.decrypt_field(key, token, context=context).decode() == "Mi hija…"
    empty = crypto.encrypt_field(key, b"", context="c")
    assert crypto.decrypt_field(key, empty, context="c") == b""
    for wrong in ("support_case|narrative|9d8e7f", "support_case|notes|3f1c2a", ""):
        with pytest.raises(IntegrityError):
            crypto.decrypt_field(key, token, context=wrong)
    with pytest.raises(IntegrityError):
        crypto.decrypt_field(os.urandom(32), token, context=context)
    for position in range(len(token)):
        tampered = bytearray(token)
        tampered[position] ^= 0x04
        with pytest.raises(IntegrityError):
            crypto.decrypt_field(key, bytes(tampered), context=context)
    for bad in (b"", token[:28], b"\x02" + token[1:]):
        with pytest.raises(IntegrityError):
            crypto.decrypt_field(key, bad, context=context)


def test_it_never_repeats_a_field_nonce():
    key = os.urandom(32)
    nonces = {crypto.encrypt_field(key, b"x", context="c")[1:13] for _ in range(10_000)}
    assert len(nonces) == 10_000


def test_it_computes_domain_separated_blind_indexes():
    key = os.urandom(32)
    index = crypto.blind_index(key, "+34612345678", domain="phone")
    expected = hmac.new(key, b"phone\x00+34612345678", hashlib.sha256).hexdigest()
    assert index == expected and len(index) == 64
    assert index == crypto.blind_index(key, "+34612345678", domain="phone")
    assert index != crypto.blind_index(key, "+34612345678", domain="handle:whatsapp")
    assert index != crypto.blind_index(os.urandom(32), "+34612345678", domain="phone")
    # The separator keeps domain "ab" + "c" apart from domain "a" + "bc".
    assert crypto.blind_index(key, "c", domain="ab") != crypto.blind_index(key, "bc", domain="a")
    with pytest.raises(ValueError):
        crypto.blind_index(key, "x", domain="a\x00b")
    with pytest.raises(ValueError):
        crypto.blind_index(b"short", "x", domain="phone")


# --- access codes ----------------------------------------------------------------


def test_it_generates_access_codes_with_at_least_64_bits():
    alphabet = crypto.ACCESS_CODE_ALPHABET
    assert not set("0O1IL") & set(alphabet) and len(set(alphabet)) == len(alphabet)
    assert crypto.ACCESS_CODE_LENGTH * math.log2(len(alphabet)) >= 64
    codes = {crypto.generate_access_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 16 and set(c) <= set(alphabet) for c in codes)
    assert set("".join(codes)) == set(alphabet)  # every symbol is used
    assert re.fullmatch(r"AMP-[2-9A-HJKMNP-Z]{8}", crypto.generate_case_reference())


def test_it_formats_and_normalises_access_codes():
    code = crypto.generate_access_code()
    shown = crypto.format_access_code(code)
    assert re.fullmatch(r"([2-9A-Z]{4}-){3}[2-9A-Z]{4}", shown)
    assert crypto.normalise_access_code(shown) == code
    assert crypto.normalise_access_code(f" {shown.lower()} ".replace("-", " ")) == code
    assert crypto.normalise_access_code(shown.replace("-", "\u2013")) == code
    full_width = "\uff21\uff22\uff23\uff24\uff0d\uff25\uff26\uff27\uff28"
    assert crypto.normalise_access_code(full_width) == "ABCDEFGH"
    for bad in ("ABCD-EFGH", "ABCD-EFGH-JKMN-PQR0", "ABCD-EFGH-JKMN-PQRS-T"):
        with pytest.raises(ValueError):
            crypto.format_access_code(bad)


def test_it_hashes_and_verifies_access_codes_with_a_pepper():
    pepper, code = os.urandom(32), crypto.generate_access_code()
    stored = crypto.hash_access_code(code, pepper)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=1$") and code not in stored
    assert crypto.verify_access_code(stored, crypto.format_access_code(code).lower(), pepper)
    assert not crypto.verify_access_code(stored, crypto.generate_access_code(), pepper)
    assert not crypto.verify_access_code(stored, code, os.urandom(32))
    assert not crypto.verify_access_code("not a hash", code, pepper)


def test_without_a_pepper_the_hash_is_argon2id_of_the_normalised_code():
    """The form support now encrypts under a rotatable key (support.intake)."""
    code = crypto.generate_access_code()
    stored = crypto.hash_access_code(code)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=1$") and code not in stored
    assert crypto.verify_access_code(stored, crypto.format_access_code(code).lower())
    assert not crypto.verify_access_code(stored, crypto.generate_access_code())
    # A peppered hash and an unpeppered one never stand in for each other.
    assert not crypto.verify_access_code(stored, code, os.urandom(32))
    assert not crypto.verify_access_code(crypto.hash_access_code(code, os.urandom(32)), code)


def test_it_burns_the_same_argon2_cost_for_unknown_references():
    # Same algorithm and parameters as a real stored hash: the same cost to verify.
    real = crypto.hash_access_code(crypto.generate_access_code(), os.urandom(32))
    assert crypto.DUMMY_ACCESS_HASH.rsplit("$", 2)[0] == real.rsplit("$", 2)[0]
    assert crypto.burn_verify_time(os.urandom(32)) is None


# --- signatures and hashes -------------------------------------------------------


def test_it_signs_and_verifies_and_detects_tampering():
    private = crypto.generate_signing_key()
    public = crypto.signing_public_key(private)
    manifest = b'{"items": [{"sha256": "..."}]}'
    signature = crypto.sign(private, manifest)
    assert len(private) == len(public) == 32 and len(signature) == 64
    assert crypto.verify_signature(public, manifest, signature)
    assert not crypto.verify_signature(public, manifest + b" ", signature)
    for position in (0, 31, 32, 63):
        tampered = bytearray(signature)
        tampered[position] ^= 0x01
        assert not crypto.verify_signature(public, manifest, bytes(tampered))
    assert not crypto.verify_signature(public, manifest, signature[:-1])
    other = crypto.signing_public_key(crypto.generate_signing_key())
    assert not crypto.verify_signature(other, manifest, signature)
    derived = crypto.derive_key(ring(1), "signing")
    assert crypto.verify_signature(
        crypto.signing_public_key(derived), b"m", crypto.sign(derived, b"m")
    )
    with pytest.raises(ValueError):
        crypto.verify_signature(public[:31], manifest, signature)


@pytest.mark.parametrize("parallel", [False, True])
def test_it_hashes_streams_with_sha256_and_md5(parallel):
    assert crypto.sha256_hex(b"abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    data = os.urandom(3_000_000)
    hasher = crypto.StreamHasher(parallel=parallel)
    buffer = bytearray(4096)
    for i in range(0, len(data), 4096):
        # One reused buffer, as a reader would: the MD5 helper must not see it change.
        piece = data[i : i + 4096]
        buffer[: len(piece)] = piece
        hasher.update(memoryview(buffer)[: len(piece)])
    assert hasher.size == len(data)
    assert hasher.hexdigests() == (
        hashlib.sha256(data).hexdigest(),
        hashlib.md5(data, usedforsecurity=False).hexdigest(),
    )
    hasher.close()
    assert hasher.hexdigests()[0] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("parallel", [False, True])
def test_it_can_leave_md5_out(parallel):
    data = os.urandom(300_000)
    hasher = crypto.StreamHasher(parallel=parallel, md5=False)
    hasher.update(data)
    assert hasher.hexdigests() == (hashlib.sha256(data).hexdigest(), "")
    hasher.close()
