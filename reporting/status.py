"""What a family sees of its case: the timeline, in plain words.

Built from the audit chain (the single record of what happened), filtered to
the events a family may know about, with no staff names and no internal notes.
"""

from django.utils.translation import gettext_lazy as _

from vault.models import AuditEvent

FAMILY_WORDS = {
    "case.submitted": _("We received your report."),
    "case.triaged": _("A coordinator is looking at your case."),
    "case.assigned": _("Someone from the group is now in charge of your case."),
    "case.status_changed": _("Your case moved forward."),
    "notice.sent": _("We asked a platform to remove the images."),
    "notice.removed": _("A platform removed the images."),
    "referral.logged": _("Your case was passed to another service that can help."),
    "case.links_added": _("You added more links."),
    "case.files_added": _("You sent more files."),
    "consent.withdrawn": _("You withdrew a permission."),
    "case.erasure_requested": _("You asked for the case to be deleted."),
    "message.from_family": _("You sent a message."),
    "message.to_family": _("The group sent you a message."),
    "case.closed": _("Your case was closed."),
}


def family_timeline(case) -> list[dict]:
    events = AuditEvent.objects.filter(object_id=case.uuid, event__in=FAMILY_WORDS).order_by("id")
    return [{"at": e.created_at, "text": FAMILY_WORDS[e.event]} for e in events]
