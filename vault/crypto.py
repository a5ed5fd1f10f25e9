"""All of Amparo's cryptography, in one module.

Nothing else in the project touches a cipher, a key derivation or a password hash:
callers hand bytes in and get bytes out. Every function below names its algorithm
and the threat it answers. Only well-reviewed primitives are used (the
``cryptography`` package, ``hashlib``/``hmac``/``secrets`` and ``argon2-cffi``);
the constructions (envelope encryption, segmented AEAD in the style of Tink's
"streaming AEAD", HPKE-style sealing) are standard ones.

The byte layouts are documented in ``docs/vault-format.md``; change them only
together with that file and a new format version.

This module must not import Django: the offline tools and the tests use it alone.
Opening a sealed blob away from the server (``vault.sealed``) must need nothing but
``cryptography``, so ``argon2`` is imported only by the access-code functions.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import queue
import secrets
import string
import struct
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import BinaryIO, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_SIZE = 32  # bytes: AES-256, HMAC-SHA-256, X25519 and Ed25519 keys alike
NONCE_SIZE = 12  # bytes: the GCM standard nonce
TAG_SIZE = 16  # bytes: the full GCM tag, never truncated


class CryptoError(Exception):
    """Base class for every error raised by this module."""


class IntegrityError(CryptoError):
    """Authentication failed: tampered, truncated, mis-bound or wrong-key data.

    The message is a short code only (``"stream-segment"``, ``"field"``…). It says
    which kind of object failed, never which check or which byte, so that an error
    page or a log line cannot be used as an oracle.
    """


class UnknownKeyVersion(CryptoError, LookupError):
    """A wrapped key names a KEK version that the key provider does not hold.

    Kept apart from :class:`IntegrityError` because it is an operator's mistake
    (a key retired before rotation finished), not evidence of tampering.
    """


def _check_key(key: bytes, name: str = "key") -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        raise ValueError(f"{name} must be {KEY_SIZE} bytes")


# ---------------------------------------------------------------------------
# 1. Key-encryption keys and purpose keys
# ---------------------------------------------------------------------------


def _b64decode_key(text: str) -> bytes:
    """Decode URL-safe or standard base64, padded or not; raise ValueError."""
    text = text.strip().translate(str.maketrans("+/", "-_")).rstrip("=")
    if len(text) % 4 == 1:
        raise ValueError("not base64")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def generate_key() -> str:
    """Return a new 256-bit key-encryption key as URL-safe base64 text.

    256 random bits from the operating system's CSPRNG (``secrets``) — the size of
    an AES-256 key and more than any brute-force budget. Text so that it can go
    into ``AMPARO_KEYS`` or a key file as ``VERSION:KEY``.
    """
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_SIZE)).decode("ascii")


@runtime_checkable
class KeyProvider(Protocol):
    """Where key-encryption keys (KEKs) come from.

    :class:`KeyRing` reads them from the environment or a key file; a KMS-backed
    provider can implement the same three members later without any change to the
    callers. KEKs never leave the provider except to derive purpose keys.
    """

    @property
    def current_version(self) -> int: ...

    def kek(self, version: int) -> bytes: ...

    def versions(self) -> list[int]: ...


class KeyRing:
    """Versioned KEKs held in memory; the highest version is the current one.

    New data is always wrapped under the current version; older versions are kept
    only to unwrap what has not been re-wrapped yet (see ``rewrap_dek``). The repr
    lists versions only, so a KeyRing in a traceback or a debug page shows no key.
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Mapping[int, bytes]) -> None:
        if not keys:
            raise ValueError("the key ring is empty: at least one key is required")
        seen: dict[bytes, int] = {}
        for version, key in keys.items():
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise ValueError("key versions must be positive integers")
            if not isinstance(key, bytes) or len(key) != KEY_SIZE:
                raise ValueError(f"key version {version} must be {KEY_SIZE} bytes")
            if key in seen:
                raise ValueError(f"key versions {seen[key]} and {version} are the same key")
            seen[key] = version
        self._keys: dict[int, bytes] = dict(sorted(keys.items()))

    @property
    def current_version(self) -> int:
        return max(self._keys)

    def kek(self, version: int) -> bytes:
        try:
            return self._keys[version]
        except KeyError:
            raise UnknownKeyVersion(f"no key-encryption key with version {version}") from None

    def versions(self) -> list[int]:
        return list(self._keys)

    def __repr__(self) -> str:
        return f"<KeyRing versions={self.versions()} current={self.current_version}>"


def parse_keyring(spec: str) -> KeyRing:
    """Parse ``AMPARO_KEYS`` (or the content of a key file) into a :class:`KeyRing`.

    Format: ``VERSION:BASE64KEY`` entries separated by commas or newlines; blank
    lines and lines starting with ``#`` are ignored. Versions are positive integers;
    keys are 32 bytes in URL-safe or standard base64, padding optional.

    Refused, with a ValueError that names the entry number but never prints key
    material: malformed entries, duplicate versions, keys of the wrong length, and
    two versions holding the same key (a copy-paste slip that would make rotation
    a no-op).
    """
    keys: dict[int, bytes] = {}
    entries = [
        line.strip()
        for raw_line in spec.splitlines()
        if not raw_line.strip().startswith("#")
        for line in raw_line.split(",")
    ]
    for number, entry in enumerate((e for e in entries if e), start=1):
        version_text, sep, key_text = entry.partition(":")
        version_text = version_text.strip()
        if not sep or not version_text.isdecimal() or not version_text.isascii():
            raise ValueError(f"key entry {number} is not in the form VERSION:BASE64KEY")
        version = int(version_text)
        if version < 1:
            raise ValueError(f"key entry {number}: the version must be a positive integer")
        if version in keys:
            raise ValueError(f"key entry {number}: version {version} appears twice")
        try:
            key = _b64decode_key(key_text)
        except ValueError:
            raise ValueError(f"key entry {number} (version {version}) is not base64") from None
        if len(key) != KEY_SIZE:
            raise ValueError(
                f"key entry {number} (version {version}) must decode to {KEY_SIZE} bytes, "
                f"not {len(key)}"
            )
        keys[version] = key
    return KeyRing(keys)


