"""Deadlines, reminders and the escalation ladder of sent notices.

Every sent notice has a deadline: `sent_at` + the route's `deadline_hours` (48 under
the TAKE IT DOWN Act; edited per registry row), or, where the row gives none, the
default for its basis below. A beat task (`takedowns.tasks.run_clocks`, every five
minutes) then, for notices the platform has not yet answered:

1. **before** the deadline (a quarter of the window before, at most 12 hours) tells
   the case's assignee the deadline is near;
2. **at** the deadline tells them it has passed and that the notice can be escalated.

Each reminder is a `NoticeEvent(kind="reminder")` with its stage, written with the
audit event and the outbox row of its email in one transaction, so a reminder is
sent once however often the task runs. The emails say nothing of the case: a link
to the case page, nothing else.

The escalation ladder is the order in which a stalled notice is taken further:
the hotline (INCIBE 017 / INHOPE) → the AEPD Canal Prioritario → the authority that
enforces the platform's duty (the Digital Services Coordinator under the DSA, the
FTC under TAKE IT DOWN) — or, at any step, a partner trusted flagger the
organisation has registered. Each rung is a registry route; "draft the escalation"
builds a new draft notice for that route from the same case and locations, linked
to the first by `escalated_from`, and moves the first to `escalated`.

Every function takes `now`, so tests run on a frozen clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from support import outbox
from support.http import absolute_url
from support.models import Membership, Role
from vault import audit

from .models import (
    OPEN_STATES,
    Basis,
    Notice,
    NoticeEvent,
    NoticeState,
    PlatformKind,
    Route,
)

# Hours a platform has when its registry row gives no deadline. TAKE IT DOWN's 48
# is the law's; the others are Amparo's follow-up rhythm (INHOPE counts removal
# within 3 days as the norm; GDPR art. 12(3) gives a month).
DEFAULT_DEADLINE_HOURS = {
    Basis.TAKE_IT_DOWN: 48,
    Basis.DSA: 72,
    Basis.POLICY: 72,
    Basis.HOTLINE: 72,
    Basis.AEPD: 72,
    Basis.GDPR_ERASURE: 30 * 24,
    Basis.SEARCH_DELISTING: 30 * 24,
}
REMIND_BEFORE_AT_MOST = timedelta(hours=12)
BEFORE, EXPIRED, REAPPEARED = "before", "expired", "reappeared"

# Clocks stop when the platform has answered: removed, rejected, escalated, withdrawn.
CLOCK_STATES = OPEN_STATES - {NoticeState.QUEUED, NoticeState.SENDING}


def deadline_hours(route: Route | None, basis: str) -> int:
    if route is not None and route.deadline_hours:
        return route.deadline_hours
    return DEFAULT_DEADLINE_HOURS.get(basis, 72)


def deadline_for(*, route: Route | None, basis: str, sent_at: datetime) -> datetime:
    """When the platform's time is up, for a notice sent at `sent_at`."""
    return sent_at + timedelta(hours=deadline_hours(route, basis))


def reminder_at(notice: Notice) -> datetime:
    """When the 'deadline is near' reminder is due: a quarter of the window before, ≤ 12 h."""
    window = notice.deadline_at - notice.sent_at
    return notice.deadline_at - min(window / 4, REMIND_BEFORE_AT_MOST)


def _reminded(notice: Notice, stage: str) -> bool:
    """Whether this stage was already sent for the current deadline (a reappeared
    notice gets a new deadline, and so its reminders again)."""
    return notice.events.filter(
        kind=NoticeEvent.Kind.REMINDER,
        data__stage=stage,
        data__deadline=notice.deadline_at.isoformat(),
    ).exists()


def _remind(notice: Notice, stage: str, now: datetime) -> None:
    NoticeEvent.objects.create(
        notice=notice,
        kind=NoticeEvent.Kind.REMINDER,
        at=now,
        data={"stage": stage, "deadline": notice.deadline_at.isoformat()},
    )
    notice.reminded_at = now
    notice.save(update_fields=["reminded_at", "updated_at"])
    audit.record(
        f"notice.reminder_{stage}",
        actor=audit.Actor.system("takedown_clocks"),
        object_type="notice",
        object_id=notice.uuid,
        organisation_id=notice.organisation.uuid,
        data={"stage": stage},
    )
    outbox.enqueue("takedowns.send_deadline_reminder", notice=notice.uuid, stage=stage)


