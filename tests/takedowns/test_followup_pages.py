"""Metrics, transparency, re-check settings and overdue pages: who may see what."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from support import casework
from support.models import Role
from takedowns.models import Notice, NoticeState, TakedownSettings
from tests.factories import client_for, make_member
from tests.takedowns.casedata import make_case, make_notice
from tests.test_translations import assert_all_spanish
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db

PAGES = {
    "metrics": Role.COORDINATOR,
    "transparency": Role.COORDINATOR,
    "recheck-settings": Role.ORG_ADMIN,
    "overdue": Role.COORDINATOR,
}


def _url(name, org, **kwargs):
    return reverse(f"takedowns:{name}", kwargs={"org": org.uuid, **kwargs})


@pytest.fixture
def overdue(org_x):
    now = timezone.now()
    return make_notice(make_case(org_x), basis="take_it_down", sent_at=now - timedelta(hours=49),
                       deadline_at=now - timedelta(hours=1))  # fmt: skip


@pytest.mark.parametrize("name", PAGES)
def test_each_page_renders_in_spanish_for_its_role(org_x, overdue, name):
    removed = make_notice(make_case(org_x), state="removed", sent_at=timezone.now() - timedelta(
        hours=10), removed_at=timezone.now() - timedelta(hours=2))  # fmt: skip
    assert removed
    response = client_for(make_member(org_x, PAGES[name])).get(_url(name, org_x))
    assert response.status_code == 200
    html = response.content.decode()
    # A letter for an authority abroad (the FTC) is in its language, and marked so.
    foreign = re.compile(r'<textarea[^>]*lang="en"[^>]*>.*?</textarea>', re.S)
    if name == "overdue":
        assert foreign.search(html)
    assert_all_spanish(foreign.sub("", html))


@pytest.mark.parametrize("name", PAGES)
def test_each_page_is_404_for_another_organisation(org_x, org_y, name):
    outsider = make_member(org_y, PAGES[name])
    assert client_for(outsider).get(_url(name, org_x)).status_code == 404


@pytest.mark.parametrize(
    "name, role",
    [
        ("metrics", Role.CASEWORKER),
        ("metrics", Role.POLICE_LIAISON),
        ("transparency", Role.CASEWORKER),
        ("transparency", Role.ORG_ADMIN),
        ("recheck-settings", Role.COORDINATOR),
        ("recheck-settings", Role.CASEWORKER),
        ("overdue", Role.POLICE_LIAISON),
        ("overdue", Role.ORG_ADMIN),
    ],
)
def test_each_page_is_403_for_the_wrong_role(org_x, name, role):
    assert client_for(make_member(org_x, role)).get(_url(name, org_x)).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_each_page_sends_anonymous_visitors_to_sign_in(org_x, name):
    assert Client().get(_url(name, org_x)).url.startswith(reverse("account_login"))


def test_the_metrics_page_shows_tables_and_the_dashboard_links_to_it(coordinator, org_x):
    now = timezone.now()
    make_notice(make_case(org_x), state="removed", sent_at=now - timedelta(hours=10),
                removed_at=now - timedelta(hours=4))  # fmt: skip
    client = client_for(coordinator)
    page = client.get(_url("metrics", org_x)).content.decode()
    assert '<th scope="row">Instagram</th>' in page and "<td>6,0</td>" in page
    dashboard = client.get(reverse("support:dashboard", kwargs={"org": org_x.uuid}))
    assert _url("metrics", org_x) in dashboard.content.decode()


def test_the_transparency_report_downloads_as_csv_and_pdf_and_is_recorded(coordinator, org_x):
    year = timezone.localdate().year
    make_notice(make_case(org_x), state="removed", sent_at=timezone.now() - timedelta(hours=3),
                removed_at=timezone.now())  # fmt: skip
    client = client_for(coordinator)
    csv_ = client.get(_url("transparency", org_x), {"year": year, "fmt": "csv", "download": "1"})
    assert csv_["Content-Disposition"].startswith("attachment;")
    assert "Instagram" in csv_.content.decode()
    pdf = client.get(_url("transparency", org_x), {"year": year, "fmt": "pdf", "download": "1"})
    assert pdf.content.startswith(b"%PDF-")
    assert AuditEvent.objects.filter(event="transparency.exported").count() == 2


def test_a_bad_year_is_a_translated_error_not_a_download(coordinator, org_x):
    response = client_for(coordinator).get(
        _url("transparency", org_x), {"year": "19", "fmt": "pdf", "download": "1"}
    )
    assert response.status_code == 200 and "error-summary" in response.content.decode()
    assert not AuditEvent.objects.filter(event="transparency.exported").exists()


def test_an_organisation_admin_opts_in_to_rechecks_and_it_is_audited(org_admin, org_x):
    client = client_for(org_admin)
    client.post(_url("recheck-settings", org_x), {"status_rechecks": "on"})
    assert TakedownSettings.objects.get(organisation=org_x).status_rechecks is True
    client.post(_url("recheck-settings", org_x), {})
    assert TakedownSettings.objects.get(organisation=org_x).status_rechecks is False
    events = AuditEvent.objects.filter(event="takedowns.status_rechecks_set").order_by("id")
    assert [e.data["enabled"] for e in events] == [True, False]


def test_the_overdue_page_offers_the_ladder_and_one_click_drafts_it(coordinator, org_x, overdue):
    client = client_for(coordinator)
    page = client.get(_url("overdue", org_x)).content.decode()
    assert "reportfraud.ftc.gov" in page and 'value="hotline"' in page
    response = client.post(_url("escalate", org_x, notice=overdue.uuid), {"rung": "hotline"})
    assert response.url == reverse(
        "support:case-tab",
        kwargs={"org": org_x.uuid, "case": overdue.case.uuid, "panel": "takedowns"},
    )
    overdue.refresh_from_db()
    assert overdue.state == NoticeState.ESCALATED
    draft = Notice.objects.get(escalated_from=overdue)
    assert draft.state == NoticeState.DRAFT and draft.platform.slug == "incibe"
    assert client.get(_url("overdue", org_x)).content.decode().count("notice-") == 0


def test_an_escalation_step_without_a_route_changes_nothing(coordinator, org_x, overdue):
    client_for(coordinator).post(_url("escalate", org_x, notice=overdue.uuid), {"rung": "ftc"})
    client_for(coordinator).post(_url("escalate", org_x, notice=overdue.uuid), {"rung": "bogus"})
    overdue.refresh_from_db()
    assert overdue.state == NoticeState.SENT and not overdue.escalations.exists()


def test_escalation_is_404_for_another_organisation(org_y, org_x, overdue):
    outsider = make_member(org_y, Role.COORDINATOR)
    response = client_for(outsider).post(
        reverse("takedowns:escalate", kwargs={"org": org_y.uuid, "notice": overdue.uuid}),
        {"rung": "hotline"},
    )
    assert response.status_code == 404
    assert (
        client_for(outsider)
        .post(_url("escalate", org_x, notice=overdue.uuid), {"rung": "hotline"})
        .status_code
        == 404
    )


def test_escalation_is_403_for_a_colleagues_case_and_roles_without_cases(
    org_x, coordinator, overdue
):
    colleague = make_member(org_x, Role.CASEWORKER)
    casework.assign_case(actor=coordinator, case=overdue.case, assignee=colleague)
    url = _url("escalate", org_x, notice=overdue.uuid)
    for role in (Role.CASEWORKER, Role.POLICE_LIAISON, Role.ORG_ADMIN):
        assert (
            client_for(make_member(org_x, role)).post(url, {"rung": "hotline"}).status_code == 403
        )
    overdue.refresh_from_db()
    assert overdue.state == NoticeState.SENT


def test_escalation_needs_a_post_and_a_sign_in(org_x, coordinator, overdue):
    url = _url("escalate", org_x, notice=overdue.uuid)
    assert client_for(coordinator).get(url).status_code == 405
    assert Client().post(url, {"rung": "hotline"}).url.startswith(reverse("account_login"))


def test_the_dashboard_shows_each_takedown_figure_once(coordinator, org_x, overdue):
    response = client_for(coordinator).get(
        reverse("support:dashboard", kwargs={"org": org_x.uuid}), HTTP_ACCEPT_LANGUAGE="en"
    )
    figures = [str(row.label) for row in response.context["figures"]]
    assert len(figures) == len(set(figures))
    values = {str(row.label): row.value for row in response.context["figures"]}
    assert values["Takedown notices open"] == 1
    assert values["Takedown notices past their deadline"] == 1
