import re
import uuid

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import hotp_value, yield_hotp_counters_from_time
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from support.members import invite_member
from support.models import ContextFile, Membership, Role
from tests.factories import PASSWORD, client_for, make_member
from vault import services as vault_services
from vault.audit import Actor

pytestmark = pytest.mark.django_db

STAFF_PREFIXES = ("staff/", "admin/")


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def staff_url_templates():
    """Every staff route in the URL configuration (generated, so new ones are covered)."""
    routes = [r for r in _walk(get_resolver().url_patterns) if r.startswith(STAFF_PREFIXES)]
    # The admin has hundreds of routes behind one login; its index stands for them.
    return sorted({r for r in routes if not r.startswith("admin/")} | {"admin/"})


def fill(route, values):
    def sub(match):
        return str(values[match.group(1)])

    path = re.sub(r"<(?:\w+:)?(\w+)>", sub, route)
    return "/" + path


@pytest.fixture
def route_values(org_x, org_admin, caseworker, coordinator):
    from support import casework
    from support.intake import Submission, submit_report

    invitation = invite_member(actor=org_admin, email="x@example.org", role=Role.CASEWORKER)
    case, _ = submit_report(
        organisation=org_x,
        incident=None,
        submission=Submission(
            filer_role="parent",
            age_band="12_13",
            contact_preference="none",
            categories=("fake_images",),
        ),
    )
    incident = casework.create_incident(actor=coordinator, title="Incidente")
    blob = vault_services.store_stream([b"chat export"], actor=Actor.system("tests"))
    context_file = ContextFile.objects.create(case=case, blob=blob)
    return {
        "file": context_file.uuid,
        "org": org_x.uuid,
        "member": caseworker.uuid,
        "invitation": invitation.uuid,
        "case": case.uuid,
        "task": uuid.uuid4(),
        "panel": "takedowns",
        "incident": incident.uuid,
        "fmt": "png",
        # Police routes (tests/police covers them with real referrals and exports).
        "referral": uuid.uuid4(),
        "export": uuid.uuid4(),
        # Takedown notice routes (tests/takedowns covers them with real notices).
        "notice": uuid.uuid4(),
    }


def test_the_staff_routes_are_found():
    routes = staff_url_templates()
    assert "staff/" in routes
    assert "staff/o/<uuid:org>/members/" in routes


@pytest.mark.parametrize("route", staff_url_templates())
def test_every_staff_url_sends_a_member_without_mfa_to_enrolment(route, org_x, route_values):
    member = make_member(org_x, Role.ORG_ADMIN, mfa=False)
    response = client_for(member).get(fill(route, route_values))
    assert response.status_code == 302
    assert response.url == reverse("mfa_activate_totp")


@pytest.mark.parametrize("route", staff_url_templates())
def test_every_staff_url_sends_anonymous_visitors_to_sign_in(route, route_values):
    client = Client()
    response = client.get(fill(route, route_values))
    if response.status_code == 302 and response.url.startswith("/admin/login/"):
        response = client.get(response.url)  # the admin's own login hands over to allauth
    assert response.status_code in (302, 405)
    if response.status_code == 302:
        assert response.url.startswith(reverse("account_login"))


def test_admin_login_goes_through_allauth():
    response = Client().get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_a_member_with_mfa_sees_the_organisation_home(coordinator, org_x):
    response = client_for(coordinator).get(reverse("support:org-home", args=[org_x.uuid]))
    assert response.status_code == 200
    assert org_x.name in response.content.decode()


def test_staff_home_redirects_a_single_membership_to_its_organisation(coordinator, org_x):
    response = client_for(coordinator).get(reverse("support:home"))
    assert response.url == reverse("support:org-home", args=[org_x.uuid])


def test_org_home_of_another_organisation_is_404(outsider_admin, org_x):
    response = client_for(outsider_admin).get(reverse("support:org-home", args=[org_x.uuid]))
    assert response.status_code == 404


