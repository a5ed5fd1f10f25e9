"""The takedown pages: the case panel, preparing, reviewing, sending and logging;
each view's anonymous, other-organisation (404) and wrong-role (403) answers."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from support.models import Role
from takedowns import services
from takedowns.models import Basis, Notice
from tests.factories import client_for, make_member
from tests.takedowns.helpers import location_on, route

pytestmark = pytest.mark.django_db


@pytest.fixture
def notice(case, facts, coordinator):
    return services.prepare_notice(
        acting=coordinator,
        case=case,
        route=route("instagram", Basis.TAKE_IT_DOWN),
        locations=[location_on(case, "instagram")],
    )


def urls(case, notice):
    org, c, n = case.organisation.uuid, case.uuid, notice.uuid
    case_kw, notice_kw = {"org": org, "case": c}, {"org": org, "case": c, "notice": n}
    return [
        ("get", reverse("support:takedowns_case:facts", kwargs=case_kw)),
        ("post", reverse("support:takedowns_case:prepare", kwargs=case_kw)),
        ("post", reverse("support:takedowns_case:prepare-all", kwargs=case_kw)),
        ("get", reverse("support:takedowns_case:notice", kwargs=notice_kw)),
        ("post", reverse("support:takedowns_case:send", kwargs=notice_kw)),
        ("post", reverse("support:takedowns_case:submitted", kwargs=notice_kw)),
        ("post", reverse("support:takedowns_case:reply", kwargs=notice_kw)),
        ("post", reverse("support:takedowns_case:state", kwargs=notice_kw)),
        ("post", reverse("support:takedowns_case:family", kwargs=notice_kw)),
    ]


def test_every_view_sends_the_anonymous_to_sign_in(case, notice):
    for method, url in urls(case, notice):
        response = getattr(Client(), method)(url)
        assert response.status_code == 302 and "/accounts/" in response["Location"], url


def test_every_view_is_404_for_another_organisation(case, notice, org_y):
    outsider = client_for(make_member(org_y, Role.COORDINATOR))
    for method, url in urls(case, notice):
        assert getattr(outsider, method)(url).status_code == 404, url


def test_every_view_is_403_for_a_role_without_case_access(case, notice, police_liaison, org_admin):
    for member in (police_liaison, org_admin):
        for method, url in urls(case, notice):
            assert getattr(client_for(member), method)(url).status_code == 403, url


def test_every_view_is_403_for_a_caseworker_not_on_the_case(case, notice, caseworker):
    for method, url in urls(case, notice):
        assert getattr(client_for(caseworker), method)(url).status_code == 403, url


def test_the_settings_page_is_for_coordinators_only(org_x, coordinator, caseworker, org_y):
    url = reverse("takedowns:settings", kwargs={"org": org_x.uuid})
    assert client_for(caseworker).get(url).status_code == 403
    assert client_for(make_member(org_y, Role.COORDINATOR)).get(url).status_code == 404
    assert Client().get(url).status_code == 302
    response = client_for(coordinator).post(
        url, {"inbox_email": "nuevo@grupo.example", "notifier_name": "Grupo X"}
    )
    assert response.status_code == 302
    assert services.settings_for(org_x).inbox_email == "nuevo@grupo.example"


def test_the_case_page_shows_locations_and_suggested_routes(case, coordinator):
    page = client_for(coordinator).get(
        reverse(
            "support:case-tab",
            kwargs={"org": case.organisation.uuid, "case": case.uuid, "panel": "takedowns"},
        )
    )
    text = page.content.decode()
    assert 'id="panel-takedowns"' in text
    assert "TAKE IT DOWN Act form (US)" not in text or "not for this family" in text
    assert "https://t.me/demo_canal_falso/12" in text
    assert "Take It Down" in text  # Instagram is in the programme: the family is told how


def test_the_case_caseworker_prepares_all_and_reviews_a_notice(case, facts, caseworker):
    case.assignee = caseworker
    case.save(update_fields=["assignee"])
    client = client_for(caseworker)
    kw = {"org": case.organisation.uuid, "case": case.uuid}
    response = client.post(reverse("support:takedowns_case:prepare-all", kwargs=kw))
    assert response.status_code == 302
    made = Notice.objects.filter(case=case)
    assert made.filter(platform__slug="instagram", basis="dsa").exists()
    assert made.filter(platform__slug="telegram").exists()
    telegram = made.filter(platform__slug="telegram", basis="dsa").first()
    page = client.get(
        reverse("support:takedowns_case:notice", kwargs={**kw, "notice": telegram.uuid})
    ).content.decode()
    assert "https://telegram.org/dsa-report" in page
    assert "data-copy" in page
    assert "pide más de lo que exige la ley" in page  # Telegram's name demand, flagged


def test_recording_a_web_form_submission_with_its_ticket(case, notice, coordinator):
    kw = {"org": case.organisation.uuid, "case": case.uuid, "notice": notice.uuid}
    client_for(coordinator).post(
        reverse("support:takedowns_case:submitted", kwargs=kw), {"ticket": "IG-1234"}
    )
    notice.refresh_from_db()
    assert notice.state == "sent" and notice.ticket == "IG-1234"


def test_a_refusal_without_its_reason_is_refused_with_a_message(case, notice, coordinator):
    services.record_submission(acting=coordinator, notice=notice, ticket="x")
    kw = {"org": case.organisation.uuid, "case": case.uuid, "notice": notice.uuid}
    response = client_for(coordinator).post(
        reverse("support:takedowns_case:reply", kwargs=kw),
        {"text": "No", "at": "2026-12-01", "outcome": "rejected", "reason": ""},
        follow=True,
    )
    assert "Indica por qué la ha rechazado la plataforma" in response.content.decode()
    notice.refresh_from_db()
    assert notice.state == "sent"


def test_bad_input_changes_nothing_and_is_not_a_500(case, notice, coordinator):
    client = client_for(coordinator)
    kw = {"org": case.organisation.uuid, "case": case.uuid}
    response = client.post(reverse("support:takedowns_case:prepare", kwargs=kw), {"route": "nope"})
    assert response.status_code == 302
    response = client.post(
        reverse("support:takedowns_case:state", kwargs={**kw, "notice": notice.uuid}),
        {"state": "sent"},
    )
    assert response.status_code == 302
    assert Notice.objects.filter(case=case).count() == 1
