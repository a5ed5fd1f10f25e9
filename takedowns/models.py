"""Takedown routing: the platform registry, notice templates, notices and their log.

The registry is data, not code: platforms change their forms every few months, so
every channel, field list, jurisdiction and deadline is a row an operator edits in
the admin (each save audited and versioned), seeded from
docs TAKEDOWN_POLICE_FACTS §1 by a data migration.

Personal or abusive content (the URLs reported, the notice text, platform replies,
ticket numbers, signatures) is stored only through vault.fields.EncryptedText.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from vault.fields import EncryptedText

# A registry row not checked against its source for this long shows as stale.
STALE_AFTER = timedelta(days=90)
# One notice per (platform, URL, basis) in this window, unless a new fact is recorded.
REPEAT_WINDOW = timedelta(hours=72)


class Basis(models.TextChoices):
    """The legal basis (or policy) a notice is made under (LEGAL.md)."""

    DSA = "dsa", _("EU Digital Services Act, art. 16")
    TAKE_IT_DOWN = "take_it_down", _("US TAKE IT DOWN Act")
    AEPD = "aepd", _("AEPD Canal Prioritario")
    GDPR_ERASURE = "gdpr_erasure", _("GDPR art. 17 erasure")
    SEARCH_DELISTING = "search_delisting", _("Search de-listing")
    POLICY = "policy", _("Platform policy")
    HOTLINE = "hotline", _("Hotline referral")


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    WEB_FORM = "web_form", _("Web form")
    IN_APP = "in_app", _("In-app report")
    API = "api", _("Platform API")


class PlatformKind(models.TextChoices):
    MESSAGING = "messaging", _("Messaging")
    SOCIAL = "social", _("Social network")
    VIDEO = "video", _("Video")
    ADULT = "adult", _("Adult site")
    SEARCH = "search", _("Search engine")
    WEBSITE = "website", _("Website or host")
    REGULATOR = "regulator", _("Regulator")
    HOTLINE = "hotline", _("Hotline")
    PARTNER = "partner", _("Partner trusted flagger")


class HashProgramme(models.TextChoices):
    STOPNCII = "stopncii", "StopNCII"
    TAKE_IT_DOWN = "take_it_down", "Take It Down"


class RegistryRow(models.Model):
    """What Platform and Route share: a version, a source and when it was last checked."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Bumped by takedowns.registry on every admin save (with an audit event naming
    # the changed fields), so a notice can say which row version it was built from.
    version = models.PositiveIntegerField(default=1, editable=False)
    source_url = models.URLField(_("source"), max_length=500, blank=True)
    last_verified = models.DateField(_("last verified"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def is_stale(self, today: date | None = None) -> bool:
        """Never verified, or verified more than 90 days ago."""
        today = today or timezone.localdate()
        return self.last_verified is None or today - self.last_verified > STALE_AFTER


class Platform(RegistryRow):
    """A service notices go to: a platform, a search engine, a regulator, a hotline.

    `organisation` empty = the installation's registry, seen by everyone; set = a
    platform only that organisation sees (its local hotline, a partner flagger).
    """

    slug = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=20, choices=PlatformKind.choices)
    organisation = models.ForeignKey(
        "support.Organisation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="takedown_platforms",
    )
    # Host names whose URLs belong to this platform (matching a Location's URL).
    domains = models.JSONField(_("domains"), default=list, blank=True)
    # The `support.Location.platform` code (vault.normalize.PLATFORMS) it answers to.
    location_code = models.CharField(_("location code"), max_length=20, blank=True)
    hash_programmes = models.JSONField(_("hash programmes"), default=list, blank=True)
    languages = models.JSONField(_("languages"), default=list, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("platform")
        verbose_name_plural = _("platforms")
        constraints = [
            models.UniqueConstraint(
                fields=["slug"],
                condition=models.Q(organisation=None),
                name="one_shared_platform_per_slug",
            ),
            models.UniqueConstraint(
                fields=["organisation", "slug"], name="one_org_platform_per_slug"
            ),
        ]

    def __str__(self):
        return self.name


class Route(RegistryRow):
    """One way to ask a platform to act: a basis through a channel, for some jurisdictions.

    `form_fields` is the web form's fields in the form's order, each
    `{"key": …, "label": {"en": …, "es": …}, "element": <notice element code>}`;
    `in_app_steps` is `{"en": [step, …], "es": [step, …]}`. `required_elements`
    lists what the form insists on; `extra_demands` what it demands beyond the law
    (Telegram's name demand): the over-disclosure guard flags those.
    """

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="routes")
    organisation = models.ForeignKey(
        "support.Organisation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="takedown_routes",
    )
    name = models.CharField(_("name"), max_length=150)
    basis = models.CharField(_("legal basis"), max_length=20, choices=Basis.choices)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    email = models.EmailField(_("email address"), blank=True)
    form_url = models.URLField(_("web-form address"), max_length=500, blank=True)
    form_fields = models.JSONField(_("form fields, in order"), default=list, blank=True)
    in_app_steps = models.JSONField(_("in-app steps"), default=dict, blank=True)
    api_adapter = models.CharField(_("API adapter"), max_length=60, blank=True)
    # ISO 3166 codes of where the people concerned must be; empty = anywhere.
    eligible_jurisdictions = models.JSONField(_("eligible jurisdictions"), default=list, blank=True)
    required_elements = models.JSONField(_("required fields"), default=list, blank=True)
    extra_demands = models.JSONField(_("demands beyond the law"), default=list, blank=True)
    one_item_per_report = models.BooleanField(_("one item per report"), default=False)
    languages = models.JSONField(_("languages"), default=list, blank=True)
    # Hours the platform has to act after a valid notice (48 under TAKE IT DOWN).
    deadline_hours = models.PositiveIntegerField(_("deadline (hours)"), null=True, blank=True)
    # Lower comes first among the routes suggested for one location.
    rank = models.PositiveSmallIntegerField(_("rank"), default=50)

    class Meta:
        ordering = ["platform__name", "rank", "name"]
        verbose_name = _("route")
        verbose_name_plural = _("routes")
        indexes = [models.Index(fields=["platform", "basis"], name="route_platform_basis")]

    def __str__(self):
        return f"{self.platform.name}: {self.name}"

    def accepts(self, jurisdictions: list[str]) -> bool:
        """Whether a case concerning people in `jurisdictions` may use this route."""
        if not self.eligible_jurisdictions:
            return True
        return bool(set(self.eligible_jurisdictions) & {j.upper() for j in jurisdictions})


class RegistryVersion(models.Model):
    """One saved version of a registry row, as it was after the change: what a notice's
    `route_version` points back to, and what an operator reads to see who changed
    what and when (the audit event names the fields; this row keeps the values)."""

    kind = models.CharField(max_length=10)  # "platform" or "route"
    row_uuid = models.UUIDField()
    version = models.PositiveIntegerField()
    snapshot = models.JSONField(encoder=DjangoJSONEncoder)
    changed = models.JSONField(default=list)
    # The audit actor reference ("user:12"), never a name.
    actor_ref = models.CharField(max_length=80)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "row_uuid", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "row_uuid", "version"], name="one_registry_version"
            )
        ]

    def __str__(self):
        return f"{self.kind} {self.row_uuid} v{self.version}"


