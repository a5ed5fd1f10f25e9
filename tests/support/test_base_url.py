"""Every absolute link Amparo sends out (mail, QR codes, the incident page) starts with
the one public base URL, settings.AMPARO_BASE_URL, whatever host the request came to."""

import io
import re

import pytest
import qrcode
import qrcode.image.svg
from django.core import mail
from django.test import Client
from django.urls import reverse

from support import casework, members
from support.emails import notify_family, send_invitation_email
from support.models import ContactPreference, OutboxMessage, Role
from tests.factories import client_for, make_case, make_member

pytestmark = pytest.mark.django_db

BASE = "https://amparo.example.org"


@pytest.fixture(autouse=True)
def _base_url(settings):
    settings.AMPARO_BASE_URL = BASE
    settings.ALLOWED_HOSTS = ["testserver", "other-host.example"]


def _links(text):
    return re.findall(r"https?://\S+", text)


def test_the_invitation_mail_links_to_the_base_url(org_admin):
    members.invite_member(actor=org_admin, email="nueva@example.org", role=Role.CASEWORKER)
    row = OutboxMessage.objects.get()
    send_invitation_email(outbox_id=str(row.uuid), **row.kwargs)
    links = _links(mail.outbox[-1].body)
    assert links and all(link.startswith(BASE + "/invitation/") for link in links)


def test_the_family_news_mail_links_to_the_base_url(org_x):
    case = make_case(org_x)
    case.contact_preference, case.contact = ContactPreference.EMAIL, "familia@example.org"
    case.save()
    notify_family(case=str(case.uuid))
    links = _links(mail.outbox[-1].body)
    assert links and all(link.startswith(BASE + "/") for link in links)


def test_the_incident_page_and_its_qr_code_carry_the_base_url(coordinator, org_x):
    incident = casework.create_incident(actor=coordinator, title="Colegio")
    link = BASE + reverse("reporting:incident", args=[incident.intake_code])
    client = client_for(coordinator)
    page = client.get(
        reverse("support:incident-detail", args=[org_x.uuid, incident.uuid]),
        HTTP_HOST="other-host.example",
    )
    assert link in page.content.decode()
    assert "127.0.0.1" not in page.content.decode()
    svg = client.get(reverse("support:incident-qr", args=[org_x.uuid, incident.uuid, "svg"]))
    expected = io.BytesIO()
    qrcode.make(link, image_factory=qrcode.image.svg.SvgPathImage).save(expected)
    assert svg.content == expected.getvalue()


def test_the_password_reset_mail_links_to_the_base_url(org_x):
    member = make_member(org_x, Role.CASEWORKER)
    Client().post(
        reverse("account_reset_password"),
        {"email": member.user.email},
        HTTP_HOST="other-host.example",
    )
    links = _links(mail.outbox[-1].body)
    assert links and all(link.startswith(BASE + "/accounts/") for link in links)
