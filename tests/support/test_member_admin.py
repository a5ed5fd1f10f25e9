"""Staff administration: safe defaults, confirmed deactivation, no needless second
password prompt, and the development mail viewer kept to developers."""

import re

import pytest
from django.http import Http404
from django.test import Client, RequestFactory
from django.urls import reverse

from amparo import views as amparo_views
from support import events, members
from support.models import Role
from tests.factories import PASSWORD, client_for, make_member, make_user
from tests.support.test_members import _invitation_link, reauthenticated

pytestmark = pytest.mark.django_db


# --- 13: no second password prompt right after the password was given ---------------


def test_a_new_member_sets_up_two_factor_without_typing_the_password_again(org_admin):
    path = "/" + _invitation_link(org_admin).split("://", 1)[1].split("/", 1)[1]
    client = Client()
    password = "a long new password 2026!"
    client.post(path, {"password1": password, "password2": password})
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 200, response.get("Location")


def test_signing_in_without_a_second_factor_goes_straight_to_enrolment(org_x):
    member = make_member(org_x, Role.CASEWORKER, mfa=False)
    client = Client()
    response = client.post(
        reverse("account_login"), {"login": member.user.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 200, response.get("Location")


def test_a_session_opened_without_a_password_still_reauthenticates(org_admin, caseworker, org_x):
    url = reverse("support:member-role", args=[org_x.uuid, caseworker.uuid])
    response = client_for(org_admin).post(url, {"role": Role.COORDINATOR})
    assert response.status_code == 302 and "reauthenticate" in response.url


# --- 14: safe defaults and a confirmed deactivation ------------------------------------


def test_the_invitation_role_defaults_to_caseworker(org_admin, org_x):
    html = client_for(org_admin).get(reverse("support:members", args=[org_x.uuid])).content
    select = re.search(r'<select name="role"[^>]*id="id_role".*?</select>', html.decode(), re.S)
    chosen = re.findall(r'<option value="([^"]+)"[^>]*selected', select.group(0))
    assert chosen == [Role.CASEWORKER]


def test_deactivate_is_not_offered_on_ones_own_row(org_admin, caseworker, org_x):
    html = client_for(org_admin).get(reverse("support:members", args=[org_x.uuid])).content
    html = html.decode()
    assert reverse("support:member-deactivate", args=[org_x.uuid, caseworker.uuid]) in html
    assert reverse("support:member-deactivate", args=[org_x.uuid, org_admin.uuid]) not in html


def test_deactivation_asks_for_confirmation_first(org_admin, caseworker, org_x):
    client = reauthenticated(client_for(org_admin))
    url = reverse("support:member-deactivate", args=[org_x.uuid, caseworker.uuid])
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    page = response.content.decode()
    assert caseworker.user.email in page
    assert "can no longer sign in to this organisation" in page
    assert f'action="{url}"' in page
    caseworker.refresh_from_db()
    assert caseworker.is_active
    client.post(url)
    caseworker.refresh_from_db()
    assert not caseworker.is_active


def test_nobody_deactivates_themselves(org_admin, org_x):
    make_member(org_x, Role.ORG_ADMIN)  # not the last admin: the self rule alone refuses
    client = reauthenticated(client_for(org_admin))
    url = reverse("support:member-deactivate", args=[org_x.uuid, org_admin.uuid])
    assert client.get(url).status_code == 404
    client.post(url)
    org_admin.refresh_from_db()
    assert org_admin.is_active
    with pytest.raises(events.ServiceError) as refused:
        members.deactivate_member(actor=org_admin, target=org_admin)
    assert refused.value.code == "self-deactivate"


def test_the_confirmation_page_is_404_for_another_organisation(outsider_admin, caseworker, org_x):
    client = reauthenticated(client_for(outsider_admin))
    url = reverse("support:member-deactivate", args=[org_x.uuid, caseworker.uuid])
    assert client.get(url).status_code == 404


def test_the_confirmation_page_is_403_for_a_coordinator(coordinator, caseworker, org_x):
    client = reauthenticated(client_for(coordinator))
    url = reverse("support:member-deactivate", args=[org_x.uuid, caseworker.uuid])
    assert client.get(url).status_code == 403


# --- 15: the development mail viewer ---------------------------------------------------


def _dev_mail(user, settings, *, debug=True):
    settings.DEBUG = debug
    request = RequestFactory().get("/dev/mail/")
    request.user = user
    return amparo_views.dev_mail(request)


def test_dev_mail_opens_for_a_superuser_in_development(settings):
    user = make_user()
    user.is_superuser = True
    user.save()
    assert _dev_mail(user, settings).status_code == 200


def test_dev_mail_is_404_for_staff_who_are_not_superusers(org_admin, coordinator, settings):
    for member in (org_admin, coordinator):
        with pytest.raises(Http404):
            _dev_mail(member.user, settings)


def test_dev_mail_is_404_for_a_deactivated_superuser(settings):
    user = make_user()
    user.is_superuser, user.is_active = True, False
    user.save()
    with pytest.raises(Http404):
        _dev_mail(user, settings)


def test_dev_mail_is_404_outside_development(settings):
    user = make_user()
    user.is_superuser = True
    user.save()
    with pytest.raises(Http404):
        _dev_mail(user, settings, debug=False)
