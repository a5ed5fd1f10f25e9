import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Organisation(models.Model):
    """A support group (an association of families, an NGO, a school's team)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    COORDINATOR = "coordinator", _("Coordinator")
    CASEWORKER = "caseworker", _("Caseworker")
    POLICE_LIAISON = "police_liaison", _("Police liaison")
    ORG_ADMIN = "org_admin", _("Organisation administrator")


class Membership(models.Model):
    """A person's role in one organisation. Deactivated, never deleted (audit)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation"], name="one_membership_per_org")
        ]

    def __str__(self):
        return f"{self.user_id}@{self.organisation_id}:{self.role}"


class Invitation(models.Model):
    """An emailed invitation to join an organisation with a role.

    The link carries a random token; only its SHA-256 is stored, so a database
    reader cannot use pending invitations.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(_("email"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    # The same token, encrypted (vault "field" key), so the mail task can build
    # the link from the invitation's id alone; no token ever crosses the broker.
    token_sealed = models.TextField()
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"invitation {self.uuid}"


class OutboxMessage(models.Model):
    """A side effect promised in the same transaction as the state change.

    Celery is told after commit; if the broker was down or lost the message,
    the beat sweeper sends it again. Tasks mark the row done, so a re-send of a
    finished task does nothing. Arguments are ids only (checked on enqueue).
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    task = models.CharField(max_length=200)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_count = models.PositiveIntegerField(default=0)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["dispatched_at"], name="outbox_pending", condition=models.Q(done_at=None)
            )
        ]

    def __str__(self):
        return f"{self.task} {self.uuid}"