# "access-code-pepper" is the HMAC pepper of access-code hashes made before they were
# encrypted (read only, for those); "access-code" is the AES-GCM key that encrypts the
# stored hashes now. Two purposes, so no key is ever both an HMAC key and an AES key —
# and a migrated hash, which carries its old pepper inside (support.intake), is never
# encrypted under that same pepper.
PURPOSES = (
    "file-wrap",
    "field",
    "blind-index",
    "mfa",
    "access-code-pepper",
    "signing",
    "access-code",
)


def derive_key(provider: KeyProvider, purpose: str, version: int | None = None) -> bytes:
    """Derive the 32-byte key for one purpose from a KEK, with HKDF-SHA-256.

    Threat: one key used for two jobs lets an attacker who can use it in one role
    (e.g. computing blind indexes) attack the other (e.g. decrypting fields), and
    makes one compromise spread. Choice: HKDF-SHA-256 (RFC 5869) with no salt — the
    KEK is already uniformly random — and ``info = b"amparo/v1/" + purpose``, so
    every purpose gets an independent key while only the KEKs need storing.
    ``version`` defaults to the provider's current version.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}")
    kek = provider.kek(provider.current_version if version is None else version)
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_SIZE,
        salt=None,
        info=b"amparo/v1/" + purpose.encode("ascii"),
    )
    return hkdf.derive(kek)


def check_purpose_keys(provider: KeyProvider) -> None:
    """Refuse to start if any two purpose keys (or KEKs) coincide.

    Threat: a misconfigured provider (the same key supplied under two versions, or
    a KMS returning one key for everything) would silently collapse the purpose
    separation above. Derives every purpose for every version and raises ValueError
    naming the colliding version/purpose pairs — never the keys.
    """
    seen: dict[bytes, str] = {}
    for version in provider.versions():
        labels = [(f"KEK v{version}", provider.kek(version))]
        labels += [(f"v{version}/{p}", derive_key(provider, p, version)) for p in PURPOSES]
        for label, key in labels:
            if len(key) != KEY_SIZE:
                raise ValueError(f"{label} is not {KEY_SIZE} bytes")
            if key in seen:
                raise ValueError(f"{seen[key]} and {label} are the same key: check the key ring")
            seen[key] = label


# ---------------------------------------------------------------------------
# 2. Data keys (envelope encryption)
# ---------------------------------------------------------------------------

_DEK_AAD = b"amparo/dek/v1|"
_WRAPPED_SIZE = NONCE_SIZE + KEY_SIZE + TAG_SIZE


def new_dek() -> bytes:
    """Return a fresh random 256-bit data-encryption key (DEK) for one blob.

    One DEK per blob means destroying its wrapped copy destroys the blob
    (crypto-shredding), and rotating KEKs only re-wraps 60-byte keys instead of
    re-encrypting the evidence.
    """
    return secrets.token_bytes(KEY_SIZE)


def wrap_dek(provider: KeyProvider, dek: bytes, *, blob_id: str) -> tuple[int, bytes]:
    """Wrap a DEK under the current KEK with AES-256-GCM; return (version, wrapped).

    Key: ``derive_key(provider, "file-wrap")``. Nonce: 12 random bytes (a KEK wraps
    far fewer than 2³² keys, the bound for random GCM nonces). Associated data:
    ``b"amparo/dek/v1|" + blob_id`` — so a wrapped key copied onto another blob's
    row fails to unwrap instead of decrypting the wrong file. Output:
    ``nonce ‖ ciphertext ‖ tag`` (60 bytes).
    """
    _check_key(dek, "dek")
    return _wrap_key(provider, dek, _DEK_AAD + blob_id.encode())


def _wrap_key(provider: KeyProvider, key: bytes, aad: bytes) -> tuple[int, bytes]:
    """(current KEK version, nonce ‖ AES-256-GCM of ``key`` under its "file-wrap" key)."""
    version = provider.current_version
    nonce = secrets.token_bytes(NONCE_SIZE)
    aead = AESGCM(derive_key(provider, "file-wrap", version))
    return version, nonce + aead.encrypt(nonce, bytes(key), aad)


def _unwrap_key(
    provider: KeyProvider, version: int, wrapped: bytes, aad: bytes, what: str
) -> bytes:
    """The inverse of :func:`_wrap_key`; IntegrityError(``what``) on any mismatch."""
    if len(wrapped) != _WRAPPED_SIZE:
        raise IntegrityError(what)
    aead = AESGCM(derive_key(provider, "file-wrap", version))
    try:
        return aead.decrypt(wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], aad)
    except InvalidTag:
        raise IntegrityError(what) from None


def unwrap_dek(provider: KeyProvider, version: int, wrapped: bytes, *, blob_id: str) -> bytes:
    """Unwrap a DEK made by :func:`wrap_dek` (AES-256-GCM, bound to ``blob_id``).

    Raises IntegrityError if the wrapped key was altered, belongs to another blob or
    another KEK; UnknownKeyVersion if ``version`` is not in the key ring.
    """
    return _unwrap_key(provider, version, wrapped, _DEK_AAD + blob_id.encode(), "dek-wrap")


def rewrap_dek(
    provider: KeyProvider, version: int, wrapped: bytes, *, blob_id: str
) -> tuple[int, bytes]:
    """Re-wrap a DEK under the current KEK: the whole of key rotation.

    The blob itself is untouched; only the 60-byte wrapped key changes. Callers
    store the new (version, wrapped) pair in place of the old one; once no row
    names an old version, that KEK can be removed from the key ring.
    """
    dek = unwrap_dek(provider, version, wrapped, blob_id=blob_id)
    return wrap_dek(provider, dek, blob_id=blob_id)


_FIELD_KEY_AAD = b"amparo/field-key/v1|"


def wrap_field_key(provider: KeyProvider, key: bytes, *, owner: str) -> tuple[int, bytes]:
    """Wrap one owner's field data key (a case's, a draft's…) under the current KEK.

    Threat: a field key that only the KEK ring can derive (the former design) cannot
    be destroyed for one case, and cannot outlive the retirement of the KEK it was
    derived from. Choice: a random per-owner key wrapped exactly like a blob's DEK
    (AES-256-GCM under the ``"file-wrap"`` purpose key, random nonce), with its own
    associated data ``b"amparo/field-key/v1|" + owner`` (``owner`` is
    ``"table|row-uuid"``): a wrapped field key moved onto another row, or passed off
    as a blob's DEK, fails to unwrap. Output: (KEK version, 60 bytes).
    """
    _check_key(key, "field key")
    return _wrap_key(provider, key, _FIELD_KEY_AAD + owner.encode())


def unwrap_field_key(provider: KeyProvider, version: int, wrapped: bytes, *, owner: str) -> bytes:
    """Unwrap a key made by :func:`wrap_field_key`; IntegrityError on any mismatch."""
    aad = _FIELD_KEY_AAD + owner.encode()
    return _unwrap_key(provider, version, wrapped, aad, "field-key-wrap")


# ---------------------------------------------------------------------------
# 3. Streaming AEAD for files ("AMPV1")
# ---------------------------------------------------------------------------

SEGMENT_SIZE = 65536
STREAM_MAGIC = b"AMPV"
STREAM_VERSION = 1
_PREFIX_SIZE = 7
HEADER_SIZE = len(STREAM_MAGIC) + 1 + 4 + _PREFIX_SIZE  # 16 bytes
_MAX_SEGMENTS = 2**32  # the counter is four bytes


def _stream_header(nonce_prefix: bytes) -> bytes:
    return STREAM_MAGIC + struct.pack(">BI", STREAM_VERSION, SEGMENT_SIZE) + nonce_prefix


def _segment_nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= _MAX_SEGMENTS:
        raise CryptoError("stream too long")
    return prefix + struct.pack(">IB", counter, 1 if last else 0)


class StreamEncryptor:
    """Encrypt a file incrementally in the AMPV1 segmented AES-256-GCM format.

    Threat: evidence is large and arrives in chunks of any size from an upload
    handler; it must never be written in plaintext, never be held whole in memory,
    and any later bit flip, truncation, reordering or splice must be detected.
    Choice: AES-256-GCM over fixed 64 KiB plaintext segments, as in Tink's streaming
    AEAD. Each segment's nonce is ``random 7-byte prefix ‖ 4-byte counter ‖
    last-segment flag``, so segments cannot be reordered, duplicated or dropped,
    and the stream cannot be cut at a segment boundary without the missing flag
    giving it away. Every segment's associated data is ``header ‖ blob_id``.

    Usage: call :meth:`update` with each chunk and write what it returns, then
    write what :meth:`finalize` returns. The 16-byte header is emitted by the first
    call to ``update`` (or by ``finalize`` if ``update`` was never called). One full
    segment is kept back until more data or ``finalize`` arrives, because only then
    is it known whether it is the last. Memory stays near one segment plus the
    chunk being processed (the held segment may be a view of the previous chunk).
    """

    def __init__(self, dek: bytes, *, blob_id: str) -> None:
        _check_key(dek, "dek")
        self._aead = AESGCM(bytes(dek))
        self._prefix = secrets.token_bytes(_PREFIX_SIZE)
        self._header = _stream_header(self._prefix)
        self._aad = self._header + blob_id.encode()
        # The plaintext not yet sealed: at most one segment. Either a partial segment
        # being filled (a bytearray of our own) or a full one held back until it is
        # known whether it is the last (a view of the caller's immutable bytes).
        self._rest: bytearray | memoryview = bytearray()
        self._counter = 0
        self._header_sent = False
        self._finished = False

    def _take_header(self) -> bytes:
        if self._header_sent:
            return b""
        self._header_sent = True
        return self._header

    def _seal(self, plaintext: bytes | memoryview, *, last: bool) -> bytes:
        nonce = _segment_nonce(self._prefix, self._counter, last)
        self._counter += 1
        return self._aead.encrypt(nonce, plaintext, self._aad)

    def update(self, data: bytes) -> bytes:
        """Add plaintext; return the header (first call) and any completed segments."""
        header = self._take_header()
        return header + b"".join(
            self._seal(segment, last=False) for segment in self._segments(data)
        )

    @staticmethod
    def max_update_size(size: int) -> int:
        """The most ciphertext one :meth:`update_into` of ``size`` bytes can produce."""
        return HEADER_SIZE + (size // SEGMENT_SIZE + 1) * (SEGMENT_SIZE + TAG_SIZE)

    def update_into(self, data: bytes, buffer: bytearray) -> int:
        """As :meth:`update`, but sealed into ``buffer``; returns the bytes written.

        ``buffer`` must hold :meth:`max_update_size` of ``len(data)``. An upload
        passes every byte here: sealing into buffers the caller reuses spares the
        allocator hundreds of megabytes of short-lived ciphertext, whose pages the C
        library otherwise hands back to the kernel and faults in again, one by one.
        """
        with memoryview(buffer) as out:
            written = 0
            if header := self._take_header():
                out[:HEADER_SIZE] = header
                written = HEADER_SIZE
            for segment in self._segments(data):
                nonce = _segment_nonce(self._prefix, self._counter, False)
                self._counter += 1
                end = written + len(segment) + TAG_SIZE
                self._aead.encrypt_into(nonce, segment, self._aad, out[written:end])
                written = end
        return written

    def _segments(self, data: bytes) -> Iterator[memoryview | bytearray]:
        """Take ``data`` in; yield each segment now known not to be the last.

        Nothing is copied that need not be: segments come straight from ``data``,
        and a copy is made only of a segment that straddles two calls.
        """
        if self._finished:
            raise CryptoError("update() after finalize()")
        view = memoryview(data).cast("B")
        rest = self._rest
        if 0 < len(rest) < SEGMENT_SIZE:  # top up the partial segment first
            if not isinstance(rest, bytearray):
                rest = bytearray(rest)
            taken = SEGMENT_SIZE - len(rest)
            rest += view[:taken]
            view = view[taken:]
            if len(rest) < SEGMENT_SIZE:
                self._rest = rest
                return
        if not view:
            self._rest = rest
            return
        if rest:  # a full segment, and more data follows it: it is not the last
            yield rest
        # Every full segment but the final 1..SEGMENT_SIZE bytes, which is kept back.
        whole = (len(view) - 1) // SEGMENT_SIZE * SEGMENT_SIZE
        for offset in range(0, whole, SEGMENT_SIZE):
            yield view[offset : offset + SEGMENT_SIZE]
        tail = view[whole:]
        # A view of immutable bytes may be kept; anything else the caller may reuse.
        self._rest = tail if isinstance(data, bytes) else bytearray(tail)

    def finalize(self) -> bytes:
        """Seal the buffered rest as the flagged final segment (possibly empty)."""
        if self._finished:
            raise CryptoError("finalize() called twice")
        self._finished = True
        rest, self._rest = self._rest, bytearray()
        out = self._take_header() + self._seal(rest, last=True)
        if isinstance(rest, bytearray):  # our own copy of plaintext; views are the caller's
            rest[:] = bytes(len(rest))
        return out


def encrypt_stream(chunks: Iterable[bytes], dek: bytes, *, blob_id: str) -> Iterator[bytes]:
    """Encrypt an iterable of plaintext chunks to AMPV1, yielding ciphertext pieces.

    A convenience around :class:`StreamEncryptor` (same algorithm and guarantees).
    """
    encryptor = StreamEncryptor(dek, blob_id=blob_id)
    for chunk in chunks:
        piece = encryptor.update(chunk)
        if piece:
            yield piece
    yield encryptor.finalize()


def _read_exactly(read: Callable[[int], bytes], size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads; less only at EOF."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        part = read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def decrypt_stream(
    read: Callable[[int], bytes] | BinaryIO, dek: bytes, *, blob_id: str
) -> Iterator[bytes]:
    """Decrypt an AMPV1 stream, yielding the plaintext of each 64 KiB segment.

    Reads from a file object or a ``read(n)`` callable (short reads are fine).
    Raises IntegrityError — a short code only — for any altered byte (header
    included), a wrong DEK or ``blob_id``, reordered, duplicated, dropped or spliced
    segments, truncation anywhere (including exactly at a segment boundary) and
    trailing bytes after the final segment. Memory stays near one segment.

    Segments are authenticated one at a time, so plaintext is yielded before the
    end of the stream has been checked: a caller must treat the output as
    unverified until the iterator finishes without error (stream it to a client
    that is told of failure, or hash it and discard on error) — never act on a
    partial result.
    """
    _check_key(dek, "dek")
    reader: Callable[[int], bytes] = read.read if hasattr(read, "read") else read  # type: ignore[union-attr]
    header = _read_exactly(reader, HEADER_SIZE)
    if (
        len(header) != HEADER_SIZE
        or header[:4] != STREAM_MAGIC
        or header[4] != STREAM_VERSION
        or struct.unpack(">I", header[5:9])[0] != SEGMENT_SIZE
    ):
        raise IntegrityError("stream-header")
    prefix = header[9:HEADER_SIZE]
    aad = header + blob_id.encode()
    aead = AESGCM(bytes(dek))
    full = SEGMENT_SIZE + TAG_SIZE
    # One byte of look-ahead tells a full non-final segment from a full final one.
    pending = _read_exactly(reader, full + 1)
    counter = 0
    while True:
        last = len(pending) <= full
        segment, pending = (pending, b"") if last else (pending[:full], pending[full:])
        if len(segment) < TAG_SIZE:
            raise IntegrityError("stream-segment")
        try:
            plaintext = aead.decrypt(_segment_nonce(prefix, counter, last), segment, aad)
        except (InvalidTag, CryptoError):
            raise IntegrityError("stream-segment") from None
        counter += 1
        yield plaintext
        if last:
            return
        pending += _read_exactly(reader, full + 1 - len(pending))


class StreamDecryptor:
    """Decrypt an AMPV1 stream into the caller's buffers: ``readinto(buffer)``.

    The same checks as :func:`decrypt_stream` (the same look-ahead decides which
    segment is the last, so truncation, trailing bytes, reordering and a wrong key or
    ``blob_id`` all raise ``IntegrityError``), but no memory is allocated per segment:
    the ciphertext is read into one buffer of its own (``segments`` segments and the
    look-ahead byte) and each segment is opened straight into the caller's buffer
    (``AESGCM.decrypt_into``). Large exports pass every byte here, and fresh bytes per
    segment cost more in page faults (the C library hands freed heap back to the
    kernel) and cache misses than the AES-GCM itself.

    The same caveat as :func:`decrypt_stream`: what a call returns is authenticated
    segment by segment, and the stream as a whole only once a call has returned 0;
    after an ``IntegrityError`` the buffer's contents are undefined and must be dropped.
    """

    def __init__(
        self,
        read: Callable[[int], bytes] | BinaryIO,
        dek: bytes,
        *,
        blob_id: str,
        segments: int = 16,
    ) -> None:
        _check_key(dek, "dek")
        if segments < 1:
            raise ValueError("segments must be at least 1")
        self._read: Callable[[int], bytes] = read.read if hasattr(read, "read") else read  # type: ignore[union-attr]
        self._readinto = getattr(read, "readinto", None)
        self._aead = AESGCM(bytes(dek))
        self._blob_id = blob_id
        self._segments = segments
        self._cipher = bytearray(segments * (SEGMENT_SIZE + TAG_SIZE) + 1)
        self._have = 0  # bytes of ciphertext at the start of _cipher, not yet opened
        self._eof = False
        self._counter = 0
        self._started = self._done = False
        self._prefix = self._aad = b""

    def _start(self) -> None:
        self._started = True
        header = _read_exactly(self._read, HEADER_SIZE)
        if (
            len(header) != HEADER_SIZE
            or header[:4] != STREAM_MAGIC
            or header[4] != STREAM_VERSION
            or struct.unpack(">I", header[5:9])[0] != SEGMENT_SIZE
        ):
            raise IntegrityError("stream-header")
        self._prefix = header[9:HEADER_SIZE]
        self._aad = header + self._blob_id.encode()

    def _fill(self, cipher: memoryview, upto: int) -> None:
        """Read until ``upto`` bytes are held or the stream ends (short reads are fine)."""
        while self._have < upto and not self._eof:
            if self._readinto is not None:
                n = self._readinto(cipher[self._have : upto]) or 0
            else:
                part = self._read(upto - self._have)
                n = len(part)
                cipher[self._have : self._have + n] = part
            self._eof = n == 0
            self._have += n

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` (at least one segment, ``SEGMENT_SIZE`` bytes) with the next
        whole segments' plaintext; return the bytes written, 0 once the stream has
        ended and its final segment has been checked."""
        if self._done:
            return 0
        if not self._started:
            self._start()
        full = SEGMENT_SIZE + TAG_SIZE
        with memoryview(buffer) as raw, raw.cast("B") as out, memoryview(self._cipher) as cipher:
            count = min(len(out) // SEGMENT_SIZE, self._segments)
            if count < 1:
                raise ValueError("buffer smaller than one segment")
            # One byte beyond the segments tells a full non-final segment from a full
            # final one: short of the end of the stream, every segment is followed by more.
            self._fill(cipher, count * full + 1)
            offset = written = 0
            for _ in range(count):
                left = self._have - offset
                last = self._eof and left <= full
                size = left if last else full
                if size < TAG_SIZE:
                    raise IntegrityError("stream-segment")
                plain = size - TAG_SIZE
                try:
                    self._aead.decrypt_into(
                        _segment_nonce(self._prefix, self._counter, last),
                        cipher[offset : offset + size],
                        self._aad,
                        out[written : written + plain],
                    )
                except (InvalidTag, CryptoError):
                    raise IntegrityError("stream-segment") from None
                self._counter += 1
                offset += size
                written += plain
                if last:
                    self._done = True
                    break
            rest = self._have - offset  # the look-ahead byte, kept for the next call
            cipher[:rest] = cipher[offset : self._have]
            self._have = rest
        return written


def ciphertext_size(plaintext_size: int) -> int:
    """Size in bytes of the AMPV1 ciphertext of ``plaintext_size`` bytes.

    Header plus one 16-byte tag per segment; empty input still has one segment.
    """
    if plaintext_size < 0:
        raise ValueError("size must not be negative")
    segments = max(1, -(-plaintext_size // SEGMENT_SIZE))
    return HEADER_SIZE + plaintext_size + segments * TAG_SIZE


# ---------------------------------------------------------------------------
# 4. Sealing a DEK to a recipient (police unit)
# ---------------------------------------------------------------------------

_SEAL_INFO = b"amparo/seal/v1|"
_SEALED_SIZE = KEY_SIZE + NONCE_SIZE + KEY_SIZE + TAG_SIZE


def generate_recipient_keypair() -> tuple[bytes, bytes]:
    """Return a new X25519 key pair as raw bytes: (private 32 bytes, public 32 bytes).

    Generated by and for the receiving unit; the private key is meant to be kept
    offline (see :func:`private_key_to_pem`). The server only ever stores the
    public key.
    """
    private = X25519PrivateKey.generate()
    return (
        private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        ),
        private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        ),
    )


def _seal_key(shared: bytes, eph_public: bytes, recipient_public: bytes, blob_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_SIZE,
        salt=eph_public + recipient_public,
        info=_SEAL_INFO + blob_id.encode(),
    ).derive(shared)


def seal_dek(dek: bytes, recipient_public: bytes, *, blob_id: str) -> bytes:
    """Encrypt a DEK so that only the holder of a recipient's private key can open it.

    Threat: a file sealed for the police must stay unreadable to anyone who takes
    over the server, its database and all its KEKs. Choice (HPKE-style, RFC 9180 in
    spirit): a fresh ephemeral X25519 key agreement with the recipient's public key;
    the shared secret goes through HKDF-SHA-256 with ``salt = eph_pub ‖
    recipient_pub`` and ``info = b"amparo/seal/v1|" + blob_id``; the result keys
    AES-256-GCM (random nonce, associated data ``b"amparo/seal/v1|" + blob_id``)
    over the DEK. The server discards the ephemeral private key at once and keeps
    nothing that can open the result. Output: ``eph_pub(32) ‖ nonce(12) ‖
    ciphertext ‖ tag`` (92 bytes).
    """
    _check_key(dek, "dek")
    try:
        recipient = X25519PublicKey.from_public_bytes(bytes(recipient_public))
        ephemeral = X25519PrivateKey.generate()
        shared = ephemeral.exchange(recipient)
    except ValueError:
        raise CryptoError("invalid recipient public key") from None
    eph_public = ephemeral.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key = _seal_key(shared, eph_public, bytes(recipient_public), blob_id)
    nonce = secrets.token_bytes(NONCE_SIZE)
    ciphertext = AESGCM(key).encrypt(nonce, bytes(dek), _SEAL_INFO + blob_id.encode())
    return eph_public + nonce + ciphertext


def open_sealed_dek(sealed: bytes, recipient_private: bytes, *, blob_id: str) -> bytes:
    """Open a DEK sealed by :func:`seal_dek` with the recipient's raw private key.

    Raises IntegrityError for a wrong private key, a wrong ``blob_id`` or any
    altered byte.
    """
    if len(sealed) != _SEALED_SIZE:
        raise IntegrityError("sealed-dek")
    try:
        private = X25519PrivateKey.from_private_bytes(bytes(recipient_private))
        eph_public = sealed[:KEY_SIZE]
        shared = private.exchange(X25519PublicKey.from_public_bytes(eph_public))
    except ValueError:
        raise IntegrityError("sealed-dek") from None
    recipient_public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    key = _seal_key(shared, eph_public, recipient_public, blob_id)
    nonce = sealed[KEY_SIZE : KEY_SIZE + NONCE_SIZE]
    try:
        return AESGCM(key).decrypt(
            nonce, sealed[KEY_SIZE + NONCE_SIZE :], _SEAL_INFO + blob_id.encode()
        )
    except InvalidTag:
        raise IntegrityError("sealed-dek") from None


def public_key_fingerprint(public: bytes) -> str:
    """Human-comparable fingerprint of a public key: SHA-256, first 16 bytes, hex.

    Shown to an administrator and read aloud with the police unit before a key is
    trusted, so that a substituted key is noticed. Eight groups of four upper-case
    hex digits; reproducible with ``sha256sum`` over the raw 32-byte key.
    """
    digest = hashlib.sha256(bytes(public)).hexdigest()[:32].upper()
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def private_key_to_pem(private: bytes, password: bytes | None = None) -> bytes:
    """Serialise a raw X25519 private key as PKCS#8 PEM, encrypted if a password is given.

    For the receiving unit's own machine. Keep the file offline (removable media or
    a hardware token); the server must never hold it.
    """
    key = X25519PrivateKey.from_private_bytes(bytes(private))
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def private_key_from_pem(pem: bytes, password: bytes | None = None) -> bytes:
    """Load a PKCS#8 PEM X25519 private key (from :func:`private_key_to_pem`) as raw bytes."""
    key = serialization.load_pem_private_key(pem, password=password)
    if not isinstance(key, X25519PrivateKey):
        raise ValueError("not an X25519 private key")
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def public_key_to_b64(public: bytes) -> str:
    """Encode a raw 32-byte public key (X25519 or Ed25519) as URL-safe base64 text."""
    _check_key(public, "public key")
    return base64.urlsafe_b64encode(bytes(public)).decode("ascii")


def public_key_from_b64(text: str) -> bytes:
    """Decode a public key from URL-safe or standard base64; ValueError unless 32 bytes."""
    key = _b64decode_key(text)
    _check_key(key, "public key")
    return key


# ---------------------------------------------------------------------------
# 5. Small fields
# ---------------------------------------------------------------------------

_FIELD_FORMAT = b"\x01"
_FIELD_AAD = b"amparo/field/v1|"


def encrypt_field(key: bytes, plaintext: bytes, *, context: str) -> bytes:
    """Encrypt a small value (a narrative, a name, an identifier) with AES-256-GCM.

    Threat: a database dump or backup must reveal nothing, and someone with write
    access to the database must not be able to move a ciphertext to another row or
    column (e.g. put one family's contact details on another case). Choice:
    AES-256-GCM with a random 12-byte nonce under a purpose key (``"field"``), and
    associated data ``b"amparo/field/v1|" + context`` where the caller's context is
    ``"table|column|row-uuid"``. Output: ``0x01 ‖ nonce ‖ ciphertext ‖ tag``.
    Random nonces are safe up to about 2³² encryptions per key; KEK rotation
    renews the field key long before that.
    """
    _check_key(key)
    nonce = secrets.token_bytes(NONCE_SIZE)
    return (
        _FIELD_FORMAT
        + nonce
        + AESGCM(bytes(key)).encrypt(nonce, bytes(plaintext), _FIELD_AAD + context.encode())
    )


def decrypt_field(key: bytes, token: bytes, *, context: str) -> bytes:
    """Decrypt a token from :func:`encrypt_field`; IntegrityError on any mismatch.

    A token copied to another row, column or table fails because its context differs.
    """
    _check_key(key)
    if len(token) < 1 + NONCE_SIZE + TAG_SIZE or token[:1] != _FIELD_FORMAT:
        raise IntegrityError("field")
    try:
        return AESGCM(bytes(key)).decrypt(
            token[1 : 1 + NONCE_SIZE], token[1 + NONCE_SIZE :], _FIELD_AAD + context.encode()
        )
    except InvalidTag:
        raise IntegrityError("field") from None


# ---------------------------------------------------------------------------
# 6. Blind indexes
# ---------------------------------------------------------------------------


def blind_index(key: bytes, normalised_value: str, *, domain: str) -> str:
    """Keyed, deterministic index of an identifier: hex HMAC-SHA-256.

    Threat: linking cases that name the same account, phone or URL must not need
    decryption, yet a plain hash of a phone number is reversed by enumerating all
    numbers. Choice: HMAC-SHA-256 under its own purpose key (``"blind-index"``),
    over ``domain ‖ 0x00 ‖ value``, so an index cannot be computed without the key
    and the same string in two domains ("phone", "handle:telegram", "url") gives
    unrelated indexes. The value must already be normalised (``vault.normalize``).
    """
    _check_key(key)
    if not domain or "\x00" in domain:
        raise ValueError("domain must be a non-empty string without NUL")
    message = domain.encode() + b"\x00" + normalised_value.encode()
    return hmac.new(bytes(key), message, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------------------
# 7. Families' access codes and case references
# ---------------------------------------------------------------------------

# Upper-case letters and digits without 0/O, 1/I/L: 31 symbols, easy to read
# aloud and to type on a phone. The one alphabet for everything a person reads or
# types: access codes, case references and incident intake codes.
ACCESS_CODE_ALPHABET = "".join(
    c for c in string.digits + string.ascii_uppercase if c not in "01ILO"
)
ACCESS_CODE_LENGTH = 16
CASE_REFERENCE_PREFIX = "AMP-"
CASE_REFERENCE_LENGTH = 8


@functools.cache
def _password_hasher():
    from argon2 import PasswordHasher, Type

    return PasswordHasher(
        time_cost=3, memory_cost=65536, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
    )


# A valid Argon2id hash, with the parameters above, of a random code nobody knows.
# Verifying against it costs exactly what verifying a real code costs.
DUMMY_ACCESS_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=1$"
    "8IsBXT6OoUAFXp3/G9qwyQ$xZF+NIptJK06+mPWpr7wfm91948GbYdXi/LlGmYb4uY"
)

_SEPARATORS = dict.fromkeys(map(ord, "-_.\u2010\u2011\u2012\u2013\u2014\u2212"))


def generate_access_code() -> str:
    """Return a new family access code: 16 symbols from a 31-symbol alphabet.

    Threat: the code is the family's only credential; it must resist online
    guessing (also rate-limited) and offline guessing after a database theft.
    Choice: 16 symbols drawn with ``secrets`` from an unambiguous alphabet
    (16 * log2(31) ≈ 79.3 bits), stored only as :func:`hash_access_code`.
    """
    return "".join(secrets.choice(ACCESS_CODE_ALPHABET) for _ in range(ACCESS_CODE_LENGTH))


def normalise_access_code(text: str) -> str:
    """Canonical form of a typed code: NFKC, upper-case, spaces and dashes removed."""
    text = unicodedata.normalize("NFKC", text).translate(_SEPARATORS)
    return "".join(text.split()).upper()


def format_access_code(code: str) -> str:
    """Display form ``XXXX-XXXX-XXXX-XXXX``; ValueError if it is not a valid code."""
    code = normalise_access_code(code)
    if len(code) != ACCESS_CODE_LENGTH or not set(code) <= set(ACCESS_CODE_ALPHABET):
        raise ValueError("not an access code")
    return "-".join(code[i : i + 4] for i in range(0, ACCESS_CODE_LENGTH, 4))


def generate_case_reference() -> str:
    """Return a case reference such as ``AMP-7KQ2M9XD`` (not a secret).

    Random rather than sequential so that it reveals nothing about how many cases
    exist; the access code, not the reference, is the credential. Uniqueness is
    the database's job (retry on collision).
    """
    return CASE_REFERENCE_PREFIX + "".join(
        secrets.choice(ACCESS_CODE_ALPHABET) for _ in range(CASE_REFERENCE_LENGTH)
    )


def _pepper(code: str, pepper: bytes | None) -> bytes:
    if pepper is None:
        return normalise_access_code(code).encode()
    _check_key(pepper, "pepper")
    return hmac.new(bytes(pepper), normalise_access_code(code).encode(), hashlib.sha256).digest()


def hash_access_code(code: str, pepper: bytes | None = None) -> str:
    """Hash an access code for storage: Argon2id, optionally over an HMAC-SHA-256 pepper.

    Threat: a stolen database must not yield the codes. Choice: Argon2id (RFC 9106;
    t=3, m=64 MiB, p=1, 16-byte salt) makes every guess expensive. The key that lives
    outside the database is applied by the caller: Amparo now *encrypts* the hash
    (``support.intake``, AES-256-GCM under the ``"access-code"`` purpose key), which
    rotation can redo without the code, so ``pepper`` is None for new codes. With a
    pepper (the former design, still verified for older rows), the normalised code is
    first keyed with HMAC-SHA-256 under it.
    """
    return _password_hasher().hash(_pepper(code, pepper))


def verify_access_code(stored: str, code: str, pepper: bytes | None = None) -> bool:
    """Check a typed code against its stored hash; True or False, never raises on mismatch.

    The comparison is Argon2's constant-time one. A malformed stored hash also
    returns False, after spending the same time as a real verification.
    """
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _password_hasher().verify(stored, _pepper(code, pepper))
    except VerificationError:
        return False
    except InvalidHashError:
        burn_verify_time()
        return False


def burn_verify_time(pepper: bytes | None = None) -> None:
    """Spend the time of one verification, for a case reference that does not exist.

    Threat: if an unknown reference answered faster than a wrong code, timing would
    tell an attacker which references exist. Choice: verify a random guess against
    :data:`DUMMY_ACCESS_HASH`, which has the same Argon2id parameters.
    """
    from argon2.exceptions import VerificationError

    with contextlib.suppress(VerificationError):
        _password_hasher().verify(DUMMY_ACCESS_HASH, _pepper(secrets.token_hex(8), pepper))


# ---------------------------------------------------------------------------
# 8. Signatures
# ---------------------------------------------------------------------------


def generate_signing_key() -> bytes:
    """Return a new raw 32-byte Ed25519 private key.

    A key derived with ``derive_key(provider, "signing")`` is equally valid: any 32
    bytes are an Ed25519 private key (seed).
    """
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def signing_public_key(private: bytes) -> bytes:
    """Return the raw 32-byte Ed25519 public key of a raw private key."""
    return (
        Ed25519PrivateKey.from_private_bytes(bytes(private))
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def sign(private: bytes, message: bytes) -> bytes:
    """Sign with Ed25519 (RFC 8032): 64-byte signature.

    Threat: an export or custody anchor altered after it left the server must be
    detectable by anyone, offline, with only the public key. Choice: Ed25519 —
    deterministic (no nonce to get wrong), small, and in every toolkit (OpenSSL,
    ``cryptography``), so the offline verifier needs nothing exotic.
    """
    return Ed25519PrivateKey.from_private_bytes(bytes(private)).sign(bytes(message))


def verify_signature(public: bytes, message: bytes, signature: bytes) -> bool:
    """Verify an Ed25519 signature; False for any bad or malformed signature.

    Raises ValueError only for a public key that is not 32 bytes (a caller's bug).
    """
    _check_key(public, "public key")
    try:
        Ed25519PublicKey.from_public_bytes(bytes(public)).verify(bytes(signature), bytes(message))
    except (InvalidSignature, ValueError):
        return False
    return True


# ---------------------------------------------------------------------------
# 9. Hashes of evidence
# ---------------------------------------------------------------------------


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``: the evidence fingerprint written at intake and in exports."""
    return hashlib.sha256(data).hexdigest()


class StreamHasher:
    """SHA-256 and MD5 of a stream, computed incrementally as chunks arrive.

    SHA-256 is the evidence hash (integrity, custody, exports). MD5 is computed only
    to match against external hash lists that still use it; it is not a security
    hash here (``usedforsecurity=False``) and nothing relies on it for integrity.

    MD5 is the slower of the two where the CPU has SHA extensions (about half the
    speed of SHA-256). With ``md5=False`` it is not computed at all (``hexdigests``
    returns ``""`` for it): evidence uploads leave it to the worker, off the request
    path (``vault.services.fill_md5``). With ``parallel=True`` one digest runs on a
    helper thread fed through a short queue (at most ``_QUEUE_CHUNKS`` chunks behind):
    MD5 when both are computed, else SHA-256. hashlib releases the GIL for inputs over
    2 KiB, so on two cores the hashing overlaps the caller's other work (both digests
    cost about what MD5 costs alone). Call :meth:`close` when done; it stops the helper.
    """

    _QUEUE_CHUNKS = 8

    def __init__(self, *, parallel: bool = False, md5: bool = True) -> None:
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False) if md5 else None
        self.size = 0
        self._queue: queue.Queue | None = None
        self._helper: threading.Thread | None = None
        self._helper_error: BaseException | None = None
        # With MD5 the helper takes MD5 and the caller SHA-256; without, the helper
        # takes SHA-256, so the caller's thread is free for encryption and parsing.
        self._mine = [self._sha256] if md5 else []
        self._helpers = [self._md5] if md5 else [self._sha256]
        if not parallel:
            self._mine, self._helpers = [h for h in (self._sha256, self._md5) if h], []
        else:
            self._queue = queue.Queue(self._QUEUE_CHUNKS)
            self._helper = threading.Thread(target=self._helper_loop, name="hash", daemon=True)
            self._helper.start()

    def _helper_loop(self) -> None:
        while True:
            data = self._queue.get()
            try:
                if data is None:
                    return
                if self._helper_error is None:
                    for hasher in self._helpers:
                        hasher.update(data)
            except BaseException as exc:  # reported by hexdigests()
                self._helper_error = exc
            finally:
                self._queue.task_done()

    def update(self, data: bytes) -> None:
        if self._queue is not None:
            if self._helper is None:
                raise CryptoError("update() after close()")
            data = bytes(data)  # the helper must not see a buffer the caller reuses
            self._queue.put(data)
        for hasher in self._mine:
            hasher.update(data)
        self.size += len(data)

    def hexdigests(self) -> tuple[str, str]:
        """Return (sha256 hex, md5 hex) of everything so far."""
        if self._queue is not None:
            self._queue.join()
            if self._helper_error is not None:
                raise self._helper_error
        return self._sha256.hexdigest(), self._md5.hexdigest() if self._md5 is not None else ""

    def close(self) -> None:
        """Stop the helper thread, if any. The digests stay readable."""
        if self._helper is not None:
            self._queue.put(None)
            self._helper.join()
            self._helper = None
