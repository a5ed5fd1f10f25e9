"""A police liaison sees only the cases referred to their own unit: the list, a
read-only summary, the exhibits (hashes, never an image) and the custody log.
Everything else is 404; other roles get 403; anonymous visitors are sent to sign in."""

import pytest
from django.test import Client
from django.urls import reverse

from police import services
from support.models import Role
from tests.factories import client_for, make_member
from tests.police.conftest import CONTEXT_NAME, FAKE_IMAGE_SHA256, new_case
from tests.test_translations import assert_all_spanish

pytestmark = pytest.mark.django_db

CASE_PAGES = ["police:case", "police:exhibits", "police:custody", "police:export"]


def case_url(name, case):
    return reverse(name, args=[case.organisation.uuid, case.uuid])


def test_the_list_shows_only_cases_referred_to_the_liaisons_unit(
    liaison_a, referral, case, org_x, coordinator, unit_b
):
    other = new_case(org_x)
    services.refer_case(acting=coordinator, case=other, unit=unit_b, basis="consent")
    unreferred = new_case(org_x)
    html = client_for(liaison_a).get(reverse("police:cases", args=[org_x.uuid])).content.decode()
    assert case.reference in html
    assert other.reference not in html and unreferred.reference not in html


def test_the_summary_is_read_only_and_shows_the_referral(liaison_a, referral, case):
    response = client_for(liaison_a).get(case_url("police:case", case))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Circula una foto falsa." in html and "UCIC Madrid" in html
    assert "https://t.me/demo_canal/1" in html
    assert "sospechoso_demo" not in html  # suspects only in the restricted sheet
    # Read-only: no form at all in the page body.
    assert 'method="post"' not in html.split('id="main"')[1].split("</main>")[0]


def test_the_exhibit_list_has_names_and_sha256_and_never_an_image(liaison_a, referral, case):
    html = client_for(liaison_a).get(case_url("police:exhibits", case)).content.decode()
    blob = case.files.get().blob
    assert CONTEXT_NAME in html and blob.sha256 in html
    assert FAKE_IMAGE_SHA256 in html
    assert "<img" not in html and "blurred" not in html and "/files/" not in html


def test_the_custody_log_lists_the_cases_events_with_their_hashes(liaison_a, referral, case):
    from vault.models import AuditEvent

    html = client_for(liaison_a).get(case_url("police:custody", case)).content.decode()
    submitted = AuditEvent.objects.get(event="case.submitted", object_id=case.uuid)
    stored = AuditEvent.objects.get(event="blob.stored", object_id=case.files.get().blob.uuid)
    assert "case.submitted" in html and "police.case_referred" in html
    assert submitted.hash in html and stored.hash in html


@pytest.mark.parametrize("name", CASE_PAGES)
def test_a_liaison_of_another_unit_gets_404(liaison_b, referral, case, name):
    assert client_for(liaison_b).get(case_url(name, case)).status_code == 404


@pytest.mark.parametrize("name", CASE_PAGES)
def test_an_unreferred_case_is_404(liaison_a, referral, org_x, name):
    assert client_for(liaison_a).get(case_url(name, new_case(org_x))).status_code == 404


@pytest.mark.parametrize("name", CASE_PAGES)
def test_a_withdrawn_referral_is_404(liaison_a, referral, case, coordinator, name):
    services.withdraw_referral(acting=coordinator, referral=referral)
    assert client_for(liaison_a).get(case_url(name, case)).status_code == 404


@pytest.mark.parametrize("name", CASE_PAGES)
def test_a_liaison_without_a_unit_sees_nothing(police_liaison, referral, case, name):
    assert client_for(police_liaison).get(case_url(name, case)).status_code == 404


@pytest.mark.parametrize("name", CASE_PAGES)
def test_another_organisations_liaison_gets_404(liaison_y, referral, case, name):
    assert client_for(liaison_y).get(case_url(name, case)).status_code == 404


# --- The whole matrix: every police view x anonymous / other org / wrong role --------


def _routes(case, export_uuid):
    org = case.organisation.uuid
    return {
        "cases": ("get", reverse("police:cases", args=[org]), "liaison"),
        **{n: ("get", case_url(n, case), "liaison") for n in CASE_PAGES},
        "export-progress": (
            "get",
            reverse("police:export-progress", args=[org, export_uuid]),
            "liaison",
        ),
        "export-download": (
            "post",
            reverse("police:export-download", args=[org, export_uuid]),
            "liaison",
        ),
        "units": ("get", reverse("police:units", args=[org]), "coordinator"),
        "unit-assign": ("post", reverse("police:unit-assign", args=[org]), "coordinator"),
        "refer": ("post", reverse("support:police-case:refer", args=[org, case.uuid]), "coord"),
    }


@pytest.fixture
def export(liaison_a, referral):
    return services.start_export(
        acting=liaison_a, referral=referral, purpose="investigation"
    ).export


def test_every_police_view_sends_anonymous_visitors_to_sign_in(case, export):
    for method, url, _who in _routes(case, export.uuid).values():
        response = getattr(Client(), method)(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url, url


def test_every_police_view_is_404_for_another_organisation(case, export, org_y):
    outsiders = [make_member(org_y, role) for role in Role.values]
    for method, url, _who in _routes(case, export.uuid).values():
        for outsider in outsiders:
            response = getattr(client_for(outsider), method)(url)
            assert response.status_code == 404, (url, outsider.role)


def test_every_police_view_is_403_for_a_wrong_role(case, export, org_x):
    members = {role: make_member(org_x, role) for role in Role.values}
    for method, url, who in _routes(case, export.uuid).values():
        allowed = {Role.POLICE_LIAISON} if who == "liaison" else {Role.COORDINATOR}
        for role, member in members.items():
            if role in allowed:
                continue
            response = getattr(client_for(member), method)(url)
            assert response.status_code == 403, (url, role)


def test_another_liaisons_export_is_404_even_in_the_same_unit(export, org_x, unit_a, coordinator):
    from tests.police.conftest import new_liaison

    colleague = new_liaison(org_x, unit_a, coordinator)
    url = reverse("police:export-progress", args=[org_x.uuid, export.uuid])
    assert client_for(colleague).get(url).status_code == 404


# --- Spanish ----------------------------------------------------------------------


def test_the_liaison_and_unit_pages_are_all_spanish(liaison_a, referral, case, coordinator):
    liaison_client = client_for(liaison_a)
    pages = [reverse("police:cases", args=[case.organisation.uuid])]
    pages += [case_url(name, case) for name in CASE_PAGES[:3]]
    for url in pages:
        response = liaison_client.get(url, HTTP_ACCEPT_LANGUAGE="es")
        assert response.status_code == 200
        assert_all_spanish(response.content.decode())
    for url in [
        reverse("police:units", args=[case.organisation.uuid]),
        reverse("support:case-detail", args=[case.organisation.uuid, case.uuid]),
    ]:
        response = client_for(coordinator).get(url, HTTP_ACCEPT_LANGUAGE="es")
        assert response.status_code == 200
        assert_all_spanish(response.content.decode())
