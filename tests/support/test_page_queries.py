"""Each staff page runs the same number of queries with 3 cases as with 30: nothing
is fetched per row (bench/casework.py times the same pages at 1 000 and 100 000)."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from support import casework, intake
from support.demo import seed_bulk
from support.models import Case, CaseStatus, Incident, Location
from tests.factories import client_for

pytestmark = pytest.mark.django_db


def _pages(org, case, incident) -> dict[str, str]:
    base = f"/staff/o/{org.uuid}/"
    return {
        "queue": base,
        "filtered queue": base + "?platform=telegram&status=in_progress",
        "search": base + "?q=%40cuenta_000000",
        "case page": base + f"cases/{case.uuid}/",
        "incident page": base + f"incidents/{incident.uuid}/",
        "dashboard": base + "dashboard/",
    }


def _fill(org, incident, case):
    """Every table and list of the pages has rows: cases in progress on Telegram in
    the incident (the filtered queue, the incident page), one new (the triage list)."""
    cases = Case.objects.filter(organisation=org)
    cases.update(status=CaseStatus.IN_PROGRESS, incident=incident)
    cases.filter(pk=cases.order_by("-id")[0].pk).update(status=CaseStatus.NEW)
    Location.objects.filter(case__organisation=org).update(platform="telegram")


def _counts(client, pages) -> dict[str, int]:
    counts = {}
    for name, url in pages.items():
        client.get(url)  # the session's once-a-minute writes happen here, not below
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, name
        counts[name] = len(queries)
    return counts


def test_staff_pages_run_as_many_queries_for_30_cases_as_for_3(coordinator, org_x):
    casework.create_incident(actor=coordinator, title="Colegio")
    seed_bulk(organisation=org_x, count=3)
    incident = Incident.objects.get(organisation=org_x)
    case = Case.objects.filter(organisation=org_x).order_by("id").first()
    _fill(org_x, incident, case)
    # Some of the per-row data the tables show: an assignee, a label, an unread
    # message, an overdue task.
    casework.assign_case(actor=coordinator, case=case, assignee=coordinator)
    casework.set_labels(actor=coordinator, case=case, labels=["colegio"])
    intake.add_family_message(case=case, body="Hola")
    casework.add_task(
        actor=coordinator, case=case, title="Llamar", due=date.today() - timedelta(days=2)
    )
    client = client_for(coordinator)
    pages = _pages(org_x, case, incident)
    few = _counts(client, pages)
    seed_bulk(organisation=org_x, count=27, seed=7)
    _fill(org_x, incident, case)
    for other in Case.objects.filter(organisation=org_x).exclude(pk=case.pk)[:10]:
        casework.assign_case(actor=coordinator, case=other, assignee=coordinator)
        casework.set_labels(actor=coordinator, case=other, labels=["colegio", "urgente"])
    assert Case.objects.filter(organisation=org_x).count() == 30
    assert _counts(client, pages) == few
