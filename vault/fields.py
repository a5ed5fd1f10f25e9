"""Encrypted model attributes and blind indexes, for any app's models.

Threat: a database dump or backup exposes narratives, contact details and
suspect identifiers. Choice: each value is AES-256-GCM encrypted under the
vault's "field" purpose key with associated data "table|column|row uuid", so a
ciphertext copied into another row or column fails to open; equality lookups go
through a keyed HMAC (blind index) of the normalised value, never the value.
"""

from __future__ import annotations

import json

from . import crypto, keys


class EncryptedText:
    """Descriptor: `narrative = EncryptedText("narrative_sealed")` over a TextField.

    The model must have a `uuid` set before the value is assigned (UUIDField with
    a default does this at construction).

    This is field encryption under the server's keys, not sealing: in Amparo
    "sealed" means only encrypted to a police unit's public key (vault.services
    `seal_blob_for`, vault/sealed.py). The columns keep their historical `_sealed`
    names because the column name is part of each value's associated data;
    renaming one means re-encrypting it.
    """

    def __init__(self, column: str, *, as_json: bool = False):
        self.column = column
        self.as_json = as_json

    def _context(self, obj) -> str:
        return f"{obj._meta.db_table}|{self.column}|{obj.uuid}"

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        raw = getattr(obj, self.column)
        if not raw:
            return {} if self.as_json else ""
        text = keys.decrypt_text(raw, purpose="field", context=self._context(obj))
        return json.loads(text) if self.as_json else text

    def __set__(self, obj, value):
        if value in (None, "") or (self.as_json and value == {}):
            setattr(obj, self.column, "")
            return
        text = json.dumps(value, sort_keys=True) if self.as_json else str(value)
        setattr(
            obj, self.column, keys.encrypt_text(text, purpose="field", context=self._context(obj))
        )


def blind_index(normalised_value: str, *, domain: str) -> str:
    """HMAC-SHA-256 of an already normalised value, under the blind-index key.

    The key comes from the *oldest* KEK kept, not the newest: indexes must stay
    comparable across key rotation. Retiring that KEK means recomputing indexes.
    """
    ring = keys.keyring()
    key = keys.purpose_key("blind-index", min(ring.versions()))
    return crypto.blind_index(key, normalised_value, domain=domain)
