import re

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from support import members
from support.emails import send_invitation_email
from support.models import Invitation, Membership, OutboxMessage, Role
from tests.factories import PASSWORD, client_for
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db


def reauthenticated(client):
    """Confirm the password again through allauth's own re-authentication page."""
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def invite(client, org, email="nueva@example.org", role=Role.CASEWORKER):
    return client.post(reverse("support:members", args=[org.uuid]), {"email": email, "role": role})


def test_an_admin_invites_someone_and_the_email_goes_through_the_outbox(org_admin, org_x):
    response = invite(client_for(org_admin), org_x)
    assert response.status_code == 302
    invitation = Invitation.objects.get(email="nueva@example.org")
    row = OutboxMessage.objects.get(task="support.send_invitation_email")
    assert row.kwargs == {"invitation": str(invitation.uuid)}  # an id, never the address
    assert "nueva" not in invitation.token_sealed and len(invitation.token_hash) == 64
    send_invitation_email(outbox_id=str(row.uuid), **row.kwargs)
    [message] = mail.outbox
    assert message.to == ["nueva@example.org"]
    assert org_x.name in message.subject
    assert AuditEvent.objects.filter(event="invitation.created", object_id=invitation.uuid).exists()


def test_invite_form_errors_are_shown_and_nothing_is_saved(org_admin, org_x):
    response = invite(client_for(org_admin), org_x, email="not-an-email")
    assert response.status_code == 200
    assert "error-summary" in response.content.decode()
    assert not Invitation.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_inviting_an_existing_member_is_refused(org_admin, caseworker, org_x):
    response = invite(client_for(org_admin), org_x, email=caseworker.user.email)
    assert response.status_code == 200
    assert not Invitation.objects.exists()


def _invitation_link(org_admin) -> str:
    members.invite_member(actor=org_admin, email="nueva@example.org", role=Role.CASEWORKER)
    row = OutboxMessage.objects.get()
    send_invitation_email(outbox_id=str(row.uuid), **row.kwargs)
    return re.search(r"http\S+/invitation/\S+/", mail.outbox[-1].body).group(0)


def test_a_new_person_accepts_an_invitation_and_is_sent_to_mfa_setup(org_admin, org_x):
    link = _invitation_link(org_admin)
    path = link.split("://", 1)[1].split("/", 1)[1]
    client = Client()
    assert client.get("/" + path).status_code == 200
    password = "a long new password 2026!"
    response = client.post("/" + path, {"password1": password, "password2": password})
    assert response.status_code == 302
    membership = Membership.objects.get(user__email="nueva@example.org")
    assert (membership.organisation, membership.role) == (org_x, Role.CASEWORKER)
    # Signed in, but every staff page demands MFA enrolment first.
    assert client.get(reverse("support:home")).url == reverse("mfa_activate_totp")
    # The link works once.
    assert client.get("/" + path).status_code == 404


def test_a_weak_password_is_refused_on_acceptance(org_admin):
    link = _invitation_link(org_admin)
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    response = Client().post(path, {"password1": "123", "password2": "123"})
    assert response.status_code == 200
    assert not Membership.objects.filter(user__email="nueva@example.org").exists()


def test_an_unknown_invitation_token_is_404():
    assert Client().get(reverse("support:invitation-accept", args=["nope"])).status_code == 404


def test_role_change_after_reauthentication_is_audited(org_admin, caseworker, org_x):
    client = reauthenticated(client_for(org_admin))
    url = reverse("support:member-role", args=[org_x.uuid, caseworker.uuid])
    assert client.post(url, {"role": Role.COORDINATOR}).status_code == 302
    caseworker.refresh_from_db()
    assert caseworker.role == Role.COORDINATOR
    event = AuditEvent.objects.get(event="membership.role_changed", object_id=caseworker.uuid)
    assert event.data == {"from": "caseworker", "to": "coordinator"}


def test_role_change_is_403_for_a_coordinator(coordinator, caseworker, org_x):
    client = reauthenticated(client_for(coordinator))
    url = reverse("support:member-role", args=[org_x.uuid, caseworker.uuid])
    assert client.post(url, {"role": Role.ORG_ADMIN}).status_code == 403
    caseworker.refresh_from_db()
    assert caseworker.role == Role.CASEWORKER


def test_role_change_is_404_for_another_organisations_admin(outsider_admin, caseworker, org_x):
    client = reauthenticated(client_for(outsider_admin))
    url = reverse("support:member-role", args=[org_x.uuid, caseworker.uuid])
    assert client.post(url, {"role": Role.ORG_ADMIN}).status_code == 404


def test_the_last_admin_cannot_demote_or_deactivate_themselves(org_admin, org_x):
    client = reauthenticated(client_for(org_admin))
    client.post(
        reverse("support:member-role", args=[org_x.uuid, org_admin.uuid]), {"role": "caseworker"}
    )
    client.post(reverse("support:member-deactivate", args=[org_x.uuid, org_admin.uuid]))
    org_admin.refresh_from_db()
    assert org_admin.role == Role.ORG_ADMIN and org_admin.is_active


def test_a_deactivated_member_loses_access(org_admin, caseworker, org_x):
    client = reauthenticated(client_for(org_admin))
    client.post(reverse("support:member-deactivate", args=[org_x.uuid, caseworker.uuid]))
    response = client_for(caseworker).get(reverse("support:org-home", args=[org_x.uuid]))
    assert response.status_code == 404


def test_revoking_an_invitation_kills_its_link(org_admin, org_x):
    link = _invitation_link(org_admin)
    invitation = Invitation.objects.get()
    client_for(org_admin).post(
        reverse("support:invitation-revoke", args=[org_x.uuid, invitation.uuid])
    )
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    assert Client().get(path).status_code == 404


def test_seed_demo_refuses_to_run_with_debug_off():
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")


def test_seed_demo_creates_the_demo_organisation_once(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    call_command("seed_demo")
    assert Membership.objects.filter(organisation__name__contains="Almendralejo").count() == 4
    out = capsys.readouterr().out
    assert "TOTP secret" in out and "coordinadora@demo.amparo.test" in out
    # The developer account opens the development mail folder; it belongs to no group.
    from django.contrib.auth import get_user_model

    developer = get_user_model().objects.get(email="desarrollo@demo.amparo.test")
    assert developer.is_superuser and not developer.memberships.exists()
    assert "desarrollo@demo.amparo.test" in out
    # The Almendralejo story: one incident, four families, two of them linked twice.
    from support.models import Case, CaseLink

    assert Case.objects.filter(incident__isnull=False).count() == 4
    assert set(CaseLink.objects.values_list("kind", flat=True)) == {"image", "account"}
    assert Case.objects.filter(is_sextortion=True).count() == 1


def test_seed_demo_adds_synthetic_cases_for_benchmarks(settings):
    from support.models import Case, Fingerprint

    settings.DEBUG = True
    call_command("seed_demo")
    cases, fingerprints = Case.objects.count(), Fingerprint.objects.count()
    call_command("seed_demo", "--cases", "300")
    # The demo story is seeded once; the synthetic cases come on top, one fingerprint each.
    assert Case.objects.count() == cases + 300
    assert Fingerprint.objects.count() == fingerprints + 300
