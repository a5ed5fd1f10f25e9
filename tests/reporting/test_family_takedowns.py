"""The family's status page shows each removal request in plain words with its dates;
never a draft, a withdrawn request or another family's."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from reporting.forms import submission
from support import intake
from takedowns import services
from takedowns.models import Basis, Notice
from tests.takedowns.helpers import URLS, location_on, make_case, route

pytestmark = pytest.mark.django_db

HOSTS = {"website": "fotos-falsas", "telegram": "t.me", "instagram": "instagram"}
MARCH_3 = timezone.make_aware(datetime(2026, 3, 3, 11, 0))
MARCH_4 = timezone.make_aware(datetime(2026, 3, 4, 9, 30))


def family_case(org):
    answers = {
        "who": {"filer_role": "parent", "age_band": "14_15", "contact_preference": "in_app"},
        "what": {"categories": ["fake_images"], "narrative": "Circula una foto falsa."},
        "where": {"urls": list(URLS), "groups": []},
        "consent": {"takedown": True},
    }
    case, code = intake.submit_report(
        organisation=org, incident=None, submission=submission(answers)
    )
    family = Client()
    family.post(reverse("reporting:family-signin"), {"reference": case.reference, "code": code})
    return family, case


def recorded(coordinator, case, platform, basis):
    notice = services.prepare_notice(
        acting=coordinator,
        case=case,
        route=route(platform, basis),
        locations=[location_on(case, HOSTS[platform])],
        recipient="abuse@fotos-falsas.example",
    )
    return notice


@pytest.fixture
def notices(org_x, coordinator):
    services.save_settings(acting=coordinator, data={"inbox_email": "casos@grupo.example"})
    family, case = family_case(org_x)
    removed = recorded(coordinator, case, "website", Basis.DSA)
    services.send_notice(acting=coordinator, notice=removed)
    services.deliver(str(removed.uuid))
    services.log_reply(acting=coordinator, notice=removed, text="Hecho.", outcome="removed")
    Notice.objects.filter(pk=removed.pk).update(sent_at=MARCH_3, removed_at=MARCH_4)
    draft = recorded(coordinator, case, "telegram", Basis.DSA)
    withdrawn = recorded(coordinator, case, "instagram", Basis.DSA)
    services.change_state(acting=coordinator, notice=withdrawn, state="withdrawn")
    other_case = make_case(org_x)
    other = recorded(coordinator, other_case, "telegram", Basis.DSA)
    services.record_submission(acting=coordinator, notice=other, ticket="T-9")
    return family, {"removed": removed, "draft": draft, "withdrawn": withdrawn}


def status_page(family, language):
    return family.get(reverse("reporting:status"), HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_it_tells_the_family_in_spanish_when_a_request_was_sent_and_when_it_was_removed(notices):
    family, _ = notices
    html = status_page(family, "es")
    assert "Solicitudes para retirar las imágenes" in html
    assert (
        "Pedimos a la web donde apareció que lo retirara el 3 de marzo de 2026; "
        "se retiró el 4 de marzo de 2026."
    ) in html


def test_it_tells_the_family_in_english_too(notices):
    family, _ = notices
    html = status_page(family, "en")
    assert "Requests to remove the images" in html
    assert (
        "We asked the website where it appeared to remove it on March 3, 2026; "
        "removed on March 4, 2026."
    ) in html


def test_it_shows_no_draft_no_withdrawn_request_and_nothing_of_another_family(notices):
    family, _ = notices
    html = status_page(family, "en")
    section = html.split("Requests to remove the images")[1].split("</section>")[0]
    assert section.count("<li>") == 1  # only the removed one
    assert "Telegram" not in section  # a draft here, and the other family's was sent
    assert "Instagram" not in section  # withdrawn
