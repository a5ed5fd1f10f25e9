"""Read-only views of a referred case for its police liaison. No image, ever."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from support.models import Case
from vault.models import AuditEvent, Blob

from .models import Export

EVENT_WORDS = {
    "police.case_referred": _("Referred to a police unit"),
    "police.referral_withdrawn": _("Police referral withdrawn"),
    "police.export_requested": _("Case file export requested"),
    "police.export_building": _("Case file being built"),
    "police.export_ready": _("Case file ready for download"),
    "police.export_failed": _("Case file export failed"),
    "police.export_downloaded": _("Case file downloaded"),
    "police.export_expired": _("Case file link expired unused"),
}
BLOB_WORDS = {
    "blob.stored": _("File stored (encrypted)"),
    "blob.opened": _("File opened"),
    "blob.downloaded": _("File downloaded"),
    "blob.revealed": _("File shown unblurred"),
    "blob.processed": _("File processed"),
    "blob.destroyed": _("File destroyed"),
}


def exhibits(case: Case) -> dict:
    """The case's context files and fingerprints: names, types, sizes and hashes only."""
    files = [
        {
            "uuid": f.blob.uuid,
            "filename": f.blob.filename(),
            "content_type": f.blob.content_type,
            "size": f.blob.size,
            "sha256": f.blob.sha256,
            "md5": f.blob.md5,
            "received": f.created_at,
            "from_family": f.from_family,
            "destroyed": f.blob.state == Blob.State.DESTROYED,
        }
        for f in case.files.select_related("blob")
    ]
    return {"files": files, "fingerprints": list(case.fingerprints.order_by("created_at", "id"))}


def custody_events(case: Case):
    """Every audit event about the case or one of its files (originals and derivatives)."""
    originals = list(case.files.values_list("blob__uuid", flat=True))
    derivatives = Blob.objects.filter(parent__uuid__in=originals).values_list("uuid", flat=True)
    return AuditEvent.objects.filter(object_id__in=[case.uuid, *originals, *derivatives]).order_by(
        "id"
    )


def custody_log(case: Case, *, words: dict) -> list[dict]:
    events = list(custody_events(case))
    user_ids = {e.actor_ref.split(":", 1)[1] for e in events if e.actor_ref.startswith("user:")}
    emails = dict(
        get_user_model()
        .objects.filter(pk__in=[int(u) for u in user_ids if u.isdigit()])
        .values_list("pk", "email")
    )
    rows = []
    for e in events:
        who = e.actor_kind
        if e.actor_ref.startswith("user:"):
            pk = e.actor_ref.split(":", 1)[1]
            who = emails.get(int(pk), e.actor_ref) if pk.isdigit() else e.actor_ref
        elif e.actor_kind == AuditEvent.ActorKind.FAMILY:
            who = _("The family")
        elif e.actor_kind == AuditEvent.ActorKind.SYSTEM:
            who = _("Amparo (automatic)")
        rows.append(
            {
                "at": e.created_at,
                "text": words.get(e.event, e.event),
                "code": e.event,
                "who": who,
                "role": e.actor_role,
                "purpose": _purpose_label(e.data.get("purpose", "")),
                "hash": e.hash,
                "prev_hash": e.prev_hash,
            }
        )
    return rows


def _purpose_label(code) -> str:
    return Export.Purpose(code).label if code in Export.Purpose.values else ""


def liaison_exports(case: Case, membership):
    return Export.objects.filter(case=case, requested_by=membership).order_by("-created_at")
