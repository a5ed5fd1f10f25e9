"""State changes of takedown work. Same rules as support's services: one transaction
each, keyword-only arguments, the acting membership explicit, the audit event and any
outbox row written inside it.

Dispatch exactly once. A notice moves draft → queued in the caseworker's
transaction, which also writes the outbox row; the worker then claims it
(queued → sending, committed *before* anything leaves), delivers it with its
delivery key, and records sent (sending → sent, with the outbox row done) in one
more transaction. If the worker dies in between, the notice stays `sending` and its
outbox row stays open; the outbox sweeper sends the task again, and the task takes
over a `sending` notice only once its lease has expired. The channel's "accepted"
is written down the moment it comes (`accepted_at`), so a notice whose worker died
after that is recorded sent, not sent again; only one whose outcome is unknown
(the worker died mid-send) is delivered again, with the same delivery key (the
API's Idempotency-Key makes that a no-op at the platform; the email's Message-ID
lets the recipient, and us, recognise the copy). `deliver` states the guarantee.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta

from django.db import connection as db_connection
from django.db import connections, transaction
from django.db.models import Case as SqlCase
from django.db.models import F, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from support import outbox
from support.events import ServiceError, staff_actor
from support.models import Case, ContextFile, Location, Membership, OutboxMessage
from vault import audit
from vault import services as vault_services

from . import builder
from .channels import MANUAL_CHANNELS, DeliveryError, transport_for
from .models import (
    COUNTS_AS_SENT,
    REPEAT_WINDOW,
    Basis,
    CaseTakedownFacts,
    Channel,
    Notice,
    NoticeEvent,
    NoticeItem,
    NoticeState,
    NoticeTemplate,
    RejectionReason,
    Route,
    TakedownSettings,
)

N = NoticeState
# A worker that claimed a notice this long ago and never finished is presumed dead.
SENDING_LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8


class NoticeRefused(ServiceError):
    """A notice that may not be made: `messages` say why, in the caseworker's words."""

    def __init__(self, code: str, messages: list[str]):
        super().__init__(code)
        self.messages = messages


def _event(notice: Notice, event: str, acting: Membership | None, origin: str = "", data=None):
    actor = staff_actor(acting, origin) if acting else audit.Actor.system("takedowns")
    audit.record(
        event,
        actor=actor,
        object_type="notice",
        object_id=notice.uuid,
        organisation_id=notice.organisation.uuid,
        data={"case": str(notice.case.uuid), **(data or {})},
    )


def _log(notice: Notice, *, kind: str, frm: str = "", to: str = "", acting=None, **extra):
    event = NoticeEvent(notice=notice, kind=kind, from_state=frm, to_state=to, actor=acting)
    if "text" in extra:
        event.text = extra.pop("text")
    if "at" in extra:
        event.at = extra.pop("at")
    event.data = extra
    event.save()
    return event


def _move(notice: Notice, state: str, *, acting=None, origin="", **data) -> None:
    if not notice.can_move_to(state):
        raise ServiceError("bad-transition")
    before, now = notice.state, timezone.now()
    notice.state = state
    stamp = f"{state}_at"
    if hasattr(notice, stamp):
        setattr(notice, stamp, now)
    if state == N.SENT:
        hours = notice.route.deadline_hours
        notice.deadline_at = now + timedelta(hours=hours) if hours else None
    notice.save()
    _log(notice, kind=NoticeEvent.Kind.STATE, frm=before, to=state, acting=acting, **data)
    _event(notice, f"notice.{state}", acting, origin, {"from": before, **data})


def _lock(notice: Notice) -> Notice:
    return (
        Notice.objects.select_for_update(of=("self",))
        .select_related("route__platform", "case", "organisation", "platform")
        .get(pk=notice.pk)
    )


def reference_of(notice_uuid) -> str:
    """The short reference a platform quotes back: the notice id's first 8 hex digits."""
    return notice_uuid.hex[:8].upper()


def settings_for(organisation) -> TakedownSettings:
    found = TakedownSettings.objects.filter(organisation=organisation).first()
    return found or TakedownSettings(organisation=organisation)


def facts_for(case: Case) -> CaseTakedownFacts | None:
    return CaseTakedownFacts.objects.filter(case=case).first()


def current_templates() -> dict[tuple[str, str], NoticeTemplate]:
    return {(t.basis, t.language): t for t in NoticeTemplate.objects.filter(is_current=True)}


def recent_repeats(*, organisation, route: Route, locations: list[Location], now=None):
    """Items already sent (or on their way) to this platform under this basis for these
    URLs in the last 72 hours, by this organisation (platforms penalise repeats)."""
    cutoff = (now or timezone.now()) - REPEAT_WINDOW
    return NoticeItem.objects.filter(
        platform=route.platform,
        basis=route.basis,
        url_index__in=[location.index for location in locations],
        notice__organisation=organisation,
        notice__state__in=COUNTS_AS_SENT,
    ).filter(Q(notice__sent_at__gte=cutoff) | Q(notice__queued_at__gte=cutoff))


