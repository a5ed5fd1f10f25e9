"""Read-side queries for the staff pages: queues, search, timelines, statistics.

Every function takes the viewer's membership and starts from
`permissions.visible_cases`, so no page can list a case its viewer may not open.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import timedelta

from django.core.cache import cache
from django.db.models import Aggregate, Count, DurationField, Exists, F, OuterRef, Q
from django.db.models.functions import TruncWeek
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from vault import normalize
from vault.fields import blind_indexes
from vault.models import AuditEvent

from . import extensions
from .models import (
    Case,
    CaseLink,
    CaseStatus,
    Identifier,
    Location,
    Message,
    Priority,
    Referral,
    Role,
    Task,
)
from .permissions import visible_cases

logger = logging.getLogger(__name__)

STAFF_WORDS = {
    "case.submitted": _("Report received from the family"),
    "case.family_signed_in": _("The family opened their status page"),
    "case.triaged": _("Triaged"),
    "case.status_changed": _("Status changed"),
    "case.closed": _("Closed"),
    "case.reopened": _("Reopened"),
    "case.assigned": _("Assignment changed"),
    "case.priority_changed": _("Priority changed"),
    "case.incident_set": _("Incident changed"),
    "case.links_added": _("The family added links"),
    "case.files_added": _("The family sent files"),
    "case.labels_changed": _("Labels changed"),
    "case.erasure_requested": _("The family asked for erasure"),
    "case.erasure_approved": _("Erasure approved"),
    "case.erasure_refused": _("Erasure refused"),
    "case.legal_hold_set": _("Legal hold set"),
    "case.legal_hold_lifted": _("Legal hold lifted"),
    "case.destroyed": _("Content destroyed"),
    "consent.withdrawn": _("The family withdrew a permission"),
    "consent.given": _("The family gave a permission again"),
    "case.fingerprints_added": _("The family added fingerprints of new copies"),
    "message.from_family": _("Message from the family"),
    "message.to_family": _("Message sent to the family"),
    "note.added": _("Note added"),
    "task.added": _("Task added"),
    "task.done": _("Task done"),
    "referral.logged": _("Referral logged"),
    "evidence.revealed": _("Evidence revealed"),
    "evidence.downloaded": _("Original file downloaded"),
}


def _search_indexes(q: str) -> tuple[set[str], set[str]]:
    """Blind indexes a search text could match: (location indexes, identifier indexes)."""
    # Each candidate under every KEK version in the ring (vault.fields.blind_indexes):
    # while a rotation runs, rows not yet recomputed carry the previous version's index.
    locations, identifiers = set(), set()
    with contextlib.suppress(ValueError):
        locations.update(blind_indexes(normalize.normalise_url(q), domain="url"))
    with contextlib.suppress(ValueError):
        identifiers.update(blind_indexes(normalize.normalise_phone(q).casefold(), domain="phone"))
    for platform in ("", *normalize.PLATFORMS):
        try:
            handle = normalize.normalise_handle(q, platform or None)
        except ValueError:
            continue
        identifiers.update(blind_indexes(handle.casefold(), domain=f"handle:{platform}"))
    identifiers.update(blind_indexes(q.strip().casefold(), domain="payment"))
    identifiers.update(blind_indexes(q.strip().casefold(), domain="name"))
    return locations, identifiers


def queue(membership, data: dict):
    cases = visible_cases(membership).select_related("assignee__user", "incident")
    q = (data.get("q") or "").strip()
    if q:
        # Index lookups first (few rows), then the cases by primary key: an OR of
        # subqueries would make PostgreSQL test every case of the organisation.
        locations, identifiers = _search_indexes(q)
        ids = set(Location.objects.filter(index__in=locations).values_list("case_id", flat=True))
        ids |= set(
            Identifier.objects.filter(index__in=identifiers).values_list("case_id", flat=True)
        )
        cases = cases.filter(Q(reference=q.upper()) | Q(id__in=ids))
    if data.get("status"):
        cases = cases.filter(status=data["status"])
    else:
        cases = cases.exclude(status=CaseStatus.CLOSED)
    if data.get("priority") is not None:
        cases = cases.filter(priority=data["priority"])
    assignee = data.get("assignee")
    if assignee == "me":
        cases = cases.filter(assignee=membership)
    elif assignee == "none":
        cases = cases.filter(assignee=None)
    elif assignee:
        cases = cases.filter(assignee__uuid=assignee)
    if data.get("incident"):
        cases = cases.filter(incident__uuid=data["incident"])
    if data.get("platform"):
        cases = cases.filter(
            Exists(Location.objects.filter(case=OuterRef("pk"), platform=data["platform"]))
        )
    if data.get("age_band"):
        cases = cases.filter(age_band=data["age_band"])
    if data.get("label"):
        from .casework import label_indexes

        cases = cases.filter(labels__index__in=label_indexes(data["label"]))
    if data.get("since"):
        cases = cases.filter(created_at__date__gte=data["since"])
    if data.get("until"):
        cases = cases.filter(created_at__date__lte=data["until"])
    unread = Message.objects.filter(case=OuterRef("pk"), from_family=True, read_at=None)
    cases = cases.annotate(has_unread=Exists(unread))
    orderings = {
        "priority": ["priority", "created_at"],
        "newest": ["-created_at"],
        "oldest": ["created_at"],
    }
    order = orderings[data.get("order") or "priority"]
    return cases.prefetch_related("labels").order_by(*order, "id")


# A uuid no case has, to cut a reversed case URL into the parts around the case's uuid.
_URL_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def case_url_maker(organisation, name: str = "support:case-detail"):
    """A function giving a case's URL: reverse() once per page instead of once per row
    (reversing costs ~50 us; a page lists up to 70 cases)."""
    from django.urls import reverse

    url = reverse(name, kwargs={"org": organisation.uuid, "case": _URL_PLACEHOLDER})
    prefix, _, suffix = url.partition(_URL_PLACEHOLDER)
    return lambda case_uuid: f"{prefix}{case_uuid}{suffix}"


def case_rows(cases, organisation) -> list[dict]:
    """What templates/support/includes/case_rows.html shows of each case, computed once
    per row in Python: the template then only prints values (the per-row {% url %},
    date filters and choice lookups were most of a queue page's time)."""
    from .templatetags.staffdates import format_when

    url = case_url_maker(organisation)
    priorities = {value: str(label) for value, label in Priority.choices}
    statuses = {value: str(label) for value, label in CaseStatus.choices}
    rows = []
    for case in cases:
        created = timezone.localtime(case.created_at)
        rows.append(
            {
                "url": url(case.uuid),
                "reference": case.reference,
                "is_sextortion": case.is_sextortion,
                "has_unread": getattr(case, "has_unread", False),
                "labels": [label.value for label in case.labels.all()],
                "priority": priorities.get(case.priority, case.priority),
                "status": statuses.get(case.status, case.status),
                "created_iso": created.isoformat(),
                "created": format_when(created),
                "assignee": case.assignee.user.email if case.assignee_id else "",
            }
        )
    return rows


def home_sections(membership) -> dict:
    """The four short lists at the top of the staff home."""
    cases = visible_cases(membership).select_related("assignee__user").prefetch_related("labels")
    today = timezone.localdate()
    return {
        "triage": cases.filter(status=CaseStatus.NEW).order_by("priority", "created_at")[:10],
        "mine": cases.filter(assignee=membership)
        .exclude(status=CaseStatus.CLOSED)
        .order_by("priority", "-updated_at")[:10],
        "overdue": Task.objects.filter(case__in=cases, done_at=None, due__lt=today)
        .select_related("case")
        .order_by("due")[:10],
        # From the (few) unread messages to their cases, not the other way round.
        "unread": cases.filter(
            id__in=Message.objects.filter(from_family=True, read_at=None).values("case_id")
        ).order_by("-updated_at")[:10],
    }


def display_name(user) -> str:
    """How staff pages name a colleague: their full name if they gave one, else their email."""
    return user.get_full_name() or user.email


# Who acted, for events not done by a staff member (AuditEvent.actor_kind).
ACTOR_WORDS = {
    "family": _("The family"),
    "system": _("Amparo (automatic)"),
}
DESTRUCTION_WORDS = {
    "erasure": _("at the family's request"),
    "retention": _("the retention period ended"),
}


def _label(choices, value) -> str:
    """A choice's label in the reader's language; the value itself if it is not one."""
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


STATUS_EVENTS = {"case.triaged", "case.closed", "case.reopened", "case.status_changed"}


def _before_after(data: dict, word) -> str:
    """ "before → after", or just "after" for events recorded before "from" was kept."""
    after = word(data["to"])
    return f"{word(data['from'])} → {after}" if "from" in data else after


def _change(event, names: dict[str, str]) -> str:
    data = event.data or {}
    if event.event in STATUS_EVENTS and "to" in data:
        return _before_after(data, lambda v: _label(CaseStatus, v))
    if event.event == "case.priority_changed" and "to" in data:
        return _before_after(data, lambda v: _label(Priority, v))
    if event.event == "case.assigned" and "to" in data:
        return _before_after(data, lambda v: names.get(v or "", str(_("Nobody"))))
    if event.event == "referral.logged" and data.get("to"):
        return _label(Referral.To, data["to"])
    if event.event == "case.destroyed" and data.get("reason") in DESTRUCTION_WORDS:
        return str(DESTRUCTION_WORDS[data["reason"]])
    return ""


def case_timeline(case) -> list[dict]:
    """The case's history for staff: what happened, who did it (name and role in
    words), the change (before → after) and, for evidence, the reason given.

    One function (rendered by templates/support/includes/timeline.html) so every
    page that shows the timeline says the same thing.
    """
    from django.contrib.auth import get_user_model

    from .models import EvidenceReason, Membership

    events = list(AuditEvent.objects.filter(object_id=case.uuid).order_by("id"))
    words = STAFF_WORDS | extensions.event_words()
    user_pks = {
        int(e.actor_ref.split(":", 1)[1])
        for e in events
        if e.actor_kind == AuditEvent.ActorKind.USER and e.actor_ref.split(":", 1)[1].isdigit()
    }
    users = {
        f"user:{u.pk}": display_name(u) for u in get_user_model().objects.filter(pk__in=user_pks)
    }
    assignees = {
        value
        for e in events
        if e.event == "case.assigned"
        for value in ((e.data or {}).get("from"), (e.data or {}).get("to"))
        if value
    }
    names = {
        str(m.uuid): display_name(m.user)
        for m in Membership.objects.filter(
            organisation_id=case.organisation_id, uuid__in=assignees
        ).select_related("user")
    }
    timeline = []
    for e in events:
        if e.actor_kind == AuditEvent.ActorKind.USER:
            who = users.get(e.actor_ref) or str(_("A staff member"))
            role = _label(Role, e.actor_role) if e.actor_role in Role.values else ""
        else:
            who, role = str(ACTOR_WORDS.get(e.actor_kind, _("Amparo (automatic)"))), ""
        reason = (e.data or {}).get("reason") if e.event.startswith("evidence.") else None
        timeline.append(
            {
                "at": e.created_at,
                "text": words.get(e.event, e.event),
                "who": who,
                "role": role,
                "change": _change(e, names),
                "reason": _label(EvidenceReason, reason) if reason else "",
            }
        )
    return timeline


def case_links(case, membership) -> list[dict]:
    """Other cases linked to this one. Account links are for coordinators only;
    a linked case the viewer may not open shows its reference, not its content."""
    links = CaseLink.objects.filter(Q(case_a=case) | Q(case_b=case)).select_related(
        "case_a", "case_b"
    )
    if membership.role != Role.COORDINATOR:
        links = links.exclude(kind=CaseLink.Kind.ACCOUNT)
    visible = set(
        visible_cases(membership)
        .filter(pk__in=[lk.case_b_id if lk.case_a_id == case.id else lk.case_a_id for lk in links])
        .values_list("pk", flat=True)
    )
    out = []
    for link in links:
        other = link.case_b if link.case_a_id == case.id else link.case_a
        out.append(
            {
                "kind": link.get_kind_display(),
                "distance": link.distance,
                "other": other,
                "can_open": other.pk in visible,
            }
        )
    return out


def _status_counts(cases) -> tuple[dict[str, int], int]:
    """Cases per status, and open urgent cases, in one grouped query.

    Counting the (never null) status and priority columns rather than ids lets
    PostgreSQL answer from the case_org_status / case_incident_status indexes alone
    (an index-only scan), without reading a table row per case.
    """
    rows = cases.values("status").annotate(
        n=Count("status"), urgent=Count("priority", filter=Q(priority=Priority.URGENT))
    )
    by_status = {r["status"]: r["n"] for r in rows}
    urgent = sum(r["urgent"] for r in rows if r["status"] != CaseStatus.CLOSED)
    return by_status, urgent


def incident_summary(incident, membership) -> dict:
    """Aggregate figures for an incident; case rows only for cases the viewer may open."""
    by_status, urgent = _status_counts(Case.objects.filter(incident=incident, destroyed_at=None))
    links = CaseLink.objects.filter(case_a__incident=incident)
    visible = visible_cases(membership).filter(incident=incident)
    referred = Referral.objects.filter(case__incident=incident).values("case_id").distinct()
    return {
        "families": sum(by_status.values()),
        "by_status": [(label, by_status.get(value, 0)) for value, label in CaseStatus.choices],
        "urgent": urgent,
        "referrals": referred.count(),
        "image_links": links.filter(kind=CaseLink.Kind.IMAGE).count(),
        "account_links": links.filter(kind=CaseLink.Kind.ACCOUNT).count()
        if membership.role == Role.COORDINATOR
        else None,
        "visible": visible.select_related("assignee__user")
        .prefetch_related("labels")
        .order_by("priority", "created_at")[:50],
    }


class _UpperMedian(Aggregate):
    """percentile_disc(0.5) over descending values: the upper of the two middle ones."""

    function = "percentile_disc"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s DESC)"
    output_field = DurationField()


