"""Reading and changing the platform registry.

Each organisation sees the installation's rows plus its own (a partner trusted
flagger, a local hotline); never another organisation's. Every change, from the
admin or a service, bumps the row's version and writes an audit event naming the
changed fields (not their values: a note may hold anything).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Q

from vault import audit

from .models import Platform, PlatformKind, RegistryVersion, Route

# Routes about the whole case rather than one platform: regulator, hotline, partners.
CASE_WIDE_KINDS = (PlatformKind.REGULATOR, PlatformKind.HOTLINE, PlatformKind.PARTNER)
FALLBACK_PLATFORM = "website"


def visible_routes(organisation):
    """Active routes this organisation may use, with their platforms, in rank order."""
    mine = Q(organisation=None) | Q(organisation=organisation)
    return (
        Route.objects.select_related("platform")
        .filter(mine, is_active=True, platform__is_active=True)
        .filter(Q(platform__organisation=None) | Q(platform__organisation=organisation))
        .order_by("platform__name", "rank", "name")
    )


@dataclass(frozen=True)
class Suggestion:
    route: Route
    eligible: bool


def _host(value: str) -> str:
    try:
        return (urlsplit(value).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def platform_for(location, platforms: list[Platform]) -> Platform | None:
    """The registry platform a location belongs to: by intake's platform code, then by
    the URL's host, else the generic website row."""
    by_code = {p.location_code: p for p in platforms if p.location_code}
    if location.platform and location.platform in by_code:
        return by_code[location.platform]
    host = _host(location.value)
    for platform in platforms:
        if any(host == d or host.endswith("." + d) for d in platform.domains):
            return platform
    return next((p for p in platforms if p.slug == FALLBACK_PLATFORM), None)


def suggest(locations, routes: list[Route], places: list[str]) -> dict:
    """{location uuid: [Suggestion…]} plus the case-wide routes under key None.

    Works on lists already loaded, so a case with 50 locations costs no more queries
    than a case with one.
    """
    platforms = list({r.platform_id: r.platform for r in routes}.values())
    by_platform: dict[int, list[Route]] = {}
    for route in routes:
        by_platform.setdefault(route.platform_id, []).append(route)
    result: dict = {}
    for location in locations:
        platform = platform_for(location, platforms)
        found = by_platform.get(platform.pk, []) if platform else []
        result[location.uuid] = sorted(
            (Suggestion(route, route.accepts(places)) for route in found),
            key=lambda s: (not s.eligible, s.route.rank),
        )
    result[None] = [
        Suggestion(route, route.accepts(places))
        for route in routes
        if route.platform.kind in CASE_WIDE_KINDS
    ]
    return result


def _changed(obj, before: dict) -> list[str]:
    return sorted(
        name for name, value in before.items() if getattr(obj, name) != value and name != "version"
    )


def _snapshot(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


@transaction.atomic
def save_row(*, row: Platform | Route, actor: audit.Actor, before: dict | None = None) -> list[str]:
    """Save a registry row: a new version, its snapshot (RegistryVersion) and an audit
    event listing the changed fields, in one transaction.

    `before` is the row as it was loaded (None for a new row). Returns the changed fields.
    """
    kind = "platform" if isinstance(row, Platform) else "route"
    if before is None:
        row.version = 1
        row.save()
        changed = ["created"]
    else:
        changed = _changed(row, before)
        if not changed:
            return []
        row.version = before["version"] + 1
        row.save()
    org = row.organisation.uuid if row.organisation_id else None
    RegistryVersion.objects.create(
        kind=kind,
        row_uuid=row.uuid,
        version=row.version,
        snapshot=_snapshot(row),
        changed=changed,
        actor_ref=actor.ref,
    )
    audit.record(
        f"registry.{kind}_changed",
        actor=actor,
        object_type=f"takedowns_{kind}",
        object_id=row.uuid,
        organisation_id=org,
        data={"version": row.version, "fields": changed},
    )
    return changed


def snapshot(row) -> dict:
    return _snapshot(row)
