import uuid

from django.db import models


class AuditEvent(models.Model):
    """One link of the append-only, hash-chained audit and custody log.

    Threat: someone with database access (an insider, a stolen backup restored
    and edited) rewrites history: hides that a file was revealed, or changes
    who exported a case. Choice: every row carries the SHA-256 of the previous
    row and of its own canonical content; a trigger refuses UPDATE and DELETE;
    `manage.py verify_audit` recomputes the chain and names the first broken link.
    A superuser can still disable the trigger, but not without breaking the chain.
    """

    class ActorKind(models.TextChoices):
        USER = "user"
        FAMILY = "family"
        SYSTEM = "system"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    # "user:<pk>", "family:<case uuid>" or "system:<task>": ids, never names.
    actor_ref = models.CharField(max_length=80)
    actor_role = models.CharField(max_length=40, blank=True)
    event = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.UUIDField(null=True, blank=True)
    organisation_id = models.UUIDField(null=True, blank=True)
    # Coarse origin only (IPv4 /24, IPv6 /48): enough to say "from where", not who.
    origin = models.CharField(max_length=50, blank=True)
    # Small, non-personal details (a role name, a reason code, a purpose).
    data = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["object_id", "id"]),
            models.Index(fields=["organisation_id", "id"]),
        ]

    def __str__(self):
        return f"{self.event} {self.object_type}:{self.object_id}"
