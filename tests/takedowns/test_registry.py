"""The platform registry: seeded from the facts file, with routes, jurisdictions and staleness."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from takedowns.models import Basis, Channel, NoticeTemplate, Platform, Route

pytestmark = pytest.mark.django_db

SEEDED = {
    "whatsapp",
    "telegram",
    "instagram",
    "facebook",
    "threads",
    "tiktok",
    "snapchat",
    "x",
    "youtube",
    "google-search",
    "bing",
    "reddit",
    "discord",
    "pornhub",
    "xvideos",
    "onlyfans",
    "aepd",
    "incibe",
    "website",
}


def test_it_seeds_every_platform_the_facts_file_names():
    shared = set(Platform.objects.filter(organisation=None).values_list("slug", flat=True))
    assert shared >= SEEDED
    assert Platform.objects.get(slug="aepd").kind == "regulator"
    assert Platform.objects.get(slug="incibe").kind == "hotline"


def test_it_limits_the_x_and_discord_take_it_down_forms_to_the_us():
    for slug in ("x", "discord"):
        route = Route.objects.get(platform__slug=slug, basis=Basis.TAKE_IT_DOWN)
        assert route.eligible_jurisdictions == ["US"]
        assert not route.accepts(["ES"])
        assert route.accepts(["us"])
        assert route.deadline_hours == 48


def test_it_records_telegrams_name_demand_and_discords_one_item_rule():
    telegram = Route.objects.get(platform__slug="telegram", basis=Basis.DSA)
    assert telegram.channel == Channel.WEB_FORM
    assert "notifier_name" in telegram.extra_demands
    assert all(r.one_item_per_report for r in Route.objects.filter(platform__slug="discord"))


def test_it_records_hash_programme_membership():
    assert set(Platform.objects.get(slug="instagram").hash_programmes) == {
        "stopncii",
        "take_it_down",
    }
    assert Platform.objects.get(slug="telegram").hash_programmes == []


def test_a_row_unverified_for_90_days_is_stale():
    platform = Platform.objects.get(slug="tiktok")
    today = date(2027, 1, 1)
    platform.last_verified = today - timedelta(days=90)
    assert not platform.is_stale(today)
    platform.last_verified = today - timedelta(days=91)
    assert platform.is_stale(today)
    platform.last_verified = None
    assert platform.is_stale(today)


def test_every_basis_has_a_current_template_in_spanish_and_english():
    for basis in Basis.values:
        for language in ("es", "en"):
            assert NoticeTemplate.objects.filter(
                basis=basis, language=language, is_current=True
            ).exists()