def test_members_page_is_403_for_a_coordinator(coordinator, org_x):
    response = client_for(coordinator).get(reverse("support:members", args=[org_x.uuid]))
    assert response.status_code == 403


def test_members_page_is_404_for_another_organisations_admin(outsider_admin, org_x):
    response = client_for(outsider_admin).get(reverse("support:members", args=[org_x.uuid]))
    assert response.status_code == 404


def test_totp_secrets_are_stored_encrypted(coordinator):
    from support.adapters import MFAAdapter

    data = Authenticator.objects.get(user=coordinator.user, type="totp").data
    assert data["secret"].startswith("v")
    assert not re.fullmatch(r"[A-Z2-7]{32}", data["secret"])
    assert re.fullmatch(r"[A-Z2-7]{32}", MFAAdapter().decrypt(data["secret"]))


def test_sign_in_asks_for_the_second_factor(coordinator):
    from support.adapters import MFAAdapter

    client = Client()
    response = client.post(
        reverse("account_login"), {"login": coordinator.user.email, "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.url == reverse("mfa_authenticate")
    # Not signed in yet: the staff pages still send us to sign in.
    assert client.get(reverse("support:home")).url.startswith(reverse("account_login"))
    secret = MFAAdapter().decrypt(
        Authenticator.objects.get(user=coordinator.user, type="totp").data["secret"]
    )
    code = f"{hotp_value(secret, next(yield_hotp_counters_from_time())):06d}"
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 302
    assert client.get(reverse("support:home")).status_code == 302  # → organisation home
    assert client.get(response.url, follow=True).status_code == 200


def test_a_totp_code_cannot_be_replayed(coordinator):
    from support.adapters import MFAAdapter

    secret = MFAAdapter().decrypt(
        Authenticator.objects.get(user=coordinator.user, type="totp").data["secret"]
    )
    code = f"{hotp_value(secret, next(yield_hotp_counters_from_time())):06d}"
    first, second = Client(), Client()
    for client in (first, second):
        client.post(
            reverse("account_login"), {"login": coordinator.user.email, "password": PASSWORD}
        )
    assert first.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
    response = second.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 200  # the form again, with an error
    assert second.get(reverse("support:home")).url.startswith(reverse("account_login"))


def test_staff_sessions_end_after_idle_timeout(coordinator, org_x, settings):
    client = client_for(coordinator)
    url = reverse("support:org-home", args=[org_x.uuid])
    assert client.get(url).status_code == 200
    session = client.session
    session["last_activity"] = session["last_activity"] - settings.STAFF_IDLE_TIMEOUT - 1
    session.save()
    response = client.get(url)
    assert response.status_code == 302
    assert client.get(url).url.startswith(reverse("account_login"))


def test_changing_a_role_requires_recent_reauthentication(org_admin, caseworker, org_x):
    client = client_for(org_admin)
    url = reverse("support:member-role", args=[org_x.uuid, caseworker.uuid])
    response = client.post(url, {"role": Role.COORDINATOR})
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_reauthenticate"))
    caseworker.refresh_from_db()
    assert caseworker.role == Role.CASEWORKER
    Membership.objects.get(pk=caseworker.pk)


@pytest.mark.parametrize("route", [r for r in staff_url_templates() if "<uuid:org>" in r])
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_organisation_route_is_404_for_another_organisations_staff(
    route, method, route_values, org_y
):
    """The IDOR matrix: each route, for an outsider of every role with case access."""
    for role in (Role.COORDINATOR, Role.CASEWORKER, Role.ORG_ADMIN, Role.POLICE_LIAISON):
        client = client_for(make_member(org_y, role))
        # Freshly re-authenticated, so sensitive routes get as far as the object lookup.
        client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
        response = getattr(client, method)(fill(route, route_values))
        assert response.status_code in (404, 405), (role, response.status_code)