def sync_item_url_indexes() -> int:
    """Give every notice item its location's current blind index; return how many changed.

    Run by ``rotate_keys`` after support has recomputed the locations' indexes under
    the new KEK version, so the repeat rule still matches items sent before rotation.
    One UPDATE, idempotent (only items that differ are written).
    """
    current = Location.objects.filter(pk=OuterRef("location_id")).values("index")[:1]
    return NoticeItem.objects.exclude(url_index=F("location__index")).update(
        url_index=Subquery(current)
    )


# --- Preparing -----------------------------------------------------------------------


@transaction.atomic
def save_case_facts(
    *, acting: Membership, case: Case, data: dict, origin: str = ""
) -> CaseTakedownFacts:
    """Record what the notices need beyond intake: signature, AEPD circumstances…"""
    facts = facts_for(case) or CaseTakedownFacts(case=case)
    for name in ("signature", "circumstances", "means_of_spread", "prior_actions"):
        if name in data:
            setattr(facts, name, data[name] or "")
    if data.get("signature") and not facts.signed_at:
        facts.signed_at = timezone.now()
    if not data.get("signature"):
        facts.signed_at = None
    for name in ("prior_actions_answered", "vulnerabilities", "jurisdictions"):
        if name in data:
            setattr(facts, name, data[name])
    facts.save()
    audit.record(
        "case.takedown_facts_changed",
        actor=staff_actor(acting, origin),
        object_type="case",
        object_id=case.uuid,
        organisation_id=case.organisation.uuid,
        data={"fields": sorted(data)},
    )
    return facts


@transaction.atomic
def save_settings(*, acting: Membership, data: dict, origin: str = "") -> TakedownSettings:
    found = settings_for(acting.organisation)
    for name in ("inbox_email", "notifier_name", "status_rechecks", "default_jurisdictions"):
        if name in data:
            setattr(found, name, data[name])
    found.save()
    audit.record(
        "organisation.takedown_settings_changed",
        actor=staff_actor(acting, origin),
        object_type="organisation",
        object_id=acting.organisation.uuid,
        organisation_id=acting.organisation.uuid,
        data={"fields": sorted(data)},
    )
    return found


def draft_for(
    *, case: Case, route: Route, locations: list[Location], language=None, ctx=None, reference=""
):
    """Render (without saving) the notice these inputs make. `ctx` shares loaded rows."""
    ctx = ctx or preparation_context(case)
    template = ctx["templates"].get(
        (route.basis, language or builder.notice_language(route, ctx["places"]))
    )
    return builder.build(
        case=case,
        locations=locations,
        route=route,
        facts=ctx["facts"],
        settings=ctx["settings"],
        template=template,
        attempts=ctx["attempts"],
        reference=reference,
        language=language,
        consent=ctx["consent"],
    )


def preparation_context(case: Case) -> dict:
    """The rows every notice of a case draws on, loaded once (constant query count)."""
    facts = facts_for(case)
    settings = settings_for(case.organisation)
    return {
        "facts": facts,
        "settings": settings,
        "places": builder.jurisdictions(case, facts, settings),
        "templates": current_templates(),
        "attempts": list(
            case.notices.select_related("platform").filter(state__in=COUNTS_AS_SENT - {N.QUEUED})
        ),
        "consent": builder.has_takedown_consent(case),
    }


def _refusal(draft: builder.Draft) -> NoticeRefused | None:
    if draft.refused:
        return NoticeRefused(draft.refused, [builder.refusal_message(draft)])
    messages = []
    if draft.missing:
        messages += [
            str(builder._("This notice is missing %(what)s.") % {"what": label})
            for label in draft.missing_labels
        ]
    if "family_data_in_text" in draft.guard_flags:
        messages.append(builder.guard_message(draft, "family_data_in_text"))
    return NoticeRefused("incomplete", messages) if messages else None


def _repeat_refusal(route: Route) -> NoticeRefused:
    return NoticeRefused(
        "repeat",
        [
            str(
                builder._(
                    "This address went to %(platform)s under this basis less than 72 "
                    "hours ago. Platforms penalise repeats: send again only with a new "
                    "fact, and record it."
                )
                % {"platform": route.platform.name}
            )
        ],
    )


