"""Wrapped field keys (crypto.wrap_field_key): bound to their owner and their KEK."""

import secrets

import pytest

from vault import crypto


@pytest.fixture
def ring():
    return crypto.parse_keyring(f"1:{crypto.generate_key()}")


def test_a_field_key_round_trips(ring):
    key = secrets.token_bytes(32)
    version, wrapped = crypto.wrap_field_key(ring, key, owner="support_case|a")
    assert version == 1 and len(wrapped) == 60
    assert crypto.unwrap_field_key(ring, version, wrapped, owner="support_case|a") == key


def test_a_wrapped_field_key_opens_for_no_other_owner_and_is_no_blob_dek(ring):
    _, wrapped = crypto.wrap_field_key(ring, secrets.token_bytes(32), owner="support_case|a")
    with pytest.raises(crypto.IntegrityError):
        crypto.unwrap_field_key(ring, 1, wrapped, owner="support_case|b")
    with pytest.raises(crypto.IntegrityError):
        crypto.unwrap_field_key(ring, 1, wrapped, owner="support_reportdraft|a")
    with pytest.raises(crypto.IntegrityError):
        crypto.unwrap_dek(ring, 1, wrapped, blob_id="support_case|a")
    flipped = bytes([wrapped[0] ^ 1]) + wrapped[1:]
    with pytest.raises(crypto.IntegrityError):
        crypto.unwrap_field_key(ring, 1, flipped, owner="support_case|a")


def test_once_its_kek_is_retired_a_wrapped_field_key_is_useless(ring):
    _, wrapped = crypto.wrap_field_key(ring, secrets.token_bytes(32), owner="support_case|a")
    successor = crypto.parse_keyring(f"2:{crypto.generate_key()}")
    with pytest.raises(crypto.UnknownKeyVersion):
        crypto.unwrap_field_key(successor, 1, wrapped, owner="support_case|a")
