"""The figures the dashboard and incident pages count, as they are computed in SQL.

support.selectors counts statuses from the indexes and takes the median first
response in PostgreSQL (bench/casework.py times them at 100 000 cases); these pin
down the figures themselves.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from support import selectors
from support.models import Case, CaseStatus, Priority
from tests.factories import make_case


def _cases(org, n: int, **fields) -> list[Case]:
    """``n`` reports, then ``fields`` set on them as case work would have."""
    cases = [make_case(org) for _ in range(n)]
    if fields:
        Case.objects.filter(pk__in=[c.pk for c in cases]).update(**fields)
    return cases


def _respond_after(cases: list[Case], hours: list[float]) -> None:
    for case, wait in zip(cases, hours, strict=True):
        Case.objects.filter(pk=case.pk).update(
            first_response_at=case.created_at + timedelta(hours=wait)
        )


@pytest.mark.parametrize(
    ("waits", "median"),
    [
        ([4, 1, 3, 2], 3.0),  # even count: the upper of the two middle values
        ([5, 1.25, 3], 3.0),
        ([2.5], 2.5),
    ],
)
def test_the_median_first_response_is_the_upper_middle_wait(coordinator, org_x, waits, median):
    _respond_after(_cases(org_x, len(waits)), waits)
    _cases(org_x, 2)  # not yet answered: not counted
    assert selectors.dashboard(coordinator)["median_first_response_hours"] == median


def test_without_any_response_there_is_no_median(coordinator, org_x):
    _cases(org_x, 2)
    assert selectors.dashboard(coordinator)["median_first_response_hours"] is None


def test_old_and_destroyed_cases_are_left_out_of_the_median(coordinator, org_x, org_y):
    recent = _cases(org_x, 1)
    _respond_after(recent, [2])
    old = _cases(org_x, 1)
    Case.objects.filter(pk=old[0].pk).update(created_at=timezone.now() - timedelta(weeks=13))
    _respond_after([Case.objects.get(pk=old[0].pk)], [50])
    destroyed = _cases(org_x, 1, destroyed_at=timezone.now())
    _respond_after(destroyed, [40])
    _respond_after(_cases(org_y, 1), [30])  # another organisation
    assert selectors.dashboard(coordinator)["median_first_response_hours"] == 2.0


def test_status_counts_and_open_urgent_cases(coordinator, org_x, org_y):
    _cases(org_x, 2, status=CaseStatus.IN_PROGRESS, priority=Priority.URGENT)
    _cases(org_x, 1, status=CaseStatus.CLOSED, priority=Priority.URGENT)  # closed: not open
    _cases(org_x, 3, status=CaseStatus.NEW, priority=Priority.NORMAL)
    _cases(org_x, 1, status=CaseStatus.NEW, destroyed_at=timezone.now())  # a tombstone
    _cases(org_y, 4, status=CaseStatus.NEW, priority=Priority.URGENT)

    stats = selectors.dashboard(coordinator)

    by_status = dict(stats["by_status"])
    assert by_status[str(CaseStatus.IN_PROGRESS.label)] == 2
    assert by_status[str(CaseStatus.CLOSED.label)] == 1
    assert by_status[str(CaseStatus.NEW.label)] == 3
    assert sum(by_status.values()) == 6
    assert stats["urgent_open"] == 2


def test_incident_figures_count_only_that_incidents_live_cases(coordinator, org_x):
    from support import casework

    incident = casework.create_incident(actor=coordinator, title="Clase 3B")
    inside = [make_case(org_x, incident=incident) for _ in range(3)]
    Case.objects.filter(pk=inside[0].pk).update(priority=Priority.URGENT)
    Case.objects.filter(pk=inside[1].pk).update(destroyed_at=timezone.now())
    make_case(org_x)  # no incident

    summary = selectors.incident_summary(incident, coordinator)

    assert summary["families"] == 2
    assert summary["urgent"] == 1


def test_the_figures_are_cached_until_a_case_of_the_organisation_changes(
    coordinator, org_x, org_y, django_assert_max_num_queries
):
    from support import casework

    cases = _cases(org_x, 2)
    new = str(CaseStatus.NEW.label)
    assert dict(selectors.dashboard(coordinator)["by_status"])[new] == 2
    with django_assert_max_num_queries(0):  # from the cache: no case is read
        assert dict(selectors.dashboard(coordinator)["by_status"])[new] == 2

    make_case(org_y)  # another organisation's case leaves these figures cached
    with django_assert_max_num_queries(0):
        selectors.dashboard(coordinator)

    make_case(org_x)  # a new report
    assert dict(selectors.dashboard(coordinator)["by_status"])[new] == 3
    casework.change_status(
        actor=coordinator, case=Case.objects.get(pk=cases[0].pk), status=CaseStatus.TRIAGED
    )
    figures = dict(selectors.dashboard(coordinator)["by_status"])
    assert (figures[new], figures[str(CaseStatus.TRIAGED.label)]) == (2, 1)
