from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter

from vault import keys


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # Staff join only through an organisation admin's invitation.
        return False


class MFAAdapter(DefaultMFAAdapter):
    """Encrypts TOTP secrets at rest.

    Threat: allauth stores TOTP seeds in plaintext, so a database dump would let
    an attacker mint second factors for every staff account. Choice: AES-256-GCM
    under the vault's "mfa" purpose key, bound to a fixed context; the key lives
    outside the database (AMPARO_KEYS).
    """

    _context = "allauth_mfa|totp-secret"

    def encrypt(self, text: str) -> str:
        return keys.encrypt_text(text, purpose="mfa", context=self._context)

    def decrypt(self, encrypted_text: str) -> str:
        return keys.decrypt_text(encrypted_text, purpose="mfa", context=self._context)
