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
