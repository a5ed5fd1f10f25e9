"""Changing the key ring in a test, as an operator rotating or retiring KEKs does.

`add_kek` is a fixture in tests/conftest.py; `retire_all_but` is called directly.
"""

from __future__ import annotations

import base64

from vault import crypto, fields, keys


def add_kek(settings) -> int:
    """Append a new key-encryption key to the ring; return its version."""
    version = keys.keyring().current_version + 1
    settings.AMPARO_KEYS = f"{settings.AMPARO_KEYS},{version}:{crypto.generate_key()}"
    keys.keyring.cache_clear()
    return version


def retire_all_but(settings, version: int) -> None:
    """Leave only `version` in the key ring, as an operator retiring old KEKs does."""
    kek = keys.keyring().kek(version)
    settings.AMPARO_KEYS = f"{version}:{base64.urlsafe_b64encode(kek).decode()}"
    forget_keys()


def forget_keys() -> None:
    """Drop the cached ring and unwrapped field keys, so the next use reads settings."""
    keys.keyring.cache_clear()
    fields.clear_field_key_cache()
