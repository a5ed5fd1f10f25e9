"""Emails to staff. Families' notices come with the intake issue."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from vault import keys

from .models import Invitation
from .outbox import outbox_task
from .services import invitation_token_context


@outbox_task("support.send_invitation_email")
def send_invitation_email(*, invitation: str) -> None:
    inv = Invitation.objects.select_related("organisation").filter(uuid=invitation).first()
    if inv is None or not inv.token_sealed or inv.accepted_at or inv.revoked_at:
        return
    token = keys.open_text(inv.token_sealed, purpose="field", context=invitation_token_context(inv))
    link = settings.SITE_URL + reverse("support:invitation-accept", args=[token])
    with translation.override(settings.LANGUAGE_CODE):
        context = {
            "organisation": inv.organisation.name,
            "link": link,
            "role": inv.get_role_display(),
        }
        subject = render_to_string("emails/invitation_subject.txt", context).strip()
        body = render_to_string("emails/invitation.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [inv.email])
