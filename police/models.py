"""Police units, referrals of cases to them, liaisons' units and case-file exports.

A police liaison is a support-group membership with the POLICE_LIAISON role; this
app adds which unit that person speaks for (`LiaisonAssignment`) and which cases
each unit may see (`PoliceReferral`). Nothing here changes support's models.
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from vault.fields import EncryptedText, FieldKeyOwner


class PoliceUnit(FieldKeyOwner):
    """A police unit a support group refers cases to (e.g. a UCIC or an EMUME).

    Its X25519 public key is a vault `RecipientKey`: sealed originals are encrypted
    to it, and only the unit's private key, which never comes here, opens them.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        "support.Organisation", on_delete=models.PROTECT, related_name="police_units"
    )
    name = models.CharField(_("name"), max_length=200)
    # A desk's phone or address, sometimes a named officer: encrypted like other contacts.
    contact_sealed = models.TextField(blank=True)
    contact = EncryptedText("contact_sealed")
    recipient_key = models.ForeignKey(
        "vault.RecipientKey", on_delete=models.PROTECT, related_name="police_units"
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        "support.Membership", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("police unit")
        verbose_name_plural = _("police units")

    def __str__(self):
        return self.name


class LiaisonAssignment(models.Model):
    """The one unit a police-liaison membership belongs to."""

    membership = models.OneToOneField(
        "support.Membership", on_delete=models.CASCADE, related_name="police_assignment"
    )
    unit = models.ForeignKey(PoliceUnit, on_delete=models.PROTECT, related_name="liaisons")
    assigned_by = models.ForeignKey(
        "support.Membership", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"liaison {self.membership_id} → unit {self.unit_id}"


class PoliceReferral(models.Model):
    """A case referred to a unit: what lets that unit's liaisons see it.

    Allowed only on the family's police consent in force at that moment (kept as
    `consent`), or on a legal obligation a coordinator documents (LOPIVI arts.
    15-16, LOPDGDD art. 84.2…), its reason encrypted here and its basis audited.
    """

    class Basis(models.TextChoices):
        CONSENT = "consent", _("The family's consent")
        LEGAL_OBLIGATION = "legal_obligation", _("A legal obligation")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(
        "support.Case", on_delete=models.CASCADE, related_name="police_referrals"
    )
    unit = models.ForeignKey(PoliceUnit, on_delete=models.PROTECT, related_name="referrals")
    basis = models.CharField(max_length=20, choices=Basis.choices)
    consent = models.ForeignKey(
        "support.Consent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    legal_reason_sealed = models.TextField(blank=True)
    legal_reason = EncryptedText("legal_reason_sealed")
    referred_by = models.ForeignKey(
        "support.Membership", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "unit"],
                condition=models.Q(withdrawn_at=None),
                name="one_live_referral_per_unit",
            ),
            # The basis is recorded, never implied: consent needs its row, an
            # obligation its reason.
            models.CheckConstraint(
                condition=models.Q(basis="consent", consent__isnull=False)
                | (models.Q(basis="legal_obligation") & ~models.Q(legal_reason_sealed="")),
                name="referral_has_its_basis",
            ),
        ]
        indexes = [
            models.Index(
                fields=["unit", "created_at"],
                condition=models.Q(withdrawn_at=None),
                name="live_referrals_by_unit",
            )
        ]

    def __str__(self):
        return f"police referral {self.uuid}"


def default_expiry():
    return timezone.now() + timedelta(hours=settings.POLICE_EXPORT_LIFETIME_HOURS)


class Export(models.Model):
    """One case file built for one liaison: an AES-256 ZIP that can be downloaded once.

    The download token is kept only as its SHA-256. The ZIP's passphrase is shown
    once, in the response that started the export; until the worker has written
    the ZIP it waits here encrypted under the vault's field key
    (`passphrase_sealed`), and that column is emptied as soon as the ZIP exists
    or the build fails. Never in plaintext, never in a broker message.
    """

    class State(models.TextChoices):
        QUEUED = "queued", _("Waiting to start")
        BUILDING = "building", _("Building the case file")
        READY = "ready", _("Ready to download")
        DOWNLOADED = "downloaded", _("Downloaded")
        EXPIRED = "expired", _("Expired")
        FAILED = "failed", _("Failed")

    class Purpose(models.TextChoices):
        INVESTIGATION = "investigation", _("Criminal investigation (diligencias)")
        ATESTADO = "atestado", _("Police report (atestado)")
        COURT = "court", _("Court or prosecutor's request")
        CHILD_PROTECTION = "child_protection", _("Child protection")
        OTHER = "other", _("Other (explain below)")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey("support.Case", on_delete=models.CASCADE, related_name="+")
    unit = models.ForeignKey(PoliceUnit, on_delete=models.PROTECT, related_name="exports")
    referral = models.ForeignKey(PoliceReferral, on_delete=models.PROTECT, related_name="exports")
    requested_by = models.ForeignKey(
        "support.Membership", on_delete=models.PROTECT, related_name="+"
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    # Free text may name an officer or a file number: encrypted.
    purpose_detail_sealed = models.TextField(blank=True)
    purpose_detail = EncryptedText("purpose_detail_sealed")
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent, 0-100
    error_code = models.CharField(max_length=40, blank=True)
    passphrase_sealed = models.TextField(blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    # Relative to POLICE_EXPORT_ROOT; emptied once the file is gone.
    file_path = models.CharField(max_length=200, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    entries = models.PositiveIntegerField(null=True, blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(default=default_expiry)
    downloaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=models.Q(state__in=["queued", "building", "ready"]),
                name="live_exports_by_expiry",
            )
        ]

    def __str__(self):
        return f"export {self.uuid}"

    @property
    def is_live(self) -> bool:
        return self.state in {self.State.QUEUED, self.State.BUILDING, self.State.READY}