# The dashboard's case figures read every live case of the organisation, so their
# cost grows with it (~40 ms at 100 000 cases). They are kept in the cache until a
# case of the organisation is saved or deleted (apps.py connects the signals that
# call case_figures_changed), and for DASHBOARD_CACHE_SECONDS at most: the 12-week
# window moves on, and bulk inserts (seed_bulk) and queryset updates send no signal.
DASHBOARD_CACHE_SECONDS = 300


def _figures_version_key(organisation_id: int) -> str:
    return f"support:case-figures-version:{organisation_id}"


def case_figures_changed(organisation_id: int) -> None:
    """A case of this organisation changed: its cached dashboard figures are stale."""
    try:
        cache.set(_figures_version_key(organisation_id), time.time_ns(), None)
    except Exception:
        # Never fail a case's save over a cache. Redis down: the cached figures
        # expire after DASHBOARD_CACHE_SECONDS anyway.
        logger.warning("dashboard figures not invalidated (cache unavailable)")


def _case_figures(organisation) -> dict:
    """The dashboard's figures from the cases, as plain values (no translated text)."""
    cases = Case.objects.filter(organisation=organisation, destroyed_at=None)
    since = timezone.now() - timedelta(weeks=12)
    weekly = (
        cases.filter(created_at__gte=since)
        .annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(n=Count("id"))
        .order_by("week")
    )
    # The median wait, computed by PostgreSQL over every responded case (index
    # case_org_responded) instead of fetching up to 5 000 rows to sort here. Descending
    # order makes percentile_disc the upper middle value, as sorted(...)[n // 2] was.
    median_wait = cases.filter(first_response_at__isnull=False, created_at__gte=since).aggregate(
        median=_UpperMedian(F("first_response_at") - F("created_at"))
    )["median"]
    by_status, urgent = _status_counts(cases)
    return {
        "by_status": by_status,
        "weekly": [(w["week"].date().isoformat(), w["n"]) for w in weekly],
        "urgent_open": urgent,
        "median_first_response_hours": round(median_wait.total_seconds() / 3600, 1)
        if median_wait is not None
        else None,
    }


