"""Family pages on a 390x844 phone: the receipt, the status page and its forms."""

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore

from tests.e2e.axe import axe_problems

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def with_session(page, live_server, data: dict) -> None:
    """Give the browser a server session holding `data`, as the app would have."""
    session = SessionStore()
    session.update(data)
    session.save()
    cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session.session_key}
    page.context.add_cookies([{**cookie, "url": live_server.url}])


def test_it_shows_the_access_code_in_two_rows_of_two_on_a_phone(phone_page, live_server):
    page = phone_page
    receipt = {"reference": "AMP-ABCDEFGH", "code": "ABCDEFGHJKMNPQRS"}
    with_session(page, live_server, {"report_receipt": receipt})
    page.goto(live_server.url + "/receipt/")
    boxes = [g.bounding_box() for g in page.locator(".code-group").all()]
    assert len(boxes) == 4
    rows = sorted({round(b["y"]) for b in boxes})
    assert len(rows) == 2, rows  # never three and one
    assert [round(b["y"]) for b in boxes] == [rows[0], rows[0], rows[1], rows[1]]
    assert all(b["x"] >= 0 and b["x"] + b["width"] <= 390 for b in boxes)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert axe_problems(page) == []
