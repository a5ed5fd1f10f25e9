"""Coordinators keep police units and refer cases to them: on the family's consent,
or on a legal obligation they document. Both are audited; anything else is refused."""

import pytest
from django.urls import reverse

from police import services
from police.models import LiaisonAssignment, PoliceReferral, PoliceUnit
from support.events import ServiceError
from support.intake import withdraw_consent
from support.models import Consent
from tests.factories import client_for
from tests.police.conftest import new_case
from vault import crypto
from vault.models import AuditEvent, RecipientKey

pytestmark = pytest.mark.django_db


def refer_url(case):
    return reverse("support:police-case:refer", args=[case.organisation.uuid, case.uuid])


def test_it_refers_a_case_on_the_familys_police_consent(coordinator, case, unit_a):
    response = client_for(coordinator).post(
        refer_url(case), {"police-unit": str(unit_a.uuid), "police-basis": "consent"}
    )
    assert response.status_code == 302
    referral = PoliceReferral.objects.get(case=case)
    assert referral.unit == unit_a and referral.basis == "consent"
    assert referral.consent == Consent.objects.get(case=case, kind="police")
    event = AuditEvent.objects.get(event="police.case_referred", object_id=case.uuid)
    assert event.data["basis"] == "consent" and event.data["consent"] == str(referral.consent.uuid)