def _checked_notice(
    *,
    acting: Membership,
    case: Case,
    route: Route,
    locations: list[Location],
    repeats_of,
    language: str | None = None,
    recipient: str = "",
    new_fact: str = "",
    ctx: dict | None = None,
) -> Notice:
    """Render and check one notice; the unsaved Notice, or NoticeRefused. Every notice,
    one or many at once, goes through these same checks in this order. `repeats_of`:
    (route, locations) -> the items `recent_repeats` finds for them, asked only of a
    notice that passed the checks before it."""
    if any(location.case_id != case.pk for location in locations):
        raise ServiceError("not-found")
    notice_uuid = uuid.uuid4()
    draft = draft_for(
        case=case,
        route=route,
        locations=locations,
        language=language,
        ctx=ctx,
        reference=reference_of(notice_uuid),
    )
    refusal = _refusal(draft)
    if refusal:
        raise refusal
    repeats = repeats_of(route, locations)
    if repeats and not new_fact.strip():
        raise _repeat_refusal(route)
    recipient = route.email or route.form_url or recipient.strip()
    if route.channel == Channel.EMAIL and not recipient:
        raise NoticeRefused(
            "no-recipient", [str(builder._("Give the address the notice is to be sent to."))]
        )
    notice = Notice(
        uuid=notice_uuid,
        case=case,
        organisation=case.organisation,
        route=route,
        route_version=route.version,
        platform=route.platform,
        basis=route.basis,
        channel=route.channel,
        language=draft.language,
        recipient=recipient[:500],
        template=draft.template,
        template_version=draft.template.version,
        identity_withheld=draft.identity_withheld,
        guard_flags=draft.guard_flags,
        prepared_by=acting,
        repeat_of_id=repeats[0].notice_id if repeats else None,
    )
    notice.subject = draft.subject
    notice.body = draft.body
    notice.elements = draft.elements
    notice.new_fact = new_fact.strip()
    return notice


def _items_of(notice: Notice, locations: list[Location]) -> list[NoticeItem]:
    return [
        NoticeItem(
            notice=notice,
            location=location,
            url_index=location.index,
            platform=notice.route.platform,
            basis=notice.route.basis,
        )
        for location in locations
    ]


def _prepared_data(notice: Notice, locations: list[Location]) -> dict:
    """The `notice.prepared` audit event's data."""
    return {
        "case": str(notice.case.uuid),
        "route": str(notice.route.uuid),
        "basis": notice.route.basis,
        "template_version": notice.template_version,
        "items": len(locations),
        "repeat": notice.repeat_of_id is not None,
    }


@transaction.atomic
def prepare_notice(
    *,
    acting: Membership,
    case: Case,
    route: Route,
    locations: list[Location],
    language: str | None = None,
    recipient: str = "",
    new_fact: str = "",
    origin: str = "",
    ctx: dict | None = None,
) -> Notice:
    """Render, check and save a draft notice. Refused (NoticeRefused) when the family
    has not consented, the route is not for them, an element is missing, the text
    would carry the family's details, or the same URL went to the same platform under
    the same basis in the last 72 hours and no new fact is given."""
    notice = _checked_notice(
        acting=acting,
        case=case,
        route=route,
        locations=locations,
        repeats_of=lambda route, locations: list(
            recent_repeats(organisation=case.organisation, route=route, locations=locations)
        ),
        language=language,
        recipient=recipient,
        new_fact=new_fact,
        ctx=ctx,
    )
    notice.save()
    NoticeItem.objects.bulk_create(_items_of(notice, locations))
    _log(notice, kind=NoticeEvent.Kind.STATE, to=N.DRAFT, acting=acting)
    data = _prepared_data(notice, locations)
    del data["case"]  # _event adds it
    _event(notice, "notice.prepared", acting, origin, data)
    return notice


def _repeats_for_all(*, organisation, wanted: list[tuple[Route, list[Location]]]):
    """`recent_repeats` for many (route, locations) at once, in one query: a function
    giving the items of one (route, locations), as `recent_repeats` would."""
    if not wanted:
        return lambda route, locations: []
    cutoff = timezone.now() - REPEAT_WINDOW
    indexes = {location.index for _route, locations in wanted for location in locations}
    found = list(
        NoticeItem.objects.filter(
            platform_id__in={route.platform_id for route, _locations in wanted},
            basis__in={route.basis for route, _locations in wanted},
            url_index__in=sorted(indexes),
            notice__organisation=organisation,
            notice__state__in=COUNTS_AS_SENT,
        )
        .filter(Q(notice__sent_at__gte=cutoff) | Q(notice__queued_at__gte=cutoff))
        .order_by("id")
    )

    def repeats(route: Route, locations: list[Location]) -> list[NoticeItem]:
        urls = {location.index for location in locations}
        return [
            item
            for item in found
            if item.platform_id == route.platform_id
            and item.basis == route.basis
            and item.url_index in urls
        ]

    return repeats


# Rows per INSERT: a notice has some forty columns, and PostgreSQL takes at most
# 65 535 parameters in one statement.
WRITE_BATCH = 500