class NoticeTemplate(models.Model):
    """The wording of a notice for one basis and language. Rows are never edited:
    saving a change in the admin writes the next version; notices keep theirs."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    basis = models.CharField(_("legal basis"), max_length=20, choices=Basis.choices)
    language = models.CharField(_("language"), max_length=8)
    version = models.PositiveIntegerField(_("version"), default=1)
    subject = models.CharField(_("subject"), max_length=300)
    # Django template syntax over the notice's elements ({{ urls }}, {{ explanation }}…).
    body = models.TextField(_("body"))
    # The fixed wording the body draws on, by element code ("good_faith",
    # "non_consent", "explanation_minor", …): legal wording is data, not code.
    statements = models.JSONField(_("statements"), default=dict, blank=True)
    is_current = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["basis", "language", "-version"]
        verbose_name = _("notice template")
        verbose_name_plural = _("notice templates")
        constraints = [
            models.UniqueConstraint(
                fields=["basis", "language", "version"], name="one_template_version"
            ),
            models.UniqueConstraint(
                fields=["basis", "language"],
                condition=models.Q(is_current=True),
                name="one_current_template",
            ),
        ]

    def __str__(self):
        return f"{self.basis}/{self.language} v{self.version}"


class TakedownSettings(models.Model):
    """An organisation's takedown details: how it signs notices and is contacted."""

    organisation = models.OneToOneField(
        "support.Organisation", on_delete=models.CASCADE, related_name="takedown_settings"
    )
    # The group's case inbox: where platforms answer (never the family's address).
    inbox_email = models.EmailField(_("case inbox"), blank=True)
    notifier_name = models.CharField(_("notifier name"), max_length=200, blank=True)
    # Opt-in status-only re-checks of reported URLs (takedowns.recheck).
    status_rechecks = models.BooleanField(_("re-check reported addresses"), default=False)
    default_jurisdictions = models.JSONField(default=list, blank=True)

    def __str__(self):
        return f"takedown settings {self.organisation_id}"


