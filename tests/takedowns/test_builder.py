"""The notice builder: complete notices per basis, the CSAM exemption, jurisdictions,
the over-disclosure guard and consent."""

from __future__ import annotations

import pytest

from support import intake
from support.models import Consent
from takedowns import builder, services
from takedowns.models import Basis, Notice
from tests.takedowns.helpers import location_on, make_case, route


@pytest.fixture(autouse=True)
def _english_staff(settings):
    """The caseworker's words below are asserted in English; each notice is still
    rendered in its recipient's language (the Spanish ones are checked in Spanish)."""
    from django.utils import translation

    with translation.override("en"):
        yield


pytestmark = pytest.mark.django_db


def draft(case, platform, basis, host, **kwargs):
    return services.draft_for(
        case=case,
        route=route(platform, basis, **kwargs),
        locations=[location_on(case, host)],
        reference="ABCD1234",
    )


def test_a_dsa_notice_about_a_minor_leaves_the_notifiers_name_and_email_out(case, facts):
    notice = draft(case, "website", Basis.DSA, "fotos-falsas")
    assert notice.ok, notice.missing
    assert notice.identity_withheld
    assert "notifier_name" not in notice.elements and "notifier_email" not in notice.elements
    assert "Grupo X <casos@grupo.example>" not in notice.body
    assert "16.2.c" in notice.body  # says why (Spanish: the family is in Spain)
    assert "https://fotos-falsas.example/galeria/123" in notice.body
    assert "buena fe" in notice.body
    assert notice.language == "es"


def test_a_dsa_notice_about_an_adult_names_the_notifier(org_x, coordinator, group_settings):
    adult = make_case(org_x, age_band="18_plus", filer_role="young_person")
    notice = draft(adult, "website", Basis.DSA, "fotos-falsas")
    assert notice.ok
    assert not notice.identity_withheld
    assert notice.elements["notifier_name"] == "Grupo X"
    assert notice.elements["notifier_email"] == "casos@grupo.example"


def test_it_names_each_missing_dsa_element_in_caseworker_words(org_x, coordinator):
    adult = make_case(org_x, age_band="18_plus")  # no group settings: no inbox
    notice = draft(adult, "website", Basis.DSA, "fotos-falsas")
    assert not notice.ok
    assert notice.missing == ["notifier_email"]
    assert notice.missing_labels == ["the notifier's email (your group's case inbox)"]


def test_it_names_each_missing_take_it_down_element(case):
    notice = draft(case, "instagram", Basis.TAKE_IT_DOWN, "instagram")
    assert notice.missing == ["signature"]
    assert "the parent's electronic signature" in notice.missing_labels


def test_a_complete_take_it_down_request_is_signed_by_the_parent(case, facts):
    notice = draft(case, "instagram", Basis.TAKE_IT_DOWN, "instagram")
    assert notice.ok, notice.missing
    assert "/s/ Ana Pérez Gómez" in notice.body
    assert "casos@grupo.example" in notice.body
    assert "48 horas" in notice.body
    # The signature is the only family detail TAKE IT DOWN needs; never their address.
    assert "madre.privada@example.org" not in notice.body


def test_it_names_each_missing_aepd_element(case):
    notice = draft(case, "aepd", Basis.AEPD, "instagram")
    assert set(notice.missing) == {"circumstances", "means_of_spread", "prior_actions"}
    assert "whether police or court action has been taken" in notice.missing_labels


def test_the_aepd_packet_lists_vulnerabilities_and_platform_attempts(case, facts, coordinator):
    dsa = services.prepare_notice(
        acting=coordinator,
        case=case,
        route=route("website", Basis.DSA),
        locations=[location_on(case, "fotos-falsas")],
        recipient="abuse@fotos-falsas.example",
    )
    Notice.objects.filter(pk=dsa.pk).update(state="sent", sent_at=dsa.created_at)
    notice = draft(case, "aepd", Basis.AEPD, "instagram")
    assert notice.ok, notice.missing
    assert "The person shown is a minor" in notice.elements["vulnerabilities"] or (
        "menor" in notice.elements["vulnerabilities"]
    )
    assert "Harassment" in notice.elements["vulnerabilities"] or (
        "Acoso" in notice.elements["vulnerabilities"]
    )
    assert "Website or host" in notice.elements["platform_attempts"]
    assert "Denuncia ante la Policía Nacional" in notice.body


def test_gdpr_and_search_notices_need_the_requesters_relationship_and_a_reason(case):
    for platform, basis in (("website", Basis.GDPR_ERASURE), ("google-search", "search_delisting")):
        notice = draft(case, platform, basis, "fotos-falsas")
        assert notice.ok, (basis, notice.missing)
        assert notice.elements["relationship"] in notice.body


def test_a_policy_notice_without_an_explanation_is_refused(case):
    from takedowns.models import NoticeTemplate

    template = NoticeTemplate.objects.get(basis="policy", language="es", is_current=True)
    template.statements = {k: v for k, v in template.statements.items() if "explanation" not in k}
    template.save()
    notice = draft(case, "tiktok", Basis.POLICY, "fotos-falsas", channel="web_form")
    assert notice.missing == ["explanation"]


def test_a_take_it_down_form_for_people_in_the_us_is_refused_for_a_spanish_family(case, facts):
    for platform in ("x", "discord"):
        notice = draft(case, platform, Basis.TAKE_IT_DOWN, "fotos-falsas")
        assert notice.refused == "not-eligible"
        assert "US" in builder.refusal_message(notice)


def test_telegrams_name_demand_is_flagged_not_filled(case):
    notice = draft(case, "telegram", Basis.DSA, "t.me")
    assert notice.ok
    assert "extra_demands" in notice.guard_flags
    assert "notifier_name" not in notice.elements
    assert "hotline" in builder.guard_message(notice, "extra_demands")


def test_a_rendered_notice_about_a_minor_carries_no_family_data(case, facts):
    for platform, basis, host in (
        ("website", Basis.DSA, "fotos-falsas"),
        ("instagram", Basis.TAKE_IT_DOWN, "instagram"),
        ("aepd", Basis.AEPD, "instagram"),
        ("snapchat", Basis.POLICY, "fotos-falsas"),
    ):
        notice = draft(case, platform, basis, host)
        assert "madre.privada@example.org" not in notice.body
        assert "Circula una foto falsa" not in notice.body  # the family's own words
        if basis != Basis.TAKE_IT_DOWN:
            assert "Ana Pérez" not in notice.body


def test_the_guard_refuses_text_that_carries_the_familys_address(case, facts, coordinator):
    services.save_case_facts(
        acting=coordinator,
        case=case,
        data={"circumstances": "Escriban a madre.privada@example.org para más datos."},
    )
    notice = draft(case, "aepd", Basis.AEPD, "instagram")
    assert "family_data_in_text" in notice.guard_flags
    assert not notice.ok


def test_nothing_is_prepared_without_the_familys_takedown_consent(case, facts):
    intake.withdraw_consent(case=case, kind=Consent.Kind.TAKEDOWN)
    notice = draft(case, "website", Basis.DSA, "fotos-falsas")
    assert notice.refused == "no-consent"


def test_english_is_used_where_the_route_does_not_read_spanish(case, facts):
    from takedowns.models import Route

    r = route("website", Basis.DSA)
    Route.objects.filter(pk=r.pk).update(languages=["en"])
    notice = draft(case, "website", Basis.DSA, "fotos-falsas")
    assert notice.language == "en"
    assert "good faith" in notice.body and "16(2)(c)" in notice.body