def prepare_all(*, acting: Membership, case: Case, origin: str = "") -> dict:
    """A draft for each location's best eligible route not already covered, plus the
    AEPD packet where it applies. Returns counts and the refusals, by location.

    All at once, in one transaction: the rows every notice draws on and the repeats
    of all of them are read once; each notice is rendered and checked exactly as
    `prepare_notice` does (a refused one is reported and the others go on); then the
    notices, their items and logs are inserted in bulk and their audit events
    appended with one chain lock. Any error leaves nothing prepared. Running it again
    makes nothing new: a location already named by a notice (not withdrawn) of the
    route is skipped, as is the AEPD packet once the case has one."""
    from .registry import suggest, visible_routes

    with transaction.atomic():
        ctx = preparation_context(case)
        if not ctx["consent"]:
            raise NoticeRefused("no-consent", [str(builder.REFUSALS["no-consent"])])
        locations = list(case.locations.order_by("created_at", "id"))
        routes = list(visible_routes(case.organisation))
        suggestions = suggest(locations, routes, ctx["places"])
        covered = set(
            NoticeItem.objects.filter(notice__case=case)
            .exclude(notice__state=N.WITHDRAWN)
            .values_list("location_id", "notice__route_id")
        )
        # (the location a refusal is reported under, route, locations), in the order
        # the notices are made.
        wanted: list[tuple[Location | None, Route, list[Location]]] = []
        for location in locations:
            for suggestion in suggestions[location.uuid]:
                route = suggestion.route
                if not suggestion.eligible or (location.pk, route.pk) in covered:
                    continue
                wanted.append((location, route, [location]))
        # The AEPD packet is about the whole case: one, naming every address.
        for suggestion in suggestions[None]:
            route = suggestion.route
            if route.basis != Basis.AEPD or not suggestion.eligible or not locations:
                continue
            if any(route_id == route.pk for _location_id, route_id in covered):
                continue
            wanted.append((None, route, locations))
            break
        repeats = _repeats_for_all(
            organisation=case.organisation, wanted=[(r, locs) for _l, r, locs in wanted]
        )
        made, problems = [], []
        for location, route, chosen in wanted:
            try:
                notice = _checked_notice(
                    acting=acting,
                    case=case,
                    route=route,
                    locations=chosen,
                    repeats_of=repeats,
                    ctx=ctx,
                )
            except NoticeRefused as refused:
                problems.append((location, route, refused.messages))
                continue
            made.append((notice, chosen))
        _write_prepared(acting, made, origin)
    return {"made": len(made), "problems": problems}


def _write_prepared(
    acting: Membership, made: list[tuple[Notice, list[Location]]], origin: str
) -> None:
    """Insert checked notices with their items, logs and `notice.prepared` events, in
    the caller's transaction: the same rows `prepare_notice` writes one by one."""
    if not made:
        return
    notices = Notice.objects.bulk_create([n for n, _l in made], batch_size=WRITE_BATCH)
    NoticeItem.objects.bulk_create(
        [item for notice, chosen in made for item in _items_of(notice, chosen)],
        batch_size=WRITE_BATCH,
    )
    NoticeEvent.objects.bulk_create(
        [
            NoticeEvent(notice=notice, kind=NoticeEvent.Kind.STATE, to_state=N.DRAFT, actor=acting)
            for notice in notices
        ],
        batch_size=WRITE_BATCH,
    )
    audit.record_many(
        [
            {
                "event": "notice.prepared",
                "object_type": "notice",
                "object_id": notice.uuid,
                "organisation_id": notice.organisation.uuid,
                "data": _prepared_data(notice, chosen),
            }
            for notice, chosen in made
        ],
        actor=staff_actor(acting, origin),
    )


# --- Sending ---------------------------------------------------------------------------


@transaction.atomic
def send_notice(*, acting: Membership, notice: Notice, origin: str = "") -> Notice:
    """Queue an email or API notice for delivery (the outbox row in this transaction)."""
    notice = _lock(notice)
    if notice.channel in MANUAL_CHANNELS:
        raise ServiceError("manual-channel")
    if not builder.has_takedown_consent(notice.case):
        raise NoticeRefused("no-consent", [str(builder.REFUSALS["no-consent"])])
    notice.sent_by = acting
    _move(notice, N.QUEUED, acting=acting, origin=origin)
    outbox.enqueue("takedowns.deliver_notice", notice=notice.uuid)
    return notice


@transaction.atomic
def record_submission(
    *,
    acting: Membership,
    notice: Notice,
    ticket: str = "",
    screenshot=None,
    origin: str = "",
) -> Notice:
    """The caseworker submitted a web form or in-app report: the notice is sent.

    `screenshot` is an EncryptedUpload (vault.uploads): stored as a staff context file.
    """
    notice = _lock(notice)
    if notice.channel not in MANUAL_CHANNELS:
        raise ServiceError("not-manual")
    if not builder.has_takedown_consent(notice.case):
        raise NoticeRefused("no-consent", [str(builder.REFUSALS["no-consent"])])
    notice.ticket = ticket.strip()[:200]
    notice.sent_by = acting
    if screenshot is not None:
        blob = vault_services.finish_upload(
            screenshot, actor=staff_actor(acting, origin), organisation_id=notice.organisation.uuid
        )
        notice.confirmation = ContextFile.objects.create(
            case=notice.case, blob=blob, from_family=False
        )
        outbox.enqueue("support.process_evidence", file=notice.confirmation.uuid)
    _move(notice, N.SENT, acting=acting, origin=origin, ticket=bool(notice.ticket))
    return notice


