"""The project's key ring, loaded once from settings, and small-secret helpers.

Callers never see key-encryption keys: they ask for a purpose ("field", "mfa",
"blind-index", …) and get a derived key, so one compromised use cannot be
replayed against another (vault/crypto.py, `derive_key`).
"""

from __future__ import annotations

import base64
import functools

from django.conf import settings

from . import crypto


@functools.cache
def keyring() -> crypto.KeyProvider:
    ring = crypto.parse_keyring(settings.AMPARO_KEYS)
    crypto.check_purpose_keys(ring)
    return ring


def purpose_key(purpose: str, version: int | None = None) -> bytes:
    return crypto.derive_key(keyring(), purpose, version)


def encrypt_text(value: str, *, purpose: str, context: str) -> str:
    """Encrypt a short string for a database column: 'v<kek version>$<base64 token>'."""
    version = keyring().current_version
    token = crypto.encrypt_field(purpose_key(purpose, version), value.encode(), context=context)
    return f"v{version}${base64.urlsafe_b64encode(token).decode()}"


def decrypt_text(stored: str, *, purpose: str, context: str) -> str:
    try:
        version_part, token = stored.split("$", 1)
        version = int(version_part.removeprefix("v"))
        raw = base64.urlsafe_b64decode(token.encode())
    except ValueError as exc:
        raise crypto.IntegrityError("malformed encrypted value") from exc
    return crypto.decrypt_field(purpose_key(purpose, version), raw, context=context).decode()


def reencrypt_text(stored: str, *, purpose: str, context: str) -> str | None:
    """`stored` re-encrypted under the current KEK version; None if it already is (or empty).

    For the values that stay under a version-derived purpose key (blob filenames,
    invitation tokens, export passphrases, TOTP secrets): rotation rewrites them with
    this, so that no row still needs an older KEK once rotation has run.
    """
    if not stored or stored.startswith(f"v{keyring().current_version}$"):
        return None
    return encrypt_text(
        decrypt_text(stored, purpose=purpose, context=context), purpose=purpose, context=context
    )


@functools.cache
def signing_key() -> bytes:
    """The server's Ed25519 private key (AMPARO_SIGNING_KEY), raw 32 bytes."""
    key = crypto._b64decode_key(settings.AMPARO_SIGNING_KEY)
    if len(key) != crypto.KEY_SIZE:
        raise ValueError(f"AMPARO_SIGNING_KEY must decode to {crypto.KEY_SIZE} bytes")
    return key


def signing_public_key() -> bytes:
    return crypto.signing_public_key(signing_key())


def signing_key_id(public: bytes | None = None) -> str:
    """A short, stable name for a signing public key: the first 16 hex digits of its SHA-256."""
    return crypto.sha256_hex(public if public is not None else signing_public_key())[:16]
