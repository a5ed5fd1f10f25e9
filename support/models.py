import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from vault.fields import EncryptedText, FieldKeyOwner, blind_index_with_version


def set_blind_index(row) -> None:
    """Set a row's blind index from its value, under the current KEK version, and record
    the version (vault.fields, "Blind indexes"); rotation calls it again on old rows."""
    value, domain = row.index_source()
    row.index_kek_version, row.index = blind_index_with_version(value, domain=domain)


def label_index_source(text: str) -> tuple[str, str]:
    return " ".join(text.split()).casefold(), "label"


class Organisation(models.Model):
    """A support group (an association of families, an NGO, a school's team)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(_("name"), max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(default=True)
    # Days a closed case is kept before its keys are destroyed (see support.retention).
    retention_days = models.PositiveIntegerField(_("retention after closure (days)"), default=365)

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


class EvidenceReason(models.TextChoices):
    """Why a staff member saw or downloaded an evidence file (recorded, shown on the timeline)."""

    TRIAGE = "triage", _("To understand the case")
    TAKEDOWN = "takedown", _("To prepare a removal request")
    POLICE = "police", _("To prepare a police referral")
    FAMILY = "family", _("The family asked me to check it")


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
    # A worker running the task holds it until then (see outbox._claim).
    leased_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["dispatched_at"], name="outbox_pending", condition=models.Q(done_at=None)
            )
        ]

    def __str__(self):
        return f"{self.task} {self.uuid}"


# --- Cases -------------------------------------------------------------------------
# Personal content (narratives, contact details, identifiers, messages, notes) is
# stored only through vault.fields.EncryptedText; columns ending in `_sealed` hold ciphertext.


class Incident(FieldKeyOwner):
    """One event that touched many families (a school, a group chat, a month)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="incidents"
    )
    title_sealed = models.TextField()
    title = EncryptedText("title_sealed")
    # Short code families type or scan (QR) so their reports reach this incident.
    intake_code = models.CharField(max_length=12, unique=True)
    is_open = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"incident {self.uuid}"


class CaseStatus(models.TextChoices):
    NEW = "new", _("New")
    TRIAGED = "triaged", _("Triaged")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING = "waiting", _("Waiting on platforms")
    REFERRED = "referred", _("Referred")
    CLOSED = "closed", _("Closed")


class Priority(models.IntegerChoices):
    URGENT = 0, _("Urgent")
    HIGH = 1, _("High")
    NORMAL = 2, _("Normal")


class FilerRole(models.TextChoices):
    PARENT = "parent", _("A parent or guardian")
    YOUNG_PERSON = "young_person", _("The young person")
    TRUSTED_ADULT = "trusted_adult", _("Another trusted adult")


class AgeBand(models.TextChoices):
    UNDER_12 = "under_12", _("Under 12")
    AGE_12_13 = "12_13", _("12 or 13")
    AGE_14_15 = "14_15", _("14 or 15")
    AGE_16_17 = "16_17", _("16 or 17")
    ADULT = "18_plus", _("18 or older")


class ContactPreference(models.TextChoices):
    NONE = "none", _("Do not contact us; we will check the status page")
    IN_APP = "in_app", _("Only messages on the status page")
    EMAIL = "email", _("Email")
    PHONE = "phone", _("Phone")


LIVE = models.Q(destroyed_at=None)