@transaction.atomic
def log_reply(
    *,
    acting: Membership,
    notice: Notice,
    text: str,
    at: datetime | None = None,
    outcome: str = "",
    reason: str = "",
    origin: str = "",
) -> NoticeEvent:
    """A platform's reply, typed in by the caseworker; `outcome` moves the notice on
    (acknowledged, removed, rejected — a rejection needs its reason)."""
    notice = _lock(notice)
    if outcome == N.REJECTED and reason not in RejectionReason.values:
        raise ServiceError("rejection-needs-reason")
    event = _log(
        notice, kind=NoticeEvent.Kind.REPLY, acting=acting, text=text, at=at or timezone.now()
    )
    _event(notice, "notice.reply_logged", acting, origin, {"outcome": outcome})
    if outcome:
        if outcome == N.REJECTED:
            notice.rejection_reason = reason
        _move(
            notice, outcome, acting=acting, origin=origin, **({"reason": reason} if reason else {})
        )
    return event


@transaction.atomic
def change_state(
    *, acting: Membership, notice: Notice, state: str, reason: str = "", origin: str = ""
) -> Notice:
    """A caseworker's move that is not a reply (withdraw, confirm removed, reappeared)."""
    notice = _lock(notice)
    if state == N.REJECTED and reason not in RejectionReason.values:
        raise ServiceError("rejection-needs-reason")
    if state in (N.QUEUED, N.SENDING, N.SENT):
        raise ServiceError("bad-transition")  # those go through send/record_submission
    if state == N.REJECTED:
        notice.rejection_reason = reason
    _move(notice, state, acting=acting, origin=origin, **({"reason": reason} if reason else {}))
    return notice


@transaction.atomic
def set_show_to_family(*, acting: Membership, notice: Notice, shown: bool, origin="") -> None:
    notice = _lock(notice)
    notice.show_to_family = shown
    notice.save(update_fields=["show_to_family", "updated_at"])
    _event(notice, "notice.family_guidance", acting, origin, {"shown": shown})


# --- Delivery (the worker) -------------------------------------------------------------


def _claim(notice_uuid: str, now) -> tuple[str, Notice | None]:
    """What the worker may do with this notice now, and the notice locked for it.

    "claimed": queued (or `sending` whose worker died with the outcome unknown) and
    now `sending` for this attempt, committed before anything leaves. "accepted":
    `sending`, its worker died after the channel accepted it: record it sent, do not
    send again. "busy": another worker holds it (row lock or lease): try later.
    "skipped": nothing to send (already sent, withdrawn, gone).
    """
    with transaction.atomic():
        notice = (
            Notice.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("route__platform", "case", "organisation")
            .filter(uuid=notice_uuid)
            .first()
        )
        if notice is None:
            locked = Notice.objects.filter(uuid=notice_uuid).exists()
            return ("busy" if locked else "skipped"), None
        if notice.state == N.SENDING:
            if notice.sending_at is not None and notice.sending_at >= now - SENDING_LEASE:
                return "busy", None  # its worker may still be sending: never race it
            if notice.accepted_at is not None:
                return "accepted", notice
        elif notice.state != N.QUEUED:
            return "skipped", None
        if not builder.has_takedown_consent(notice.case):
            # Consent withdrawn while it waited: nothing leaves.
            before = notice.state
            notice.state = N.WITHDRAWN
            notice.withdrawn_at = now
            notice.save()
            _log(
                notice, kind=NoticeEvent.Kind.STATE, frm=before, to=N.WITHDRAWN, error="no-consent"
            )
            _event(notice, "notice.withdrawn", None, data={"error": "no-consent"})
            return "skipped", None
        before = notice.state
        notice.state, notice.sending_at, notice.accepted_at = N.SENDING, now, None
        notice.attempts += 1
        notice.save(update_fields=["state", "sending_at", "accepted_at", "attempts", "updated_at"])
        # A resend from `sending` is one whose outcome is unknown (the worker died
        # mid-send): it goes with the same delivery key, so the copy is recognisable.
        extra = {"outcome_unknown": True} if before == N.SENDING else {}
        _log(
            notice,
            kind=NoticeEvent.Kind.ATTEMPT,
            frm=before,
            to=N.SENDING,
            attempt=notice.attempts,
            **extra,
        )
    return "claimed", notice


