"""Emails to staff. Families' notices come with the intake issue."""

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from vault import keys

from .http import absolute_url
from .members import invitation_token_context
from .models import Invitation
from .outbox import current_outbox_id, outbox_task


def send_mail(subject: str, body: str, from_email: str, recipients: list[str]) -> None:
    """Send one plain-text mail; from an outbox task, its Message-ID is the row's.

    A worker killed after the mail server accepted the message but before the row
    was marked done sends it again on redelivery: with the same Message-ID the
    recipient's server and client show it once (support/outbox.py).
    """
    headers = {}
    if outbox_id := current_outbox_id.get():
        headers["Message-ID"] = f"<outbox-{outbox_id}@amparo.invalid>"
    EmailMessage(subject, body, from_email, recipients, headers=headers).send()


@outbox_task("support.send_invitation_email")
def send_invitation_email(*, invitation: str) -> None:
    inv = Invitation.objects.select_related("organisation").filter(uuid=invitation).first()
    if inv is None or not inv.token_sealed or inv.accepted_at or inv.revoked_at:
        return
    token = keys.decrypt_text(
        inv.token_sealed, purpose="field", context=invitation_token_context(inv)
    )
    link = absolute_url(reverse("support:invitation-accept", args=[token]))
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "organisation": inv.organisation.name,
            "link": link,
            "role": inv.get_role_display(),
        }
        subject = render_to_string("emails/invitation_subject.txt", context).strip()
        body = render_to_string("emails/invitation.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [inv.email])


@outbox_task("support.notify_family")
def notify_family(*, case: str) -> None:
    """Tell a family there is news. Never the content: a shared mailbox must learn nothing."""
    from .models import Case, ContactPreference

    found = Case.objects.filter(uuid=case, destroyed_at=None).first()
    if found is None or found.contact_preference != ContactPreference.EMAIL or not found.contact:
        return
    with translation.override(settings.LANGUAGE_CODE):
        context = {"link": absolute_url(reverse("reporting:family-signin"))}
        subject = render_to_string("emails/family_news_subject.txt", context).strip()
        body = render_to_string("emails/family_news.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [found.contact])


@outbox_task("support.warn_retention")
def warn_retention(*, case: str) -> None:
    """Tell the organisation's coordinators that a closed case will be destroyed in 30 days."""
    from .models import Case, Membership, Role

    found = Case.objects.filter(uuid=case, destroyed_at=None).select_related("organisation").first()
    if found is None:
        return
    recipients = list(
        Membership.objects.filter(
            organisation=found.organisation, role=Role.COORDINATOR, is_active=True
        ).values_list("user__email", flat=True)
    )
    if not recipients:
        return
    with translation.override(settings.LANGUAGE_CODE):
        context = {"reference": found.reference, "organisation": found.organisation.name}
        subject = render_to_string("emails/retention_subject.txt", context).strip()
        body = render_to_string("emails/retention.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
