"""Reading takedown work for pages: the case panel, the web-form pack, the family's
status lines and the dashboard figures. Query counts stay constant as a case grows."""

from __future__ import annotations

from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from support.models import Role

from . import builder, services
from .channels import MANUAL_CHANNELS
from .models import Channel, HashProgramme, Notice, NoticeState
from .registry import suggest, visible_routes

N = NoticeState


def _notices(case):
    return list(
        case.notices.select_related("platform", "route")
        .prefetch_related("items")
        .order_by("created_at", "id")
    )


def panel_visible(*, membership, case) -> bool:
    """Who sees the Takedowns panel: coordinators and the case's caseworker (the case
    page has already checked the caseworker may open the case)."""
    return membership.role in (Role.COORDINATOR, Role.CASEWORKER)


def panel(*, request, membership, case) -> dict | None:
    """The Takedowns panel on the case page: coordinators and the case's caseworker."""
    if not panel_visible(membership=membership, case=case):
        return None
    return case_overview(case=case, membership=membership)


def case_overview(*, case, membership) -> dict:
    """Each location with the routes the registry suggests and the notices made so far."""
    ctx = services.preparation_context(case)
    locations = list(case.locations.order_by("created_at", "id"))
    routes = list(visible_routes(case.organisation))
    suggestions = suggest(locations, routes, ctx["places"])
    notices = _notices(case)
    by_location: dict[int, list[Notice]] = {}
    for notice in notices:
        for item in notice.items.all():
            by_location.setdefault(item.location_id, []).append(notice)
    today = timezone.localdate()
    rows = []
    programmes = set()
    for location in locations:
        options = suggestions[location.uuid]
        platform = options[0].route.platform if options else None
        if platform:
            programmes |= set(platform.hash_programmes)
        rows.append(
            {
                "location": location,
                "platform": platform,
                "suggestions": [
                    {
                        "route": s.route,
                        "eligible": s.eligible,
                        "stale": s.route.is_stale(today),
                        "done": any(
                            n.route_id == s.route.pk for n in by_location.get(location.pk, [])
                        ),
                    }
                    for s in options
                ],
                "notices": by_location.get(location.pk, []),
            }
        )
    return {
        "case": case,
        "organisation": case.organisation,
        "rows": rows,
        "case_wide": [
            {"route": s.route, "eligible": s.eligible, "stale": s.route.is_stale(today)}
            for s in suggestions[None]
        ],
        "notices": notices,
        "consent": ctx["consent"],
        "places": ctx["places"],
        "facts": ctx["facts"],
        "settings": ctx["settings"],
        "programmes": [p for p in HashProgramme if p.value in programmes],
    }


def form_pack(notice: Notice) -> dict:
    """The web-form pack: the form's address and every field's text in the form's order."""
    elements = notice.elements or {}
    language = notice.language
    fields = []
    for field in notice.route.form_fields:
        element = field.get("element", "")
        label = field.get("label", {})
        value = elements.get(element, "")
        withheld = element in notice.route.extra_demands and builder.is_minor(notice.case)
        if element in ("notifier_name", "notifier_email") and notice.identity_withheld:
            withheld = True
        fields.append(
            {
                "key": field.get("key", element),
                "label": label.get(language) or label.get("en") or element,
                "value": value,
                "withheld": withheld and not value,
            }
        )
    return {"url": notice.route.form_url, "fields": fields}


def in_app_steps(notice: Notice, language: str | None = None) -> list[str]:
    steps = notice.route.in_app_steps or {}
    return steps.get(language or notice.language) or steps.get("en") or []


def _date(value) -> str:
    # The locale's own long date: "3 de marzo de 2026", "March 3, 2026".
    return formats.date_format(timezone.localtime(value), "DATE_FORMAT") if value else ""


FAMILY_WORDS = {
    N.SENT: gettext_lazy("we asked %(platform)s to remove it on %(sent)s"),
    N.ACKNOWLEDGED: gettext_lazy(
        "we asked %(platform)s to remove it on %(sent)s; they confirmed receipt on %(when)s"
    ),
    N.REMOVED: gettext_lazy("we asked %(platform)s to remove it on %(sent)s; removed on %(when)s"),
    N.REJECTED: gettext_lazy(
        "we asked %(platform)s to remove it on %(sent)s; they refused on %(when)s, and we "
        "are looking at the next step"
    ),
    N.REAPPEARED: gettext_lazy(
        "%(platform)s removed it, but it appeared again on %(when)s; we are on it"
    ),
    N.ESCALATED: gettext_lazy(
        "we asked %(platform)s to remove it on %(sent)s and took it further on %(when)s"
    ),
    N.QUEUED: gettext_lazy("we are sending a request to %(platform)s"),
    N.SENDING: gettext_lazy("we are sending a request to %(platform)s"),
}
WHEN = {
    N.ACKNOWLEDGED: "acknowledged_at",
    N.REMOVED: "removed_at",
    N.REJECTED: "rejected_at",
    N.REAPPEARED: "reappeared_at",
    N.ESCALATED: "escalated_at",
}


def _family_platform_name(platform) -> str:
    # The catch-all row for any website is named for staff ("Website or host"); a
    # family reads it in its own language, without the address.
    if platform.kind == "website" and platform.organisation_id is None:
        return str(_("the website where it appeared"))
    return platform.name


def family_notice_lines(case) -> list[dict]:
    """Plain-words lines for the family's status page, one per notice under way.

    Drafts and withdrawn notices are not shown; nothing names an address or a basis.
    In-app guidance the caseworker chose to share comes with its steps.
    """
    lines = []
    for notice in case.notices.select_related("platform", "route").exclude(
        state__in=[N.DRAFT, N.WITHDRAWN]
    ):
        words = FAMILY_WORDS.get(notice.state)
        if words is None:
            continue
        when = getattr(notice, WHEN.get(notice.state, "sent_at"), None)
        text = str(words) % {
            "platform": _family_platform_name(notice.platform),
            "sent": _date(notice.sent_at),
            "when": _date(when),
        }
        lines.append({"text": text[:1].upper() + text[1:] + ".", "state": notice.state})
    for notice in case.notices.select_related("route", "platform").filter(
        show_to_family=True, channel=Channel.IN_APP, state=N.DRAFT
    ):
        lines.append(
            {
                "text": _("You can report it yourself in %(platform)s:")
                % {"platform": notice.platform.name},
                "steps": in_app_steps(notice),
                "state": notice.state,
            }
        )
    return lines


def notice_url(notice: Notice, name: str = "notice") -> str:
    return reverse(
        f"support:takedowns_case:{name}",
        kwargs={
            "org": notice.organisation.uuid,
            "case": notice.case.uuid,
            "notice": notice.uuid,
        },
    )


def is_manual(notice: Notice) -> bool:
    return notice.channel in MANUAL_CHANNELS