class Case(FieldKeyOwner):
    """One family's report and everything that follows from it."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="cases")
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    reference = models.CharField(max_length=16, unique=True)
    # The family's access code, never the code itself: its Argon2id hash, encrypted
    # under the current KEK ("a1$v<version>$…", support.intake); or, until migrated,
    # the former "v<pepper version>$<argon2id hash>".
    access_code_hash = models.CharField(max_length=400)
    status = models.CharField(max_length=20, choices=CaseStatus.choices, default=CaseStatus.NEW)
    priority = models.IntegerField(choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    filer_role = models.CharField(max_length=20, choices=FilerRole.choices)
    age_band = models.CharField(max_length=10, choices=AgeBand.choices)
    contact_preference = models.CharField(max_length=10, choices=ContactPreference.choices)
    contact_sealed = models.TextField(blank=True)
    contact = EncryptedText("contact_sealed")
    # Structured answers: codes only (see reporting.forms.WHAT_HAPPENED).
    categories = models.JSONField(default=list)
    is_sextortion = models.BooleanField(default=False)
    narrative_sealed = models.TextField(blank=True)
    narrative = EncryptedText("narrative_sealed")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    legal_hold = models.BooleanField(default=False)
    erasure_requested_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    retention_warned_at = models.DateTimeField(null=True, blank=True)
    # Set when the case's keys were destroyed: the row stays as a tombstone.
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Partial on live cases (tombstones excluded), so counts and queues can be
        # index-only scans.
        indexes = [
            # With the id, a filtered queue's count (status and a platform) joins the
            # locations from this index alone, without reading a case row.
            models.Index(
                fields=["organisation", "status", "priority", "created_at"],
                include=["id"],
                condition=LIVE,
                name="case_org_status",
            ),
            # The default queue: every open case, most urgent first.
            models.Index(
                fields=["organisation", "priority", "created_at", "id"],
                condition=LIVE,
                name="case_org_queue",
            ),
            models.Index(
                fields=["organisation", "assignee", "status"],
                condition=LIVE,
                name="case_org_assignee",
            ),
            models.Index(
                fields=["organisation", "created_at"], condition=LIVE, name="case_org_created"
            ),
            models.Index(
                fields=["incident", "status", "priority"],
                condition=LIVE,
                name="case_incident_status",
            ),
            models.Index(
                fields=["incident", "priority", "created_at"],
                condition=LIVE,
                name="case_incident_queue",
            ),
            # The dashboard's median first response: only the responded cases.
            models.Index(
                fields=["organisation", "created_at"],
                include=["first_response_at"],
                condition=LIVE & models.Q(first_response_at__isnull=False),
                name="case_org_responded",
            ),
        ]

    def __str__(self):
        return self.reference


class Location(models.Model):
    """Where the images circulate: a URL, a group or channel invite, a message link."""

    class Kind(models.TextChoices):
        URL = "url", _("Web address")
        GROUP = "group", _("Group or channel")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="locations")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    platform = models.CharField(max_length=20, blank=True)
    value_sealed = models.TextField()
    value = EncryptedText("value_sealed")
    index = models.CharField(max_length=64, db_index=True)
    # The KEK version whose blind-index key made `index`; NULL: made before versions
    # were recorded (under the oldest KEK kept then). Rotation recomputes the others.
    index_kek_version = models.PositiveIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The queue's platform filter reads (platform, case) from the index alone.
        indexes = [models.Index(fields=["platform", "case"], name="location_platform_case")]

    def __str__(self):
        return f"location {self.uuid}"

    def index_source(self) -> tuple[str, str]:
        """(normalised value, domain) of the blind index; the value is normalised at intake."""
        return self.value, "url"

    set_index = set_blind_index


class Identifier(models.Model):
    """Someone involved: an account, a phone number, a payment identifier, a name.

    Suspects may be children and are presumed innocent: the value is encrypted and
    the blind index lets cases be linked without anybody reading it.
    """

    class Kind(models.TextChoices):
        HANDLE = "handle", _("Account or username")
        PHONE = "phone", _("Phone number")
        NAME = "name", _("Name")
        PAYMENT = "payment", _("Payment details (Bizum, IBAN, crypto address)")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    platform = models.CharField(max_length=20, blank=True)
    is_demanding_party = models.BooleanField(default=False)
    value_sealed = models.TextField()
    value = EncryptedText("value_sealed")
    index = models.CharField(max_length=64, db_index=True)
    # The KEK version whose blind-index key made `index`; NULL: made before versions
    # were recorded (under the oldest KEK kept then). Rotation recomputes the others.
    index_kek_version = models.PositiveIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"identifier {self.uuid}"

    def index_source(self) -> tuple[str, str]:
        domain = f"{self.kind}:{self.platform}" if self.kind == self.Kind.HANDLE else self.kind
        return self.value.casefold(), domain

    set_index = set_blind_index


class Fingerprint(models.Model):
    """Hashes of an image or video computed on the family's device; no image exists here."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="fingerprints")
    sha256 = models.CharField(max_length=64, db_index=True)
    md5 = models.CharField(max_length=32)
    pdq = models.CharField(max_length=64, blank=True)
    pdq_quality = models.PositiveSmallIntegerField(null=True, blank=True)
    pdq_version = models.CharField(max_length=80, blank=True)
    media = models.CharField(max_length=10, default="image")  # image | video | other
    size = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"fingerprint {self.uuid}"


