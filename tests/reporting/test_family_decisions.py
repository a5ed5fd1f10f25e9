"""Withdrawing a permission, giving it again and asking for erasure: each is confirmed
on a page that says what happens next; no single tap decides."""

import pytest
from django.test import Client
from django.urls import reverse

from support.models import Consent
from tests.reporting.test_wizard import _signed_in
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db


def current(case, kind):
    return Consent.objects.filter(case=case, kind=kind).order_by("created_at", "id").last().given


def test_it_no_longer_withdraws_or_erases_with_one_tap_on_the_status_page(org_x):
    family, case = _signed_in(org_x)
    family.post(reverse("reporting:status"), {"action": "withdraw", "kind": "takedown"})
    family.post(reverse("reporting:status"), {"action": "erase"})
    case.refresh_from_db()
    assert current(case, "takedown") is True
    assert case.erasure_requested_at is None
    html = family.get(reverse("reporting:status")).content.decode()
    assert 'value="withdraw"' not in html and 'value="erase"' not in html
    assert reverse("reporting:permission", args=["takedown"]) in html
    assert reverse("reporting:erasure") in html


def test_it_says_what_withdrawing_means_before_doing_it(org_x):
    family, case = _signed_in(org_x)
    page = family.get(reverse("reporting:permission", args=["takedown"])).content.decode()
    assert "¿Retirar este permiso?" in page
    assert "no enviará nuevas solicitudes de retirada en tu nombre" in page
    assert current(case, "takedown") is True  # looking changes nothing
    response = family.post(
        reverse("reporting:permission", args=["takedown"]), {"decision": "withdraw"}
    )
    assert response.url == reverse("reporting:status")
    assert current(case, "takedown") is False


def test_a_family_gives_a_withdrawn_permission_again_and_the_history_is_kept(org_x):
    family, case = _signed_in(org_x)
    url = reverse("reporting:permission", args=["takedown"])
    family.post(url, {"decision": "withdraw"})
    page = family.get(url).content.decode()
    assert "¿Dar este permiso?" in page
    family.post(url, {"decision": "give"})
    assert current(case, "takedown") is True
    history = list(
        Consent.objects.filter(case=case, kind="takedown")
        .order_by("created_at", "id")
        .values_list("given", flat=True)
    )
    assert history == [True, False, True]
    events = AuditEvent.objects.filter(object_id=case.uuid, event__startswith="consent.")
    assert list(events.order_by("id").values_list("event", flat=True)) == [
        "consent.withdrawn",
        "consent.given",
    ]
    html = family.get(reverse("reporting:status")).content.decode()
    assert "Volviste a dar un permiso." in html


def test_a_repeated_or_stale_confirmation_never_flips_the_decision_back(org_x):
    family, case = _signed_in(org_x)
    url = reverse("reporting:permission", args=["takedown"])
    family.post(url, {"decision": "withdraw"})
    family.post(url, {"decision": "withdraw"})  # a double tap, or an old tab
    assert current(case, "takedown") is False
    assert Consent.objects.filter(case=case, kind="takedown").count() == 2


def test_an_unknown_permission_is_not_found(org_x):
    family, _ = _signed_in(org_x)
    assert family.get(reverse("reporting:permission", args=["nonsense"])).status_code == 404


def test_it_says_what_happens_next_before_asking_for_erasure(org_x):
    family, case = _signed_in(org_x)
    page = family.get(reverse("reporting:erasure")).content.decode()
    assert "¿Pedir que se borre tu caso?" in page
    assert "tu código de acceso deja de funcionar" in page.lower()
    case.refresh_from_db()
    assert case.erasure_requested_at is None
    family.post(reverse("reporting:erasure"), {})  # not confirmed: nothing
    case.refresh_from_db()
    assert case.erasure_requested_at is None
    family.post(reverse("reporting:erasure"), {"confirm": "yes"})
    case.refresh_from_db()
    assert case.erasure_requested_at is not None


def test_the_decision_pages_need_a_signed_in_family():
    signin = reverse("reporting:family-signin")
    assert Client().get(reverse("reporting:erasure")).url == signin
    assert Client().post(reverse("reporting:erasure"), {"confirm": "yes"}).url == signin
    assert Client().get(reverse("reporting:permission", args=["takedown"])).url == signin
