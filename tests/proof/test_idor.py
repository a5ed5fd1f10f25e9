"""The IDOR matrix (proof/idor.py) at test size: every route of ours x every actor."""

import pytest

from proof import idor
from tests.proof.conftest import assert_held

pytestmark = pytest.mark.django_db

CASE_PAGE = idor.Route("staff/o/<uuid:org>/cases/<uuid:case>/", "support:case-detail")


def rows_by_figure(rows):
    return {r["figure"]: r for r in rows}


def test_no_actor_gets_through_where_it_may_not_and_nothing_is_a_500():
    rows = rows_by_figure(idor.run(short=True))
    assert_held(rows.values())
    assert rows["unauthorised successes"]["value"] == 0
    assert rows["requests made"]["value"] >= 80 * 2 * 5


def test_a_route_without_an_expectation_fails_the_suite(monkeypatch):
    new = idor.Route("staff/o/<uuid:org>/new-page/", "support:new-page")
    monkeypatch.setattr(idor, "routes", lambda: [CASE_PAGE, new])
    rows = rows_by_figure(idor.run(short=True))
    assert rows["routes without an expectation"]["value"] == 1
    assert not rows["routes without an expectation"]["held"]


def test_an_actor_getting_through_is_counted(monkeypatch):
    # The control: if only the assigned caseworker were allowed, the coordinator's
    # (legitimate) 200s on the case page must show up as unauthorised successes.
    monkeypatch.setattr(idor, "routes", lambda: [CASE_PAGE])
    monkeypatch.setitem(
        idor.EXPECTATIONS, CASE_PAGE.name, idor.Expect(frozenset({idor.CW_ASSIGNED}))
    )
    rows = rows_by_figure(idor.run(short=True))
    assert rows["unauthorised successes"]["value"] >= 1
    assert not rows["unauthorised successes"]["held"]