class Consent(models.Model):
    """One consent decision; the newest row per (case, kind) is in force. Never edited."""

    class Kind(models.TextChoices):
        TAKEDOWN = "takedown", _("Send removal requests on our behalf")
        HASH_SHARING = "hash_sharing", _("Share the fingerprints with platforms")
        POLICE = "police", _("Refer the case to the police")
        CONTACT = "contact", _("Contact us as we chose")
        YOUNG_PERSON_ASSENT = "assent", _("The young person agrees")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="consents")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    given = models.BooleanField()
    given_by = models.CharField(max_length=20, choices=FilerRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"consent {self.kind}={self.given}"


class Message(models.Model):
    """The thread between a family and its support group."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="messages")
    from_family = models.BooleanField()
    author = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.SET_NULL)
    body_sealed = models.TextField()
    body = EncryptedText("body_sealed")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["case"],
                name="unread_family_messages",
                condition=models.Q(from_family=True, read_at=None),
            )
        ]

    def __str__(self):
        return f"message {self.uuid}"


class ReportDraft(FieldKeyOwner):
    """A report in progress, so a family can stop and resume. Answers are encrypted."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    answers_sealed = models.TextField(blank=True)
    answers = EncryptedText("answers_sealed", as_json=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"draft {self.uuid}"


class CaseLink(models.Model):
    """Two cases of one organisation that share an image or a named account.

    An account link exists only because two families named it independently: a
    single mention links nothing and so reveals nothing.
    """

    class Kind(models.TextChoices):
        IMAGE = "image", _("Probably the same image")
        ACCOUNT = "account", _("Same account named")

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    case_a = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    case_b = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The smallest Hamming distance seen (0 = identical SHA-256), for images.
    distance = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case_a", "case_b", "kind"], name="one_link_per_kind"),
            models.CheckConstraint(
                condition=models.Q(case_a__lt=models.F("case_b")), name="ordered_link"
            ),
        ]

    def __str__(self):
        return f"{self.kind} link {self.case_a_id}-{self.case_b_id}"


class Note(models.Model):
    """A staff note: internal, or shared so the family sees it on its status page."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(Membership, null=True, on_delete=models.SET_NULL, related_name="+")
    body_sealed = models.TextField()
    body = EncryptedText("body_sealed")
    shared_with_family = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"note {self.uuid}"


class Task(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tasks")
    title_sealed = models.TextField()
    title = EncryptedText("title_sealed")
    due = models.DateField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["done_at", "due", "id"]
        indexes = [
            models.Index(fields=["due"], name="open_tasks", condition=models.Q(done_at=None))
        ]

    def __str__(self):
        return f"task {self.uuid}"


class Referral(models.Model):
    """A referral or mandatory communication to another service (LEGAL.md)."""

    class To(models.TextChoices):
        INCIBE = "incibe_017", _("INCIBE 017")
        AEPD = "aepd", _("AEPD Canal Prioritario")
        POLICIA = "policia_nacional", _("Policía Nacional")
        GUARDIA_CIVIL = "guardia_civil", _("Guardia Civil")
        PROSECUTOR = "fiscalia_menores", _("Juvenile prosecutor (Fiscalía de Menores)")
        SCHOOL = "school", _("School welfare coordinator (LOPIVI)")
        SOCIAL = "social_services", _("Social services / child protection")
        OTHER = "other", _("Other")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="referrals")
    to = models.CharField(max_length=30, choices=To.choices)
    on = models.DateField()
    by = models.ForeignKey(Membership, null=True, on_delete=models.SET_NULL, related_name="+")
    reference_sealed = models.TextField(blank=True)
    reference = EncryptedText("reference_sealed")
    outcome_sealed = models.TextField(blank=True)
    outcome = EncryptedText("outcome_sealed")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["on", "id"]

    def __str__(self):
        return f"referral {self.uuid}"


class ContextFile(models.Model):
    """A screenshot, chat export or document about the case, stored encrypted in the vault.

    Never the intimate image itself: the family is told to fingerprint that instead.
    Staff see the blurred derivative unless they deliberately reveal it.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.CASCADE, related_name="files"
    )
    # Uploaded during the wizard, before the case exists.
    draft = models.ForeignKey(
        ReportDraft, null=True, blank=True, on_delete=models.SET_NULL, related_name="files"
    )
    blob = models.OneToOneField("vault.Blob", on_delete=models.PROTECT, related_name="+")
    from_family = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"file {self.uuid}"


class CaseLabel(models.Model):
    """A staff label on a case ("colegio", "pendiente de denuncia"): encrypted, and
    findable through its blind index, since a label can name a place or a person."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="labels")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    value_sealed = models.TextField()
    value = EncryptedText("value_sealed")
    index = models.CharField(max_length=64, db_index=True)
    # The KEK version whose blind-index key made `index`; NULL: made before versions
    # were recorded (under the oldest KEK kept then). Rotation recomputes the others.
    index_kek_version = models.PositiveIntegerField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "index"], name="one_label_per_case")]

    def __str__(self):
        return f"label {self.uuid}"

    def index_source(self) -> tuple[str, str]:
        return label_index_source(self.value)

    set_index = set_blind_index
