"""What a family sees of its case: the timeline, in plain words.

Built from the audit chain (the single record of what happened), filtered to
the events a family may know about, with no staff names and no internal notes.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from support import selectors
from support.models import ContactPreference, Priority

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
    "consent.given": _("You gave a permission again."),
    "case.fingerprints_added": _("You added fingerprints of new copies of the image."),
    "case.erasure_requested": _("You asked for the case to be deleted."),
    "message.from_family": _("You sent a message."),
    "message.to_family": _("The group sent you a message."),
    "case.closed": _("Your case was closed."),
}


def family_timeline(case) -> list[dict]:
    events = selectors.case_events(case, FAMILY_WORDS)
    return [{"at": e.created_at, "text": FAMILY_WORDS[e.event]} for e in events]


@dataclass(frozen=True)
class NextSteps:
    """What the family can expect: urgency, when to hear back, and how."""

    urgent: bool
    sextortion: bool
    answered_at: datetime | None
    expect_by: datetime
    channel: str


def next_steps(case) -> NextSteps:
    urgent = case.priority == Priority.URGENT
    hours = settings.FAMILY_URGENT_REPLY_HOURS if urgent else settings.FAMILY_REPLY_HOURS
    channel = {
        ContactPreference.EMAIL: "email",
        ContactPreference.PHONE: "phone",
    }.get(case.contact_preference, "page")
    return NextSteps(
        urgent=urgent,
        sextortion=case.is_sextortion,
        answered_at=case.first_response_at,
        expect_by=case.created_at + timedelta(hours=hours),
        channel=channel,
    )


# What a family is told about each file it sent, once the worker has looked at it.
FILE_WORDS = {
    "pending": _("Received and encrypted. The group's system is still checking it."),
    "ready": _("Received. The group can see it."),
    "document": _("Received. It is not a picture, so the group will open it as a document."),
    "refused": _(
        "Received, but it could not be opened as a picture (it may be damaged or too big). "
        "If you can, send a new screenshot instead."
    ),
}


@dataclass(frozen=True)
class FamilyFile:
    blob: object
    state: str

    @property
    def state_text(self) -> str:
        return str(FILE_WORDS[self.state])

    @property
    def refused(self) -> bool:
        return self.state == "refused"


def file_state(blob) -> str:
    if blob.processed_at is None:
        return "pending"
    if not blob.image_rejection:
        return "ready"
    return "document" if blob.image_rejection == "not-an-image" else "refused"


def family_files(files) -> list[FamilyFile]:
    return [FamilyFile(blob=f.blob, state=file_state(f.blob)) for f in files]
