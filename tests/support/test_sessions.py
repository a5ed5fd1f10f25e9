"""One idle-timeout rule (support.sessions.idle_expired) ends staff and family sessions."""

import time

import pytest
from django.test import Client
from django.urls import reverse

from reporting.views import FAMILY_IDLE_TIMEOUT, FAMILY_KEY
from support.sessions import idle_expired
from tests.factories import make_case

pytestmark = pytest.mark.django_db


def test_it_starts_the_clock_then_expires_after_the_timeout():
    store = {}
    assert not idle_expired(store, "at", timeout=100, now=1000.0)
    assert store == {"at": 1000.0}
    assert not idle_expired(store, "at", timeout=100, now=1100.0)  # exactly the limit: still on
    assert store == {"at": 1100.0}
    assert idle_expired(store, "at", timeout=100, now=1200.5)


def test_it_rewrites_the_clock_only_as_often_as_asked():
    store = {"at": 1000.0}
    assert not idle_expired(store, "at", timeout=1800, touch_every=60, now=1030.0)
    assert store == {"at": 1000.0}
    assert not idle_expired(store, "at", timeout=1800, touch_every=60, now=1061.0)
    assert store == {"at": 1061.0}


def test_staff_and_families_share_the_same_rule():
    import reporting.views
    import support.middleware

    assert support.middleware.idle_expired is idle_expired
    assert reporting.views.idle_expired is idle_expired


def test_a_family_idle_too_long_is_signed_out(org_x):

    case = make_case(org_x)
    client = Client()
    session = client.session
    session[FAMILY_KEY] = {"case": str(case.uuid), "at": 0}
    session.save()
    response = client.get(reverse("reporting:status"))
    assert response.status_code == 302
    assert FAMILY_KEY not in client.session
    # A recent visit keeps the page open.
    session = client.session
    session[FAMILY_KEY] = {"case": str(case.uuid), "at": time.time() - FAMILY_IDLE_TIMEOUT + 60}
    session.save()
    assert client.get(reverse("reporting:status")).status_code == 200
