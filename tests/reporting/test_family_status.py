"""The status page tells a family what happens next, in Spanish dates; the wizard's count holds."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from support.models import Case
from tests.reporting.test_wizard import GOOD, submit, walk

pytestmark = pytest.mark.django_db

SEXTORTION = {**GOOD, "what": {"categories": ["sextortion"]}, "urgent": {}}


def signed_in(answers=GOOD) -> tuple[Client, Case]:
    reference, code = submit(walk(Client(), answers))
    family = Client()
    family.post(reverse("reporting:family-signin"), {"reference": reference, "code": code})
    return family, Case.objects.get(reference=reference)


def progress(client, step) -> str:
    html = client.get(reverse("reporting:step", args=[step])).content.decode()
    return re.search(r'<p class="progress">([^<]+)</p>', html).group(1)


def test_it_numbers_the_steps_the_same_whether_or_not_someone_asks_for_money(org_x):
    plain = walk(Client(), {"who": GOOD["who"], "what": GOOD["what"]})
    urgent = walk(Client(), {"who": GOOD["who"], "what": {"categories": ["sextortion"]}})
    assert progress(plain, "what") == progress(urgent, "what") == "Paso 2 de 7"
    assert progress(urgent, "urgent") == "Paso 2 de 7"
    assert progress(plain, "where") == progress(urgent, "where") == "Paso 3 de 7"
    assert progress(plain, "consent") == progress(urgent, "consent") == "Paso 6 de 7"


def test_it_writes_dates_the_spanish_way(org_x):
    family, _ = signed_in()
    html = family.get(reverse("reporting:status")).content.decode()
    months = "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre"
    months += "|diciembre"
    assert re.search(rf"\b\d{{1,2}} de ({months}) de \d{{4}}", html)
    assert not re.search(rf"\b\d{{1,2}} ({months}) \d{{4}}", html)


def test_it_says_an_urgent_case_is_urgent_and_when_to_expect_an_answer(org_x, settings):
    family, _ = signed_in(SEXTORTION)
    html = family.get(reverse("reporting:status")).content.decode()
    assert "Tu caso está marcado como urgente" in html
    assert "El grupo intenta responderte antes del" in html
    assert "017" in html


def test_it_promises_a_later_answer_for_a_case_that_is_not_urgent(org_x, settings):
    settings.FAMILY_REPLY_HOURS = 72
    family, case = signed_in()
    html = family.get(reverse("reporting:status")).content.decode()
    assert "urgente" not in html.split('id="next-title"')[1].split("</section>")[0]
    expected = timezone.localtime(case.created_at + timedelta(hours=72))
    assert f"antes del {expected.day} de" in html
    assert "No te enviaremos nada" in html