class CaseTakedownFacts(models.Model):
    """What a case's notices need beyond what intake asked: recorded by the caseworker.

    Only what some basis requires is asked for; each notice takes only what its own
    basis needs (the over-disclosure guard).
    """

    class Vulnerability(models.TextChoices):
        MINOR = "minor", _("The person shown is a minor")
        GENDER_VIOLENCE = "gender_violence", _("Gender violence")
        SEXUAL_AGGRESSION = "sexual_aggression", _("Sexual aggression")
        HARASSMENT = "harassment", _("Harassment")
        DISABILITY = "disability", _("Disability")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.OneToOneField(
        "support.Case", on_delete=models.CASCADE, related_name="takedown_facts"
    )
    # ISO 3166 codes of where the family lives (routes check eligibility against it).
    jurisdictions = models.JSONField(default=list, blank=True)
    # TAKE IT DOWN: the parent's electronic signature as authorised person ("/s/ name").
    signature_sealed = models.TextField(blank=True)
    signature = EncryptedText("signature_sealed")
    signed_at = models.DateTimeField(null=True, blank=True)
    # AEPD packet elements.
    circumstances_sealed = models.TextField(blank=True)
    circumstances = EncryptedText("circumstances_sealed")
    means_of_spread_sealed = models.TextField(blank=True)
    means_of_spread = EncryptedText("means_of_spread_sealed")
    # None = not answered yet; the answer (even "none") is an element of the packet.
    prior_actions_answered = models.BooleanField(default=False)
    prior_actions_sealed = models.TextField(blank=True)
    prior_actions = EncryptedText("prior_actions_sealed")
    vulnerabilities = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"takedown facts {self.uuid}"


class NoticeState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    REMOVED = "removed", _("Removed")
    REJECTED = "rejected", _("Rejected")
    REAPPEARED = "reappeared", _("Reappeared")
    ESCALATED = "escalated", _("Escalated")
    WITHDRAWN = "withdrawn", _("Withdrawn")


N = NoticeState
# The only moves a notice may make (takedowns.services enforces them). Web-form and
# in-app notices go draft → sent when the caseworker records the submission.
TRANSITIONS: dict[str, set[str]] = {
    N.DRAFT: {N.QUEUED, N.SENT, N.WITHDRAWN},
    N.QUEUED: {N.SENDING, N.WITHDRAWN},
    N.SENDING: {N.SENT, N.QUEUED, N.REJECTED},  # the sweeper resolves a stuck send
    N.SENT: {N.ACKNOWLEDGED, N.REMOVED, N.REJECTED, N.ESCALATED, N.WITHDRAWN},
    N.ACKNOWLEDGED: {N.REMOVED, N.REJECTED, N.ESCALATED, N.WITHDRAWN},
    N.REMOVED: {N.REAPPEARED},
    N.REJECTED: {N.ESCALATED, N.WITHDRAWN},
    N.REAPPEARED: {N.ESCALATED, N.REMOVED, N.WITHDRAWN},
    N.ESCALATED: {N.REMOVED, N.WITHDRAWN},
    N.WITHDRAWN: set(),
}
# States in which the platform still owes an answer (clocks run).
OPEN_STATES = frozenset({N.QUEUED, N.SENDING, N.SENT, N.ACKNOWLEDGED, N.REAPPEARED})
# States that count as "a notice was made" for the 72-hour repeat rule.
COUNTS_AS_SENT = frozenset(set(NoticeState.values) - {N.DRAFT, N.WITHDRAWN})