@transaction.atomic
def run_clocks(*, now: datetime) -> dict[str, int]:
    """Fill missing deadlines and send the reminders that are due at `now`."""
    done = {"deadlines": 0, BEFORE: 0, EXPIRED: 0}
    for notice in (
        Notice.objects.select_for_update(skip_locked=True)
        .select_related("route")
        .filter(state__in=CLOCK_STATES, deadline_at=None, sent_at__isnull=False)
    ):
        notice.deadline_at = deadline_for(
            route=notice.route, basis=notice.basis, sent_at=notice.sent_at
        )
        notice.save(update_fields=["deadline_at", "updated_at"])
        done["deadlines"] += 1
    due = (
        Notice.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("organisation")
        .filter(state__in=CLOCK_STATES, deadline_at__isnull=False, sent_at__isnull=False)
        # Cheap pre-filter: nothing is due more than 12 hours before a deadline.
        .filter(deadline_at__lte=now + REMIND_BEFORE_AT_MOST)
        .order_by("deadline_at", "id")
    )
    for notice in due:
        if notice.deadline_at <= now:
            if not _reminded(notice, EXPIRED):
                _remind(notice, EXPIRED, now)
                done[EXPIRED] += 1
        elif reminder_at(notice) <= now and not _reminded(notice, BEFORE):
            _remind(notice, BEFORE, now)
            done[BEFORE] += 1
    return done


def reminder_recipients(notice: Notice) -> list[str]:
    """The case's assignee; when nobody is assigned, the organisation's coordinators."""
    assignee = notice.case.assignee
    if assignee is not None and assignee.is_active:
        return [assignee.user.email]
    return list(
        Membership.objects.filter(
            organisation=notice.organisation, role=Role.COORDINATOR, is_active=True
        ).values_list("user__email", flat=True)
    )


def is_overdue(notice: Notice, now: datetime) -> bool:
    return (
        notice.state in CLOCK_STATES
        and notice.deadline_at is not None
        and notice.deadline_at <= now
    )


# --- The escalation ladder -------------------------------------------------------------


@dataclass(frozen=True)
class Rung:
    code: str
    label: str
    route: Route | None  # None: no route in the registry (guidance only)
    guidance: str = ""
    done: bool = False  # this notice's chain already went this way


RUNGS = {
    "hotline": _("Hotline: INCIBE 017 / INHOPE"),
    "aepd": _("AEPD Canal Prioritario"),
    "dsc": _("Digital Services Coordinator (in Spain, the CNMC)"),
    "ftc": _("US Federal Trade Commission (TAKE IT DOWN Act enforcement)"),
    "partner": _("A partner trusted flagger"),
}
GUIDANCE = {
    "dsc": _(
        "Lodge a complaint with the Digital Services Coordinator of the country where you "
        "live (DSA art. 53) that the platform did not act on a valid notice. In Spain it is "
        "the CNMC. Add the route to the registry to prepare it here."
    ),
    "ftc": _(
        "The FTC enforces the TAKE IT DOWN Act: report a platform that did not remove "
        "the content within 48 hours of a valid request at reportfraud.ftc.gov."
    ),
}


# What each rung asks, after the facts of the stalled notice (escalation_text).
ASKS = {
    "hotline": _(
        "We ask the hotline to take it up with the platform and, where it is child sexual "
        "abuse material, to pass it to the authorities."
    ),
    "aepd": _(
        "We ask the AEPD, through its Canal Prioritario, to order the urgent removal of "
        "this content, which shows a minor in a sexual way without consent."
    ),
    "dsc": _(
        "This is a complaint under article 53 of the Digital Services Act: the provider did "
        "not act diligently on a valid notice under article 16. We ask you to take it up "
        "with the provider."
    ),
    "ftc": _(
        "Under the TAKE IT DOWN Act the platform had to remove this content within 48 hours "
        "of a valid request. It did not. We report its failure to comply."
    ),
    "partner": _(
        "We ask you, as a trusted flagger, to notify the platform of this content with priority."
    ),
}


