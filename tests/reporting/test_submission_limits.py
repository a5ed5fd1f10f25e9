"""Families filing together through an incident's link are not blocked by one shared address."""

import pytest
from django.test import Client
from django.urls import reverse

from support import casework, ratelimit
from support.models import Case
from tests.reporting.test_wizard import GOOD

pytestmark = pytest.mark.django_db

SCHOOL_WIFI = "203.0.113.40"


@pytest.fixture
def incident(coordinator):
    return casework.create_incident(actor=coordinator, title="Instituto")


def send_report(ip: str, incident=None) -> bool:
    """File a whole report from `ip`; True when it was accepted."""
    client = Client(REMOTE_ADDR=ip)
    if incident is not None:
        client.get(reverse("reporting:incident", args=[incident.intake_code]))
    else:
        client.get(reverse("reporting:report"))
    for step, data in GOOD.items():
        client.post(reverse("reporting:step", args=[step]), data)
    return client.post(reverse("reporting:check"), {"website": ""}).url == reverse(
        "reporting:receipt"
    )


def test_it_accepts_the_eleventh_family_on_the_school_wifi_through_the_incident_link(
    org_x, incident
):
    accepted = [send_report(SCHOOL_WIFI, incident) for _ in range(12)]
    assert accepted == [True] * 12
    assert Case.objects.filter(incident=incident).count() == 12


def test_it_still_refuses_the_eleventh_report_from_one_address_without_a_link(org_x):
    accepted = [send_report(SCHOOL_WIFI) for _ in range(11)]
    assert accepted == [True] * 10 + [False]
    assert Case.objects.count() == 10


def test_it_caps_one_address_through_one_incident_link(org_x, incident, monkeypatch):
    from reporting import views

    monkeypatch.setattr(views, "SUBMISSIONS_PER_ADDRESS_PER_INCIDENT", 3)
    accepted = [send_report(SCHOOL_WIFI, incident) for _ in range(4)]
    assert accepted == [True, True, True, False]
    assert send_report("203.0.113.41", incident)  # another address is not affected


def test_it_counts_ipv6_addresses_of_one_64_network_together(org_x):
    accepted = [send_report(f"2001:db8:1:2::{i:x}") for i in range(1, 12)]
    assert accepted == [True] * 10 + [False]
    assert send_report("2001:db8:1:3::1")  # the next /64 is someone else


def test_it_reduces_addresses_to_what_is_counted():
    assert ratelimit.address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64"
    assert ratelimit.address_key("2001:db8:1:2::1") == ratelimit.address_key("2001:db8:1:2::ffff")
    assert ratelimit.address_key("2001:db8:1:2::1") != ratelimit.address_key("2001:db8:1:3::1")
    assert ratelimit.address_key("198.51.100.7") == "198.51.100.7"
    assert ratelimit.address_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert ratelimit.address_key("") == ""
    assert ratelimit.address_key("not an address") == "not an address"