class RejectionReason(models.TextChoices):
    INCOMPLETE = "incomplete", _("The platform said the notice was incomplete")
    NOT_ILLEGAL = "not_illegal", _("The platform found no breach")
    NOT_ELIGIBLE = "not_eligible", _("The platform said we may not use this route")
    IDENTITY = "identity", _("The platform asked for identity we will not give")
    NOT_FOUND = "not_found", _("The platform could not find the content")
    OTHER = "other", _("Another reason (see note)")


def _delivery_key() -> str:
    return uuid.uuid4().hex


class Notice(models.Model):
    """One request to one route about one or more of a case's locations.

    `delivery_key` travels with every delivery attempt (the email's Message-ID, the
    API's idempotency key), so a repeat after a crash is recognisable by the
    recipient and by us. The rendered text is kept sealed exactly as sent.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey("support.Case", on_delete=models.CASCADE, related_name="notices")
    organisation = models.ForeignKey(
        "support.Organisation", on_delete=models.PROTECT, related_name="notices"
    )
    route = models.ForeignKey(Route, on_delete=models.PROTECT, related_name="notices")
    route_version = models.PositiveIntegerField()
    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="notices")
    basis = models.CharField(max_length=20, choices=Basis.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    language = models.CharField(max_length=8)
    # Where it goes: the route's address, or one given per notice where the route has
    # none (a website's host abuse address). Never the family's address.
    recipient = models.CharField(max_length=500, blank=True)
    template = models.ForeignKey(
        NoticeTemplate, null=True, on_delete=models.PROTECT, related_name="notices"
    )
    template_version = models.PositiveIntegerField(null=True)
    state = models.CharField(max_length=20, choices=NoticeState.choices, default=N.DRAFT)
    delivery_key = models.CharField(max_length=64, unique=True, default=_delivery_key)
    locations = models.ManyToManyField(
        "support.Location", through="NoticeItem", related_name="notices"
    )

    # Rendered content, sealed: subject, body, and the element values by code (the
    # web-form pack's field texts come from these).
    subject_sealed = models.TextField(blank=True)
    subject = EncryptedText("subject_sealed")
    body_sealed = models.TextField(blank=True)
    body = EncryptedText("body_sealed")
    elements_sealed = models.TextField(blank=True)
    elements = EncryptedText("elements_sealed", as_json=True)
    # Codes: which DSA 16(2)(c) exemption or guard decisions shaped this notice.
    identity_withheld = models.BooleanField(default=False)
    guard_flags = models.JSONField(default=list, blank=True)
    # Context-file derivatives to attach (metadata-free, never the fake image).
    attachments = models.ManyToManyField("support.ContextFile", blank=True, related_name="+")
    # Shown to the family too (in-app guidance they may follow themselves).
    show_to_family = models.BooleanField(default=False)
    # Why a repeat inside 72 hours is justified (a new fact), if it is one.
    new_fact_sealed = models.TextField(blank=True)
    new_fact = EncryptedText("new_fact_sealed")
    repeat_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="repeats"
    )
    escalated_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="escalations"
    )

    # Results of delivery and follow-up.
    ticket_sealed = models.TextField(blank=True)
    ticket = EncryptedText("ticket_sealed")
    confirmation = models.ForeignKey(
        "support.ContextFile", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rejection_reason = models.CharField(max_length=20, choices=RejectionReason.choices, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=60, blank=True)

    prepared_by = models.ForeignKey(
        "support.Membership", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_by = models.ForeignKey(
        "support.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    sending_at = models.DateTimeField(null=True, blank=True)
    # When the channel answered "accepted" (SMTP 250, API 2xx) for the current attempt,
    # written the moment it answers, before anything else: a `sending` notice with
    # it set is known delivered, so the sweeper records it sent instead of resending.
    accepted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # sent_at + the route's deadline; the clocks (takedowns.clocks) read this.
    deadline_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    rejected_at = models.DateTimeField(null=True, blank=True)
    reappeared_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["case", "state"], name="notice_case_state"),
            models.Index(
                fields=["deadline_at"],
                name="notice_open_deadline",
                condition=models.Q(state__in=["sent", "acknowledged", "reappeared"]),
            ),
            models.Index(
                fields=["sending_at"], name="notice_sending", condition=models.Q(state="sending")
            ),
            models.Index(fields=["organisation", "state"], name="notice_org_state"),
        ]

    def __str__(self):
        return f"notice {self.uuid}"

    @property
    def message_id(self) -> str:
        """The RFC 5322 Message-ID every copy of this notice carries."""
        return f"<notice-{self.delivery_key}@amparo.invalid>"

    def can_move_to(self, state: str) -> bool:
        return state in TRANSITIONS.get(self.state, set())


class NoticeItem(models.Model):
    """One location a notice names. `url_index` is the location's blind index, so the
    72-hour repeat rule can look up (platform, URL, basis) without decrypting."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="items")
    location = models.ForeignKey("support.Location", on_delete=models.CASCADE, related_name="+")
    url_index = models.CharField(max_length=64)
    # Kept here too (not only on the notice) so the repeat lookup is one index scan.
    platform = models.ForeignKey(Platform, on_delete=models.PROTECT, related_name="+")
    basis = models.CharField(max_length=20, choices=Basis.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notice", "location"], name="one_item_per_location")
        ]
        indexes = [
            models.Index(
                fields=["platform", "url_index", "basis", "created_at"], name="notice_item_repeat"
            )
        ]

    def __str__(self):
        return f"notice item {self.pk}"


