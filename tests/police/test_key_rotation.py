"""Key rotation reaches police rows: a waiting export's passphrase and its purpose
detail open with the new KEK alone once the old one is retired."""

import base64

import pytest

from police import services
from tests.police.conftest import reauthenticated
from tests.police.test_exports import start
from vault import crypto, fields, keys
from vault import services as vault_services

pytestmark = pytest.mark.django_db


def test_a_waiting_export_survives_rotation_and_retiring_the_old_kek(
    liaison_a, referral, case, fake_bundle, settings
):
    export, passphrase, _token, _response = start(reauthenticated(liaison_a), case)
    old = keys.keyring().current_version
    assert export.passphrase_sealed.startswith(f"v{old}$")
    new = old + 1
    settings.AMPARO_KEYS = f"{settings.AMPARO_KEYS},{new}:{crypto.generate_key()}"
    keys.keyring.cache_clear()
    try:
        vault_services.rotate_keys()
        settings.AMPARO_KEYS = f"{new}:{base64.urlsafe_b64encode(keys.keyring().kek(new)).decode()}"
        keys.keyring.cache_clear()
        fields.clear_field_key_cache()
        export.refresh_from_db()
        assert export.passphrase_sealed.startswith(f"v{new}$")
        stored = keys.decrypt_text(
            export.passphrase_sealed, purpose="field", context=services.passphrase_context(export)
        )
        assert stored == passphrase
        assert export.purpose_detail == "Diligencias 1234/2026"
        assert services.reencrypt_export_passphrases() == 0  # nothing left on the old key
    finally:
        keys.keyring.cache_clear()