def escalation_text(
    notice: Notice, rung: str, *, language: str | None = None, enclosed: str | None = None
) -> dict:
    """The draft wording of an escalation of `notice` on `rung`: subject and body, in
    `language` (the notice's by default). Says what was asked of whom and when, that
    the deadline passed and what this rung is asked to do; then `enclosed` (the rung's
    own complete notice) or, where the rung has no registry route, the notice that
    was sent (the addresses are in it). Nothing the notices do not already carry."""
    from django.utils import formats, timezone, translation

    from .services import reference_of

    def day(value):
        return formats.date_format(timezone.localtime(value), "DATE_FORMAT") if value else "—"

    # The FTC reads English; the others the language of the country of the notice.
    language = language or ("en" if rung == "ftc" else notice.language)
    with translation.override(language):
        facts = _(
            "On %(sent)s we asked %(platform)s to remove the content listed in the notice "
            "below (our reference %(ref)s). Its deadline passed on %(deadline)s and the "
            "content has not been removed."
        ) % {
            "sent": day(notice.sent_at),
            "platform": notice.platform.name,
            "ref": reference_of(notice.uuid),
            "deadline": day(notice.deadline_at),
        }
        subject = _("Escalation: %(platform)s did not remove reported content (ref. %(ref)s)") % {
            "platform": notice.platform.name,
            "ref": reference_of(notice.uuid),
        }
        if enclosed is None:
            label = _("The notice we sent:")
            enclosed = f"{label}\n\n{notice.subject}\n\n{notice.body}"
        body = f"{facts}\n\n{ASKS[rung]}\n\n{enclosed}"
    return {"subject": str(subject), "body": body.strip(), "language": language}


def _routes(organisation, q: Q):
    return (
        Route.objects.select_related("platform")
        .filter(q, is_active=True, platform__is_active=True)
        .filter(Q(organisation=None) | Q(organisation=organisation))
        .filter(Q(platform__organisation=None) | Q(platform__organisation=organisation))
        .order_by("rank", "id")
    )


def _chain(notice: Notice) -> list[Notice]:
    """The notice, the notices it was escalated from, and those escalated from them."""
    root = notice
    while root.escalated_from_id is not None:
        root = root.escalated_from
    chain, frontier = [root], [root]
    while frontier:
        children = list(Notice.objects.filter(escalated_from__in=frontier))
        chain.extend(children)
        frontier = children
    return chain


def escalation_ladder(notice: Notice, *, jurisdictions: list[str] | None = None) -> list[Rung]:
    """The rungs open to this notice, in order; each with the route that would carry it."""
    organisation = notice.organisation
    jurisdictions = jurisdictions or []
    used_routes = {n.route_id for n in _chain(notice)}
    candidates = {
        "hotline": _routes(
            organisation, Q(basis=Basis.HOTLINE, platform__kind=PlatformKind.HOTLINE)
        ),
        "aepd": _routes(organisation, Q(basis=Basis.AEPD)),
        "dsc": _routes(
            organisation,
            Q(platform__kind=PlatformKind.REGULATOR, basis=Basis.DSA),
        ),
        "partner": _routes(organisation, Q(platform__kind=PlatformKind.PARTNER)),
    }
    order = ["hotline", "aepd", "ftc" if notice.basis == Basis.TAKE_IT_DOWN else "dsc", "partner"]
    rungs = []
    for code in order:
        routes = [
            r
            for r in candidates.get(code, [])
            if r.id != notice.route_id and (not jurisdictions or r.accepts(jurisdictions))
        ]
        done = any(r.id in used_routes for r in routes)
        route = routes[0] if routes else None
        rungs.append(Rung(code, str(RUNGS[code]), route, str(GUIDANCE.get(code, "")), done))
    return rungs


def next_rung(notice: Notice, *, jurisdictions: list[str] | None = None) -> Rung | None:
    """The first rung not yet tried that the registry can carry."""
    for rung in escalation_ladder(notice, jurisdictions=jurisdictions):
        if rung.route is not None and not rung.done:
            return rung
    return None


# --- The reminder email (a worker task fed by the outbox) -------------------------------