class NoticeEvent(models.Model):
    """The notice's log: every state change, delivery attempt and platform reply.

    Replies are entered by hand (inbound parsing is out of scope); their text is sealed.
    """

    class Kind(models.TextChoices):
        STATE = "state", _("State change")
        ATTEMPT = "attempt", _("Delivery attempt")
        REPLY = "reply", _("Platform reply")
        NOTE = "note", _("Note")
        REMINDER = "reminder", _("Reminder")

    # Its text is encrypted under the notice's case's field key (vault.fields).
    field_key_owner = "notice.case"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    from_state = models.CharField(max_length=20, choices=NoticeState.choices, blank=True)
    to_state = models.CharField(max_length=20, choices=NoticeState.choices, blank=True)
    actor = models.ForeignKey(
        "support.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # When it happened (a reply's date as the platform gave it); created_at is when logged.
    at = models.DateTimeField(default=timezone.now)
    text_sealed = models.TextField(blank=True)
    text = EncryptedText("text_sealed")
    # Codes only (an error class, a reason code, an outbox id).
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"notice event {self.uuid}"


class StatusCheck(models.Model):
    """One status-only re-check of one reported URL of a notice (takedowns.recheck).

    Only the outcome and the HTTP status code are kept: never a header, a body or
    the page's address (that stays sealed on the Location). A row is written when the
    check is scheduled (`outcome` "pending") and completed by the worker.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Waiting to run")
        UP = "up", _("Still online")
        GONE = "gone", _("Not found (possibly removed)")
        REFUSED = "refused", _("Not checked: not a public address")
        FAILED = "failed", _("Could not be checked")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    item = models.ForeignKey(NoticeItem, on_delete=models.CASCADE, related_name="checks")
    scheduled_at = models.DateTimeField()
    checked_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    # A short code from takedowns.recheck ("timeout", "not-public-address"…).
    reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["scheduled_at", "id"]
        indexes = [models.Index(fields=["item", "-scheduled_at"], name="status_check_latest")]

    def __str__(self):
        return f"status check {self.uuid}"
