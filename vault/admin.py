"""Read-only admin for the signed audit anchors, with the public key to verify them."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from . import crypto, keys
from .models import AuditAnchor


@admin.register(AuditAnchor)
class AuditAnchorAdmin(admin.ModelAdmin):
    list_display = ("seq", "head_hash", "signed_at", "key_id")
    readonly_fields = ("seq", "head_hash", "signed_at", "signature", "key_id", "public_key")
    change_list_template = "admin/vault/auditanchor/change_list.html"

    @admin.display(description=_("signing public key (Ed25519, base64)"))
    def public_key(self, obj=None) -> str:
        return crypto.public_key_to_b64(keys.signing_public_key())

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "signing_public_key": self.public_key(),
            "signing_public_key_pem": signing_public_key_pem(),
            "signing_key_id": keys.signing_key_id(),
        }
        return super().changelist_view(request, extra_context)

    # Anchors are written by the beat task only and never edited.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def signing_public_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public = Ed25519PublicKey.from_public_bytes(keys.signing_public_key())
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