def claim(notice_uuid: str, *, now=None) -> Notice | None:
    """queued → sending, committed before anything leaves; None if not ours to send."""
    outcome, notice = _claim(notice_uuid, now or timezone.now())
    return notice if outcome == "claimed" else None


def deliver(notice_uuid: str, *, outbox_id: str | None = None) -> str:
    """Claim, deliver and record one notice; returns what happened (a code).

    The guarantee, in plain words: every notice reaches the platform at least once,
    and every copy carries the same delivery key (Message-ID / Idempotency-Key). A
    copy is only ever sent again when a worker died with the outcome unknown — after
    it started the send and before the channel's "accepted" was written down, a
    window of one round trip. An API platform that honours the key turns such a copy
    into a no-op; an email copy has the same Message-ID, which mail systems and our
    recipients treat as the same message. SMTP gives no way to do better.
    """
    outcome, notice = _claim(notice_uuid, timezone.now())
    if outcome == "busy":
        # Left open: the outbox sweeper sends the task again after the lease.
        return "busy"
    if outcome == "skipped":
        _finish_outbox(outbox_id)
        return "skipped"
    if outcome == "claimed":
        try:
            ticket = transport_for(notice.channel).deliver(notice)
        except DeliveryError as error:
            return _failed(notice, error, outbox_id)
        # First thing after "accepted": one short UPDATE (no lock waits, no audit
        # chain), so a worker dying from here on leaves a notice known delivered.
        if ticket:
            notice.ticket = ticket
        Notice.objects.filter(pk=notice.pk, state=N.SENDING, attempts=notice.attempts).update(
            accepted_at=timezone.now(), ticket_sealed=notice.ticket_sealed
        )
    return _record_sent(notice, outbox_id)


def _record_sent(notice: Notice, outbox_id: str | None) -> str:
    with transaction.atomic():
        notice = _lock(notice)
        if notice.state != N.SENDING:
            if notice.state != N.QUEUED:
                _finish_outbox(outbox_id)
            return "lost-claim"
        notice.last_error = ""
        _move(notice, N.SENT)
        _finish_outbox(outbox_id)
    return "sent"


BATCH_SIZE = 200
BATCH_FIELDS = (
    *("uuid", "state", "attempts", "channel", "recipient", "delivery_key"),
    *("subject_sealed", "body_sealed", "case", "organisation", "route"),
    *("route__deadline_hours", "case__uuid", "organisation__uuid"),
    *("organisation__takedown_settings__inbox_email",),
)


def deliver_queued_email(*, limit: int = BATCH_SIZE, first: str | None = None) -> dict:
    """Deliver queued email notices in one batch: what a worker does when many wait.

    `first`: the notice of the task running the batch, sent first if it is a queued
    email; `done["first"]` (there only with `first`) then says what became of it
    ("sent", "retry", "failed"), and is None when the batch did not take it (another
    channel or state, another worker's, consent withdrawn): the task then delivers
    it the single way.

    The same protocol as `deliver`, with the database work shared: one transaction
    claims them all (`sending`, committed before anything leaves), one SMTP session
    sends them, each "accepted" is written as its 250 comes (by `AcceptanceNotes`,
    while the next message goes out: the guarantee is the same), and one transaction
    records them sent with their log and audit events and closes their outbox rows. A
    notice that fails goes the single-notice way (`_failed`): back to the queue, or
    rejected if permanent.
    """
    from .channels import EmailTransport, close_connection, open_connection

    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            Notice.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("route", "case", "organisation__takedown_settings")
            # Only what sending and recording need: loading whole rows of four models
            # per notice cost more than the SMTP exchange.
            .only(*BATCH_FIELDS)
            .filter(state=N.QUEUED, channel=Channel.EMAIL)
            .order_by(
                SqlCase(When(uuid=first, then=Value(0)), default=Value(1)), "queued_at", "id"
            )[:limit]
        )
        consent = {}
        for notice in claimed:
            if notice.case_id not in consent:
                consent[notice.case_id] = builder.has_takedown_consent(notice.case)
        withheld = [n for n in claimed if not consent[n.case_id]]
        claimed = [n for n in claimed if consent[n.case_id]]
        for notice in claimed:
            notice.state, notice.sending_at, notice.accepted_at = N.SENDING, now, None
            notice.attempts += 1
        # One statement for all (bulk_update's CASE per row costs more than the send).
        Notice.objects.filter(pk__in=[n.pk for n in claimed]).update(
            state=N.SENDING, sending_at=now, accepted_at=None, attempts=F("attempts") + 1
        )
        NoticeEvent.objects.bulk_create(
            NoticeEvent(
                notice=n,
                kind=NoticeEvent.Kind.ATTEMPT,
                from_state=N.QUEUED,
                to_state=N.SENDING,
                data={"attempt": n.attempts, "batch": True},
            )
            for n in claimed
        )
    for notice in withheld:
        deliver(str(notice.uuid))  # the single path withdraws it, with its events
    done = {"sent": 0, "retry": 0, "failed": 0, "withdrawn": len(withheld)}
    if first is not None:
        done["first"] = None
    if not claimed:
        return done
    transport, accepted, failures = EmailTransport(), [], []
    try:
        connection = open_connection()
    except DeliveryError as error:
        connection, failures = None, [(n, error) for n in claimed]
    if connection is not None:
        notes = AcceptanceNotes()
        try:
            for notice in claimed:
                try:
                    transport.send_on(connection, notice)
                except DeliveryError as error:
                    failures.append((notice, error))
                    if not error.permanent:  # the session may be gone: start another
                        close_connection(connection)
                        connection = open_connection()
                    continue
                notes.note(notice)
                accepted.append(notice)
        except DeliveryError as error:  # could not reconnect: the rest wait for a retry
            sent_or_failed = {n.pk for n in accepted} | {n.pk for n, _e in failures}
            failures += [(n, error) for n in claimed if n.pk not in sent_or_failed]
        finally:
            close_connection(connection)
            notes.close()  # every note written before the notices are recorded sent
    recorded = _record_sent_many(accepted)
    done["sent"] = len(recorded)
    first_pk = next((n.pk for n in claimed if str(n.uuid) == str(first)), None)
    if first_pk is not None and first_pk in recorded:
        done["first"] = "sent"
    for notice, error in failures:
        outcome = _failed(notice, error, None)
        if outcome == "failed":
            _finish_outbox_of([notice])
        done[outcome] += 1
        if notice.pk == first_pk:
            done["first"] = outcome
    if first_pk is not None and done["first"] is None:
        done["first"] = "lost-claim"  # taken over by another worker meanwhile
    return done


