"""Cases for the takedown follow-up tests, made through support's own intake service
(faster than walking the wizard; the wizard has its own tests)."""

from __future__ import annotations

import hashlib

from reporting.forms import submission
from support import intake
from support.models import Case


def fingerprint(seed: str, *, pdq: bool = True, media: str = "image") -> dict:
    data = seed.encode()
    return {
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "pdq": hashlib.sha256(b"pdq" + data).hexdigest() if pdq else "",
        "pdq_quality": 87 if pdq else None,
        "pdq_version": "pdqhash-0.2.8" if pdq else "",
        "media": media,
        "size": 1234,
    }


def make_case(
    org,
    *,
    incident=None,
    urls=("https://www.instagram.com/p/abc123",),
    fingerprints=("one",),
    consent=None,
    age_band="14_15",
) -> Case:
    consent = {"takedown": True, "hash_sharing": True, "police": False, "contact": True} | (
        consent or {}
    )
    answers = {
        "who": {"filer_role": "parent", "age_band": age_band, "contact_preference": "in_app"},
        "what": {"categories": ["fake_images"], "narrative": "Narrativa privada de la familia."},
        "where": {"urls": list(urls), "groups": []},
        "evidence": {"fingerprints": [fingerprint(seed) for seed in fingerprints]},
        "consent": consent,
    }
    case, _code = intake.submit_report(
        organisation=org, incident=incident, submission=submission(answers)
    )
    return case


def make_notice(
    case,
    *,
    platform: str = "instagram",
    basis: str = "dsa",
    state: str = "sent",
    sent_at=None,
    deadline_at=None,
    locations=None,
    **fields,
):
    """A notice as the core flow leaves it after sending (the builder has its own tests)."""
    from takedowns.models import Notice, NoticeItem, Route

    route = Route.objects.filter(platform__slug=platform, basis=basis).order_by("rank").first()
    assert route is not None, (platform, basis)
    notice = Notice.objects.create(
        case=case,
        organisation=case.organisation,
        route=route,
        route_version=route.version,
        platform=route.platform,
        basis=basis,
        channel=route.channel,
        language="es",
        state=state,
        sent_at=sent_at,
        deadline_at=deadline_at,
        **fields,
    )
    for location in locations if locations is not None else case.locations.all():
        NoticeItem.objects.create(
            notice=notice,
            location=location,
            url_index=location.index,
            platform=route.platform,
            basis=basis,
        )
    return notice


def opt_in_rechecks(org, enabled: bool = True):
    from takedowns.models import TakedownSettings

    TakedownSettings.objects.update_or_create(
        organisation=org, defaults={"status_rechecks": enabled}
    )