def _cached_case_figures(organisation) -> dict:
    # The weeks are cut in the current time zone, so it is part of the key.
    zone = timezone.get_current_timezone_name()
    try:
        version = cache.get(_figures_version_key(organisation.id))
        key = f"support:case-figures:{organisation.id}:{version}:{zone}"
        figures = cache.get(key)
    except Exception:
        # Redis down: the figures do not need the cache.
        logger.warning("dashboard figures computed without the cache (cache unavailable)")
        return _case_figures(organisation)
    if figures is None:
        figures = _case_figures(organisation)
        with contextlib.suppress(Exception):
            cache.set(key, figures, DASHBOARD_CACHE_SECONDS)
    return figures


def dashboard(membership) -> dict:
    """Organisation-wide figures. Counts only; nothing that identifies a family."""
    figures = _cached_case_figures(membership.organisation)
    by_status = figures["by_status"]
    return {
        "by_status": [(str(label), by_status.get(value, 0)) for value, label in CaseStatus.choices],
        "weekly": figures["weekly"],
        "urgent_open": figures["urgent_open"],
        "median_first_response_hours": figures["median_first_response_hours"],
    }


def case_header(case, membership) -> dict:
    """What the case page's header shows on every section: the unread messages and
    the open tasks, the next one first (soonest due date, then oldest)."""
    unread = case.messages.filter(from_family=True, read_at=None).count()
    open_tasks = sorted(
        case.tasks.filter(done_at=None),
        key=lambda task: (task.due is None, task.due or timezone.localdate(), task.id),
    )
    next_task = open_tasks[0] if open_tasks else None
    return {
        "unread": unread,
        "open_tasks": len(open_tasks),
        "next_task": next_task,
        "next_task_overdue": bool(
            next_task and next_task.due and next_task.due < timezone.localdate()
        ),
    }


