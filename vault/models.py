import json
import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import crypto, keys


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


class RecipientKey(models.Model):
    """A police unit's X25519 public key, to which originals can be sealed.

    Only the public half is ever here: the unit keeps the private key offline, so a
    blob sealed to it cannot be opened by the server (``docs/vault-format.md``).
    The fingerprint is read aloud with the unit before the key is trusted.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    # Raw 32-byte key as URL-safe base64 (vault.crypto.public_key_to_b64).
    public_key = models.CharField(max_length=64, unique=True)
    fingerprint = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)
    is_active = models.BooleanField(default=True)

    def __str__(self):
        return f"{self.name} ({self.fingerprint})"

    @property
    def public_bytes(self) -> bytes:
        return crypto.public_key_from_b64(self.public_key)


class Blob(models.Model):
    """One stored file: its ciphertext's key, fingerprints and custody state.

    Threat: a database dump must reveal no content, and deleting evidence must
    make it unreadable everywhere, backups of the object store included. Choice:
    the bytes live only as AMPV1 ciphertext in the evidence store under a per-blob
    DEK; the row holds that DEK wrapped by a KEK (``kek_version`` + ``wrapped_dek``)
    or, for sealed originals, sealed to a recipient's public key (``sealed_dek``),
    never both. Destroying a blob nulls the key columns first (crypto-shredding),
    then deletes the ciphertext. The filename and the image metadata summary are
    encrypted (``vault.keys.encrypt_text``, bound to this row's uuid); the hashes,
    sizes and declared content type are plain, as fingerprints must be comparable.
    """

    class Kind(models.TextChoices):
        ORIGINAL = "original"
        PREVIEW = "preview"  # re-encoded, metadata-free, full quality
        BLURRED = "blurred"  # re-encoded, metadata-free, strongly blurred

    class State(models.TextChoices):
        STORED = "stored"
        DESTROYED = "destroyed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ORIGINAL)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="derivatives"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.STORED)
    size = models.BigIntegerField()
    # Of the bytes exactly as received (MD5 only to match external hash lists).
    sha256 = models.CharField(max_length=64, db_index=True)
    md5 = models.CharField(max_length=32)
    # As declared by the sender: informative only, never used to decide anything.
    content_type = models.CharField(max_length=100, blank=True)
    filename_sealed = models.TextField(blank=True)
    storage_key = models.CharField(max_length=200, unique=True)
    kek_version = models.PositiveIntegerField(null=True, blank=True)
    wrapped_dek = models.BinaryField(null=True, blank=True)
    recipient = models.ForeignKey(
        RecipientKey, null=True, blank=True, on_delete=models.PROTECT, related_name="blobs"
    )
    sealed_dek = models.BinaryField(null=True, blank=True)
    pdq_hash = models.CharField(max_length=64, blank=True)
    pdq_quality = models.PositiveSmallIntegerField(null=True, blank=True)
    pdq_pipeline = models.CharField(max_length=80, blank=True)
    metadata_sealed = models.TextField(blank=True)
    # Set by process_image when the file is not an image we will decode
    # (vault.images.REJECTION_CODES), so it is shown as a plain download only.
    image_rejection = models.CharField(max_length=30, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A blob is opened either by the server (wrapped DEK) or only by a
            # recipient (sealed DEK), never both; a destroyed one by nobody.
            models.CheckConstraint(
                condition=(
                    models.Q(state="stored", wrapped_dek__isnull=False, sealed_dek__isnull=True)
                    | models.Q(state="stored", wrapped_dek__isnull=True, sealed_dek__isnull=False)
                    | models.Q(state="destroyed", wrapped_dek__isnull=True, sealed_dek__isnull=True)
                ),
                name="vault_blob_one_key_or_destroyed",
            ),
            models.CheckConstraint(
                condition=models.Q(wrapped_dek__isnull=True) | models.Q(kek_version__isnull=False),
                name="vault_blob_wrapped_dek_has_version",
            ),
            models.CheckConstraint(
                condition=models.Q(sealed_dek__isnull=True) | models.Q(recipient__isnull=False),
                name="vault_blob_sealed_dek_has_recipient",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="original", parent__isnull=True)
                | (~models.Q(kind="original") & models.Q(parent__isnull=False)),
                name="vault_blob_derivatives_have_parent",
            ),
        ]

    def __str__(self):
        return f"{self.kind} blob {self.uuid}"

    @property
    def is_sealed(self) -> bool:
        return self.recipient_id is not None

    def _context(self, column: str) -> str:
        return f"vault_blob|{column}|{self.uuid}"

    def filename(self) -> str:
        """The original filename, decrypted (empty if none was given or it was destroyed)."""
        if not self.filename_sealed:
            return ""
        return keys.decrypt_text(
            self.filename_sealed, purpose="field", context=self._context("filename")
        )

    def metadata(self) -> dict:
        """The image metadata summary (vault.images.metadata_summary), decrypted."""
        if not self.metadata_sealed:
            return {}
        text = keys.decrypt_text(
            self.metadata_sealed, purpose="field", context=self._context("metadata")
        )
        return json.loads(text)


class AuditAnchor(models.Model):
    """A signed statement "event `seq` of the audit chain has hash `head_hash`".

    Threat: someone with database access truncates the log (deletes its newest
    rows) or rewrites it and recomputes every later hash, so that the chain is
    consistent again. Choice: at a fixed interval a beat task signs the chain's
    head with the server's Ed25519 key (``AMPARO_SIGNING_KEY``), outside the chain.
    A rewritten link no longer matches an anchor signed before the rewrite, and a
    truncated log lacks the events anchors name; a police bundle carries the
    anchors so the check also works offline. The signed message is
    ``anchor_message()``; a new anchor is only written when the head moved.
    """

    seq = models.BigIntegerField(unique=True)  # AuditEvent.id of the head signed
    head_hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    signature = models.CharField(max_length=128)  # hex Ed25519 signature
    key_id = models.CharField(max_length=16)

    class Meta:
        ordering = ["seq"]
        verbose_name = _("signed audit anchor")
        verbose_name_plural = _("signed audit anchors")

    def __str__(self):
        return f"anchor {self.seq} {self.head_hash[:12]}"

    def message(self) -> bytes:
        from .anchors import anchor_message

        return anchor_message(seq=self.seq, head_hash=self.head_hash, signed_at=self.signed_at)
