"""The list of a user's sessions ("last seen", sign out the others) with "last seen"
recorded at most every USERSESSION_TOUCH_EVERY seconds, not on every request."""

from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from support.middleware import USERSESSION_TOUCH_EVERY, UserSessionsMiddleware
from tests.factories import client_for

pytestmark = pytest.mark.django_db
KEY = UserSessionsMiddleware.session_key


def _age_marker(client, seconds):
    session = client.session
    session[KEY] = [session[KEY][0] - seconds, *session[KEY][1:]]
    session.save()


def _usersession_writes(client, path="/accounts/email/"):
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    return [q["sql"] for q in queries if "usersessions_usersession" in q["sql"]]


def test_the_first_request_records_the_session(coordinator):
    client = client_for(coordinator)
    client.get("/accounts/email/")
    row = UserSession.objects.get(session_key=client.session.session_key)
    assert row.user == coordinator.user
    assert row.ip == "127.0.0.1"


def test_later_requests_within_the_window_touch_nothing(coordinator):
    client = client_for(coordinator)
    client.get("/accounts/email/")
    row = UserSession.objects.get(session_key=client.session.session_key)
    assert _usersession_writes(client) == []
    row.refresh_from_db()
    seen = row.last_seen_at
    # Once the window has passed, "last seen" moves on.
    _age_marker(client, USERSESSION_TOUCH_EVERY + 1)
    UserSession.objects.filter(pk=row.pk).update(last_seen_at=seen - timedelta(hours=1))
    assert _usersession_writes(client)
    row.refresh_from_db()
    assert row.last_seen_at > seen - timedelta(minutes=1)


def test_a_new_address_is_recorded_at_once(coordinator):
    client = client_for(coordinator)
    client.get("/accounts/email/")
    client.get("/accounts/email/", REMOTE_ADDR="10.0.0.7")
    assert UserSession.objects.get(session_key=client.session.session_key).ip == "10.0.0.7"


def test_the_list_shows_every_session_and_signs_out_the_others(coordinator):
    mine, other = client_for(coordinator), client_for(coordinator)
    other.get("/accounts/email/", HTTP_USER_AGENT="Other browser")
    response = mine.get(reverse("usersessions_list"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "Other browser" in response.content.decode()
    assert UserSession.objects.filter(user=coordinator.user).count() == 2
    response = mine.post(reverse("usersessions_list"))
    assert response.status_code == 302
    assert list(UserSession.objects.filter(user=coordinator.user).values_list("session_key")) == [
        (mine.session.session_key,)
    ]
    # The other browser is signed out; this one is not.
    assert other.get(reverse("usersessions_list")).status_code == 302
    assert mine.get(reverse("usersessions_list")).status_code == 200