def _record_sent_many(notices: list[Notice]) -> set[int]:
    """Record these notices sent; returns the pks recorded (those still ours)."""
    if not notices:
        return set()
    now = timezone.now()
    with transaction.atomic():
        # Lock the rows and learn which are still ours; the notices themselves (with
        # their route, case and organisation) were loaded by the claim.
        still = set(
            Notice.objects.select_for_update(of=("self",))
            .filter(pk__in=[n.pk for n in notices], state=N.SENDING)
            .values_list("pk", flat=True)
        )
        ours = [n for n in notices if n.pk in still]
        by_hours: dict[int | None, list[int]] = {}
        for notice in ours:
            by_hours.setdefault(notice.route.deadline_hours, []).append(notice.pk)
        for hours, pks in by_hours.items():  # one statement per deadline, usually one
            Notice.objects.filter(pk__in=pks).update(
                state=N.SENT,
                sent_at=now,
                last_error="",
                deadline_at=now + timedelta(hours=hours) if hours else None,
            )
        NoticeEvent.objects.bulk_create(
            NoticeEvent(
                notice=n, kind=NoticeEvent.Kind.STATE, from_state=N.SENDING, to_state=N.SENT
            )
            for n in ours
        )
        audit.record_many(
            [
                {
                    "event": "notice.sent",
                    "object_type": "notice",
                    "object_id": n.uuid,
                    "organisation_id": n.organisation.uuid,
                    "data": {"case": str(n.case.uuid), "from": N.SENDING},
                }
                for n in ours
            ],
            actor=audit.Actor.system("takedowns"),
        )
        _finish_outbox_of(ours)
    return still


# Outbox rows this process closed in a committed batch. A closed row never reopens
# (a resend gets a new row), so the tasks of those rows, which Celery still delivers,
# finish without a query when they reach this process; elsewhere one SELECT does it.
_CLOSED_HERE: OrderedDict[str, None] = OrderedDict()
_CLOSED_HERE_MAX = 20_000


def _remember_closed(outbox_ids: list[str]) -> None:
    for outbox_id in outbox_ids:
        _CLOSED_HERE[outbox_id] = None
    while len(_CLOSED_HERE) > _CLOSED_HERE_MAX:
        _CLOSED_HERE.popitem(last=False)


def outbox_row_done(outbox_id: str) -> bool:
    if str(outbox_id) in _CLOSED_HERE:
        return True
    table = OutboxMessage._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE uuid = %s AND done_at IS NOT NULL",  # noqa: S608
            [str(outbox_id)],
        )
        return cursor.fetchone() is not None


def _finish_outbox_of(notices: list[Notice]) -> None:
    """Close the open outbox rows of these notices, in one statement."""
    if not notices:
        return
    table = OutboxMessage._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET done_at = %s WHERE task = %s AND done_at IS NULL"  # noqa: S608
            " AND kwargs->>'notice' = ANY(%s) RETURNING uuid",
            [timezone.now(), "takedowns.deliver_notice", [str(n.uuid) for n in notices]],
        )
        closed = [str(row[0]) for row in cursor.fetchall()]
    transaction.on_commit(lambda: _remember_closed(closed))


