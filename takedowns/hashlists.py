"""Hash lists: the fingerprints families agreed to share, for platforms, hotlines and police.

Only fingerprints (SHA-256, MD5, PDQ with its quality) ever leave: there is no image
to leak. A case's fingerprints are included only while its family's decision in
force on `hash_sharing` is "yes" — and not when the young person, asked for their
own assent, said no, nor when the family has asked for erasure. Each row is named
by the fingerprint's random UUID: no case reference, name or URL is in a list.

Three formats: CSV and JSON (Amparo's own columns), and Project VIC VICS 2.0 JSON
written by `takedowns.vics` (a `#Media` set, or a `#Cases` document for one case).
Every export — command line or staff download — writes a `hashes.exported` audit
event with its scope, format and count, in the same transaction as the read.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from support.models import Case, Consent, Fingerprint, Incident, Organisation
from vault import audit

from . import vics

FORMATS = ("csv", "json", "vics")
CSV_COLUMNS = ("media_id", "media", "sha256", "md5", "pdq", "pdq_quality")
JSON_FORMAT = "amparo-hash-list/1"


@dataclass(frozen=True)
class HashList:
    filename: str
    content_type: str
    data: bytes
    count: int


def _decision(kind: str):
    """The newest consent row's `given` for (case, kind): the decision in force."""
    newest = Consent.objects.filter(case=OuterRef("case"), kind=kind).order_by("-created_at", "-id")
    return Subquery(newest.values("given")[:1])


def shareable_fingerprints(
    *, organisation: Organisation, incident: Incident | None = None, case: Case | None = None
):
    """The fingerprints of `organisation`'s cases whose family consents to sharing them."""
    rows = (
        Fingerprint.objects.filter(
            case__organisation=organisation,
            case__destroyed_at=None,
            case__erasure_requested_at=None,
        )
        .annotate(
            sharing=_decision(Consent.Kind.HASH_SHARING),
            assent=_decision(Consent.Kind.YOUNG_PERSON_ASSENT),
        )
        .filter(sharing=True)
        .filter(Q(assent=None) | Q(assent=True))
    )
    if incident is not None:
        rows = rows.filter(case__incident=incident)
    if case is not None:
        rows = rows.filter(case=case)
    return rows.order_by("created_at", "id")


def _entry(fingerprint: Fingerprint) -> vics.HashEntry:
    return vics.HashEntry(
        media_id=str(fingerprint.uuid),
        md5=fingerprint.md5,
        sha256=fingerprint.sha256,
        pdq=fingerprint.pdq,
        pdq_quality=fingerprint.pdq_quality if fingerprint.pdq else None,
    )


def _csv(fingerprints: list[Fingerprint]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for f in fingerprints:
        quality = "" if f.pdq_quality is None or not f.pdq else f.pdq_quality
        writer.writerow([f.uuid, f.media, f.sha256, f.md5, f.pdq, quality])
    return out.getvalue().encode()


def _json(fingerprints: list[Fingerprint], now) -> bytes:
    document = {
        "format": JSON_FORMAT,
        "generated_at": now.isoformat(),
        "count": len(fingerprints),
        "hashes": [
            {
                "media_id": str(f.uuid),
                "media": f.media,
                "sha256": f.sha256,
                "md5": f.md5,
                "pdq": f.pdq or None,
                "pdq_quality": f.pdq_quality if f.pdq else None,
            }
            for f in fingerprints
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True).encode()


def _vics(fingerprints: list[Fingerprint], case: Case | None) -> bytes:
    entries = [_entry(f) for f in fingerprints]
    if case is None:
        return vics.dumps(vics.media_set(entries))
    document = vics.case_set(
        case_id=str(case.uuid),
        case_number=case.reference,
        entries=entries,
        organisation=case.organisation.name,
    )
    return vics.dumps(document)


@transaction.atomic
def export_hash_list(
    *,
    actor: audit.Actor,
    organisation: Organisation,
    fmt: str,
    incident: Incident | None = None,
    case: Case | None = None,
    now=None,
) -> HashList:
    """Build one hash list and record who exported what, in one transaction."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown hash-list format {fmt!r}")
    for scoped in (incident, case):
        if scoped is not None and scoped.organisation_id != organisation.pk:
            raise ValueError("the incident or case belongs to another organisation")
    now = now or timezone.now()
    fingerprints = list(
        shareable_fingerprints(organisation=organisation, incident=incident, case=case)
    )
    if fmt == "csv":
        data, content_type, extension = _csv(fingerprints), "text/csv; charset=utf-8", "csv"
    elif fmt == "json":
        data, content_type, extension = _json(fingerprints, now), "application/json", "json"
    else:
        data, content_type, extension = _vics(fingerprints, case), "application/json", "vics.json"
    scope, object_id = "organisation", organisation.uuid
    if incident is not None:
        scope, object_id = "incident", incident.uuid
    if case is not None:
        scope, object_id = "case", case.uuid
    audit.record(
        "hashes.exported",
        actor=actor,
        object_type=scope,
        object_id=object_id,
        organisation_id=organisation.uuid,
        data={"format": fmt, "count": len(fingerprints), "scope": scope},
    )
    filename = f"amparo-hashes-{now:%Y%m%d-%H%M%S}.{extension}"
    return HashList(filename, content_type, data, len(fingerprints))
