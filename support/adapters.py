from urllib.parse import quote

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.internal.flows.reauthentication import reauthenticate_by_password
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.mfa.models import Authenticator
from django.urls import reverse

from vault import keys

from .http import absolute_url


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request):
        # Staff join only through an organisation admin's invitation.
        return False

    def get_reset_password_from_key_url(self, key: str) -> str:
        # allauth builds it from the request's Host; ours comes from the setting.
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return absolute_url(path.replace("UID-KEY", quote(key)))

    def login(self, request, user):
        """Count a password sign-in without a second factor as a fresh re-authentication.

        Such a member is sent straight to TOTP enrolment, which allauth guards with
        `reauthentication_required`: without this they would type the password they
        gave a second earlier. Threat considered: an unattended session; the record
        expires after ACCOUNT_REAUTHENTICATION_TIMEOUT like any re-authentication, and
        a session opened any other way (or by MFA) still re-authenticates.
        """
        super().login(request, user)
        records = get_authentication_records(request, user)
        if (
            records
            and records[-1].get("method") == "password"
            and not Authenticator.objects.filter(user=user).exists()
        ):
            reauthenticate_by_password(request)


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


def reencrypt_mfa_secrets() -> int:
    """Rotation step: TOTP secrets and recovery-code seeds re-encrypted under the current KEK."""
    from allauth.mfa.models import Authenticator
    from django.db import transaction

    context = MFAAdapter._context
    done = 0
    with transaction.atomic():
        for authenticator in Authenticator.objects.select_for_update():
            data = dict(authenticator.data)
            changed = False
            for name in ("secret", "seed"):
                if isinstance(data.get(name), str):
                    new = keys.reencrypt_text(data[name], purpose="mfa", context=context)
                    if new is not None:
                        data[name], changed = new, True
            if changed:
                authenticator.data = data
                authenticator.save(update_fields=["data"])
                done += 1
    return done