class AcceptanceNotes:
    """Writes each notice's "accepted" (`accepted_at`) the moment its 250 comes,
    on a connection of its own, while the next message goes out.

    The note is what keeps a notice whose worker dies from being sent again. Written
    inline it cost a database round trip per message, as much as the SMTP exchange.
    Here a thread writes it: the sender hands over the notice and goes on; the thread
    writes every note handed over since its last write in one UPDATE. The window in
    which a dying worker leaves a notice's outcome unknown is so still about one
    round trip after the 250 (the notes waiting for the thread's current write), and
    a notice in it is resent with the same Message-ID: the guarantee of `deliver`.

    Asynchronous commit: a note is visible to every other session at once, so a
    worker that dies keeps it; only a crash of the database server itself could lose
    the last few, and those notices are resent with the same Message-ID too.

    Inside a transaction (a caller's atomic block: the tests' own) another connection
    could not see the claimed rows, so the notes are written inline there.
    """

    def __init__(self):
        self.inline = db_connection.in_atomic_block
        self.error: BaseException | None = None
        if self.inline:
            with db_connection.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO OFF")
            return
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="acceptance-notes", daemon=True)
        self.thread.start()

    def note(self, notice: Notice) -> None:
        if self.error is not None:
            raise self.error
        if self.inline:
            self._write(db_connection, [(notice.pk, notice.attempts)])
        else:
            self.queue.put((notice.pk, notice.attempts))

    def close(self) -> None:
        if self.inline:
            with db_connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
            return
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        own = connections["default"]  # this thread's own connection (autocommit)
        try:
            with own.cursor() as cursor:
                cursor.execute("SET synchronous_commit TO OFF")
            done = False
            while not done:
                batch = [self.queue.get()]
                while True:  # everything handed over meanwhile goes in the same UPDATE
                    try:
                        batch.append(self.queue.get_nowait())
                    except queue.Empty:
                        break
                done = None in batch
                batch = [item for item in batch if item is not None]
                if batch:
                    self._write(own, batch)
        except BaseException as error:  # handed to the sender, raised there
            self.error = error
        finally:
            own.close()

    @staticmethod
    def _write(conn, items: list[tuple[int, int]]) -> None:
        table = Notice._meta.db_table
        with conn.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS n SET accepted_at = %s"  # noqa: S608
                " FROM unnest(%s::bigint[], %s::integer[]) AS t(id, attempts)"
                " WHERE n.id = t.id AND n.attempts = t.attempts AND n.state = %s",
                [timezone.now(), [i for i, _a in items], [a for _i, a in items], N.SENDING],
            )


def resolve_stuck_sends(*, now=None) -> int:
    """The sweeper's part (beat, with the clocks): `sending` notices whose worker died.

    Known delivered (accepted) → recorded sent. Outcome unknown → back to `queued`
    with an outbox row, so a worker sends it again with the same delivery key.
    Returns how many were resolved.
    """
    now = now or timezone.now()
    resolved = 0
    stuck = Notice.objects.filter(state=N.SENDING, sending_at__lt=now - SENDING_LEASE)
    for pk in stuck.values_list("pk", flat=True)[:500]:
        with transaction.atomic():
            notice = (
                Notice.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("route__platform", "case", "organisation")
                .filter(pk=pk, state=N.SENDING, sending_at__lt=now - SENDING_LEASE)
                .first()
            )
            if notice is None:
                continue
            if notice.accepted_at is not None:
                _move(notice, N.SENT, resolved="accepted")
                _finish_outbox_of([notice])
            else:
                _move(notice, N.QUEUED, resolved="outcome-unknown")
                open_row = OutboxMessage.objects.filter(
                    task="takedowns.deliver_notice", kwargs__notice=str(notice.uuid), done_at=None
                ).exists()
                if not open_row:
                    outbox.enqueue("takedowns.deliver_notice", notice=notice.uuid)
            resolved += 1
    return resolved


def _failed(notice: Notice, error: DeliveryError, outbox_id: str | None) -> str:
    with transaction.atomic():
        notice = _lock(notice)
        notice.last_error = error.code[:60]
        permanent = error.permanent or notice.attempts >= MAX_ATTEMPTS
        if permanent:
            notice.rejection_reason = RejectionReason.OTHER
            _move(notice, N.REJECTED, error=error.code[:60])
            _finish_outbox(outbox_id)
            return "failed"
        # Back to the queue; the outbox sweeper sends the task again later.
        notice.save(update_fields=["last_error", "updated_at"])
        _move(notice, N.QUEUED, error=error.code[:60])
    return "retry"


def _finish_outbox(outbox_id: str | None) -> None:
    if outbox_id:
        OutboxMessage.objects.filter(uuid=outbox_id, done_at=None).update(done_at=timezone.now())
