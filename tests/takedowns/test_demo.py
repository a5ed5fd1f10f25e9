"""The `make run` demo: a case with three addresses (Instagram, Telegram, a website)
from which "prepare all" makes a DSA notice per address, the TAKE IT DOWN request
where a route applies and the AEPD packet."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from support.demo import DEMO_ORG
from support.models import Case, Membership
from takedowns import services
from takedowns.demo import DEMO_URLS
from takedowns.models import Notice

pytestmark = pytest.mark.django_db


def test_the_demo_case_prepares_dsa_take_it_down_and_aepd_notices_at_once(settings, tmp_path):
    settings.DEBUG = True
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())  # idempotent
    case = Case.objects.get(organisation__name=DEMO_ORG, takedown_facts__isnull=False)
    assert sorted(loc.value for loc in case.locations.all()) == sorted(DEMO_URLS)
    coordinator = Membership.objects.get(
        organisation=case.organisation, user__email="coordinadora@demo.amparo.test"
    )
    result = services.prepare_all(acting=coordinator, case=case)
    notices = Notice.objects.filter(case=case).select_related("platform")
    made = {(n.platform.slug, n.basis) for n in notices}
    assert {("instagram", "dsa"), ("telegram", "dsa"), ("fotos-clase-demo", "dsa")} <= made
    assert ("instagram", "take_it_down") in made
    assert any(basis == "aepd" for _slug, basis in made)
    assert result["made"] == len(notices)
    website = notices.get(platform__slug="fotos-clase-demo")
    assert website.channel == "email" and website.recipient == "abuse@fotos-clase-demo.example"
    assert all(n.body for n in notices)