# --- What the families' pages (reporting) read ------------------------------------------
# reporting reads support's data only through these functions, so what a family's page
# can see of the database is listed in one place (and no family view builds a query).


def report_draft(draft_uuid: str | None):
    """The family's unsent report (the draft id kept in their session), or None."""
    from .models import ReportDraft

    return ReportDraft.objects.filter(uuid=draft_uuid).first() if draft_uuid else None


def draft_files(draft) -> list:
    return list(draft.files.select_related("blob"))


def active_organisations() -> list:
    from .models import Organisation

    return list(Organisation.objects.filter(is_active=True).order_by("name"))


def active_organisation(organisation_uuid: str | None):
    from .models import Organisation

    if not organisation_uuid:
        return None
    return Organisation.objects.filter(uuid=organisation_uuid, is_active=True).first()


def default_organisation(configured_uuid: str = ""):
    """The group a report goes to without asking: the configured one, or the only one."""
    from .models import Organisation

    if configured_uuid:
        return active_organisation(configured_uuid)
    active = list(Organisation.objects.filter(is_active=True)[:2])
    return active[0] if len(active) == 1 else None


def open_incident(intake_code: str):
    """The incident an intake link or QR code names, if it still takes reports."""
    from .models import Incident

    return (
        Incident.objects.filter(
            intake_code=intake_code.upper(), is_open=True, organisation__is_active=True
        )
        .select_related("organisation")
        .first()
    )


def incident_by_uuid(incident_uuid: str | None):
    from .models import Incident

    return Incident.objects.filter(uuid=incident_uuid).first() if incident_uuid else None


def family_status(case) -> dict:
    """What the family's status page shows of their case: the message thread, their
    files and the notes staff chose to share. Never internal notes or staff names."""
    return {
        "thread": case.messages.select_related("author").order_by("created_at"),
        "files": case.files.select_related("blob").order_by("id"),
        "shared_notes": case.notes.filter(shared_with_family=True),
    }


def case_events(case, events) -> list:
    """The case's audit events of the given kinds, oldest first (the family timeline)."""
    return list(AuditEvent.objects.filter(object_id=case.uuid, event__in=events).order_by("id"))