@outbox.outbox_task("takedowns.send_deadline_reminder")
def send_deadline_reminder(*, notice: str, stage: str) -> None:
    """Tell the assignee a deadline is near or gone. Never any case content: a shared
    or compromised mailbox learns only that there is something to look at."""
    from django.conf import settings
    from django.core.mail import send_mail
    from django.template.loader import render_to_string
    from django.urls import reverse
    from django.utils import translation

    found = (
        Notice.objects.select_related("case__assignee__user", "organisation")
        .filter(uuid=notice, case__destroyed_at=None)
        .first()
    )
    if found is None or stage not in (BEFORE, EXPIRED, REAPPEARED):
        return
    recipients = reminder_recipients(found)
    if not recipients:
        return
    link = absolute_url(
        reverse(
            "support:case-tab",
            kwargs={
                "org": found.organisation.uuid,
                "case": found.case.uuid,
                "panel": "takedowns",
            },
        )
    )
    with translation.override(settings.LANGUAGE_CODE):
        context = {"link": link, "stage": stage}
        subject = render_to_string("emails/takedown_deadline_subject.txt", context).strip()
        body = render_to_string("emails/takedown_deadline.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)


class EscalationError(Exception):
    """A refused escalation; `code` maps to a translated message in the view;
    `missing` names what the rung's notice lacks, in the caseworker's words."""

    def __init__(self, code: str, *, missing: list[str] | None = None):
        super().__init__(code)
        self.code = code
        self.missing = missing or []


ESCALATE_FROM = frozenset(
    {NoticeState.SENT, NoticeState.ACKNOWLEDGED, NoticeState.REJECTED, NoticeState.REAPPEARED}
)


@transaction.atomic
def draft_escalation(
    *, acting: Membership, notice: Notice, rung: str, now: datetime, origin: str = ""
) -> Notice:
    """One click: a draft notice on the rung's route, for the same case and locations.

    The draft goes through the normal review and send (and so through the validator
    and the over-disclosure guard); the first notice moves to `escalated`.
    """
    notice = Notice.objects.select_for_update().get(pk=notice.pk)
    if notice.state not in ESCALATE_FROM or not notice.can_move_to(NoticeState.ESCALATED):
        raise EscalationError("cannot-escalate")
    facts = getattr(notice.case, "takedown_facts", None)
    chosen = next(
        (
            r
            for r in escalation_ladder(notice, jurisdictions=facts.jurisdictions if facts else [])
            if r.code == rung
        ),
        None,
    )
    if chosen is None or chosen.route is None:
        raise EscalationError("no-route")
    route = chosen.route
    from .services import draft_for, preparation_context

    locations = [item.location for item in notice.items.select_related("location")]
    ctx = preparation_context(notice.case)
    rendered = draft_for(case=notice.case, route=route, locations=locations, ctx=ctx)
    if rendered.refused or rendered.missing:
        # The rung's own notice (the AEPD packet…) must be complete, as any notice.
        raise EscalationError("incomplete", missing=rendered.missing_labels)
    letter = escalation_text(notice, rung, language=rendered.language, enclosed=rendered.body)
    draft = Notice(
        case=notice.case,
        organisation=notice.organisation,
        route=route,
        route_version=route.version,
        platform=route.platform,
        basis=route.basis,
        channel=route.channel,
        language=rendered.language,
        recipient=(route.email or route.form_url)[:500],
        template=rendered.template,
        template_version=rendered.template.version if rendered.template else None,
        identity_withheld=rendered.identity_withheld,
        guard_flags=rendered.guard_flags,
        state=NoticeState.DRAFT,
        escalated_from=notice,
        prepared_by=acting,
    )
    # The rung's complete notice, introduced by what happened to the first one.
    draft.subject = letter["subject"]
    draft.body = letter["body"]
    draft.elements = rendered.elements
    draft.save()
    for item in notice.items.select_related("location"):
        draft.items.create(
            location=item.location,
            url_index=item.url_index,
            platform=route.platform,
            basis=route.basis,
            created_at=now,
        )
    old = notice.state
    notice.state = NoticeState.ESCALATED
    notice.escalated_at = now
    notice.save(update_fields=["state", "escalated_at", "updated_at"])
    NoticeEvent.objects.create(
        notice=notice,
        kind=NoticeEvent.Kind.STATE,
        from_state=old,
        to_state=NoticeState.ESCALATED,
        actor=acting,
        at=now,
        data={"rung": rung, "escalation": str(draft.uuid)},
    )
    audit.record(
        "notice.escalated",
        actor=audit.Actor.user(acting.user, role=acting.role, origin=origin),
        object_type="notice",
        object_id=notice.uuid,
        organisation_id=notice.organisation.uuid,
        data={"rung": rung, "escalation": str(draft.uuid)},
    )
    return draft