def test_the_consent_gate_refuses_a_case_without_police_consent(coordinator, org_x, unit_a):
    case = new_case(org_x, police_consent=False)
    response = client_for(coordinator).post(
        refer_url(case),
        {"police-unit": str(unit_a.uuid), "police-basis": "consent"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "has not consented to a police referral" in response.content.decode()
    assert not PoliceReferral.objects.exists()
    assert not AuditEvent.objects.filter(event="police.case_referred").exists()


def test_a_withdrawn_consent_no_longer_opens_the_gate(coordinator, case, unit_a):
    assert withdraw_consent(case=case, kind="police")
    with pytest.raises(ServiceError, match="no-police-consent"):
        services.refer_case(acting=coordinator, case=case, unit=unit_a, basis="consent")


def test_a_legal_obligation_with_its_reason_refers_without_consent(coordinator, org_x, unit_a):
    case = new_case(org_x, police_consent=False)
    reason = "LOPIVI art. 15: el centro escolar comunicó violencia contra una menor."
    response = client_for(coordinator).post(
        refer_url(case),
        {
            "police-unit": str(unit_a.uuid),
            "police-basis": "legal_obligation",
            "police-legal_reason": reason,
        },
    )
    assert response.status_code == 302
    referral = PoliceReferral.objects.get(case=case)
    assert referral.basis == "legal_obligation" and referral.consent is None
    assert referral.legal_reason == reason
    assert "LOPIVI" not in referral.legal_reason_sealed  # encrypted at rest
    event = AuditEvent.objects.get(event="police.case_referred")
    assert event.data["basis"] == "legal_obligation" and "LOPIVI" not in str(event.data)


def test_a_legal_obligation_needs_a_real_reason(coordinator, org_x, unit_a):
    case = new_case(org_x, police_consent=False)
    for reason in ["", "porque sí"]:
        with pytest.raises(ServiceError, match="legal-reason-needed"):
            services.refer_case(
                acting=coordinator,
                case=case,
                unit=unit_a,
                basis="legal_obligation",
                legal_reason=reason,
            )
    assert not PoliceReferral.objects.exists()


def test_only_coordinators_refer(caseworker, police_liaison, case, unit_a):
    for member in (caseworker, police_liaison):
        response = client_for(member).post(
            refer_url(case), {"police-unit": str(unit_a.uuid), "police-basis": "consent"}
        )
        assert response.status_code == 403
        with pytest.raises(ServiceError):
            services.refer_case(acting=member, case=case, unit=unit_a, basis="consent")
    assert not PoliceReferral.objects.exists()


def test_another_organisations_coordinator_gets_404(coordinator_y, case, unit_a):
    response = client_for(coordinator_y).post(
        refer_url(case), {"police-unit": str(unit_a.uuid), "police-basis": "consent"}
    )
    assert response.status_code == 404


def test_a_case_cannot_be_referred_to_another_organisations_unit(coordinator, case, coordinator_y):
    _private, public = crypto.generate_recipient_keypair()
    foreign = services.create_unit(acting=coordinator_y, name="Otra", public_key=public)
    with pytest.raises(ServiceError, match="bad-unit"):
        services.refer_case(acting=coordinator, case=case, unit=foreign, basis="consent")


def test_the_case_page_shows_the_police_panel_with_the_consent_state(coordinator, case, unit_a):
    html = (
        client_for(coordinator)
        .get(
            reverse("support:case-tab", args=[case.organisation.uuid, case.uuid, "police"]),
            HTTP_ACCEPT_LANGUAGE="en",
        )
        .content.decode()
    )
    assert 'id="panel-police"' in html
    assert "The family has consented to a police referral." in html
    assert refer_url(case) in html
    # The panel is in the page body once, not in the window title.
    assert html.count('id="panel-police"') == 1
    assert "<title>" in html and "panel-police" not in html.split("</title>")[0]


def test_a_caseworker_sees_the_referrals_but_not_the_form(caseworker, coordinator, case, unit_a):
    services.refer_case(acting=coordinator, case=case, unit=unit_a, basis="consent")
    case.assignee = caseworker
    case.save()
    html = (
        client_for(caseworker)
        .get(reverse("support:case-tab", args=[case.organisation.uuid, case.uuid, "police"]))
        .content.decode()
    )
    assert "UCIC Madrid" in html and refer_url(case) not in html


def test_withdrawing_a_referral_is_audited_and_ends_access(coordinator, referral, case):
    url = reverse(
        "support:police-case:withdraw", args=[case.organisation.uuid, case.uuid, referral.uuid]
    )
    assert client_for(coordinator).post(url).status_code == 302
    referral.refresh_from_db()
    assert referral.withdrawn_at is not None
    assert AuditEvent.objects.filter(event="police.referral_withdrawn").exists()


def test_the_staff_timeline_words_police_events(coordinator, referral, case):
    html = (
        client_for(coordinator)
        .get(
            reverse("support:case-timeline", args=[case.organisation.uuid, case.uuid]),
            HTTP_ACCEPT_LANGUAGE="en",
        )
        .content.decode()
    )
    timeline = html[html.index('id="timeline"') :]
    assert "Referred to a police unit" in timeline and "police.case_referred" not in timeline


# --- Units ---------------------------------------------------------------------------


def test_a_coordinator_adds_a_unit_with_its_public_key(coordinator, org_x):
    _private, public = crypto.generate_recipient_keypair()
    url = reverse("police:units", args=[org_x.uuid])
    response = client_for(coordinator).post(
        url,
        {
            "name": "UCIC",
            "contact": "Mesa de guardia 900 000 000",
            "public_key": crypto.public_key_to_b64(public),
        },
        follow=True,
    )
    unit = PoliceUnit.objects.get()
    assert unit.recipient_key.public_bytes == public
    assert unit.contact == "Mesa de guardia 900 000 000" and "900" not in unit.contact_sealed
    assert unit.recipient_key.fingerprint in response.content.decode()
    assert AuditEvent.objects.filter(event="police.unit_created", object_id=unit.uuid).exists()
    assert AuditEvent.objects.filter(event="recipient_key.created").exists()


def test_a_unit_key_may_come_as_an_openssl_pem(coordinator, org_x):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    pem = (
        X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    client_for(coordinator).post(
        reverse("police:units", args=[org_x.uuid]), {"name": "EMUME", "public_key": pem}
    )
    assert PoliceUnit.objects.get().name == "EMUME"


@pytest.mark.parametrize("key", ["", "not a key", "A" * 40, "-----BEGIN PUBLIC KEY-----\nxx"])
def test_a_bad_public_key_is_refused_and_nothing_is_saved(coordinator, org_x, key):
    response = client_for(coordinator).post(
        reverse("police:units", args=[org_x.uuid]), {"name": "UCIC", "public_key": key}
    )
    assert response.status_code == 200 and "error-summary" in response.content.decode()
    assert not PoliceUnit.objects.exists() and not RecipientKey.objects.exists()


def test_a_coordinator_links_a_liaison_to_one_unit(coordinator, police_liaison, unit_a, unit_b):
    url = reverse("police:unit-assign", args=[coordinator.organisation.uuid])
    client = client_for(coordinator)
    client.post(url, {"liaison": str(police_liaison.uuid), "unit": str(unit_a.uuid)})
    client.post(url, {"liaison": str(police_liaison.uuid), "unit": str(unit_b.uuid)})
    assert LiaisonAssignment.objects.get(membership=police_liaison).unit == unit_b
    assert AuditEvent.objects.filter(event="police.liaison_assigned").count() == 2


def test_only_liaisons_can_be_linked_to_a_unit(coordinator, caseworker, unit_a):
    with pytest.raises(ServiceError, match="bad-liaison"):
        services.assign_liaison(acting=coordinator, liaison=caseworker, unit=unit_a)


def test_the_demo_seeds_a_unit_and_links_the_demo_liaison(org_x, coordinator, settings, tmp_path):
    from police.demo import DEMO_LIAISON, DEMO_UNIT, seed_police_demo
    from support.models import Role
    from tests.factories import make_member

    settings.VAR_DIR = tmp_path
    liaison = make_member(org_x, Role.POLICE_LIAISON, email=DEMO_LIAISON)
    for _ in range(2):  # idempotent
        seed_police_demo(organisation=org_x, coordinator=coordinator)
    unit = PoliceUnit.objects.get(name=DEMO_UNIT)
    assert LiaisonAssignment.objects.get(membership=liaison).unit == unit
    pem = (tmp_path / "dev-secrets" / "police-unit-demo.pem").read_bytes()
    assert (
        crypto.public_key_to_b64(
            __import__("cryptography.hazmat.primitives.serialization", fromlist=["x"])
            .load_pem_private_key(pem, None)
            .public_key()
            .public_bytes_raw()
        )
        == unit.recipient_key.public_key
    )
