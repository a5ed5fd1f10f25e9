"""New copies of the image, fingerprinted on the status page: hashes only, matched as on intake."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from support.matching import match_case_now
from support.models import CaseLink, Fingerprint, OutboxMessage
from tests.reporting.test_wizard import GOOD, SHA, _signed_in, submit, walk
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db

NEW_SHA = "c" * 64
NEW_PDQ = "0f" * 32


def copies(*items) -> dict:
    return {"action": "fingerprints", "fingerprints": json.dumps(list(items))}


def fingerprint(sha=NEW_SHA, pdq=NEW_PDQ):
    return {"sha256": sha, "md5": "d" * 32, "pdq": pdq, "pdqQuality": 80, "pdqVersion": "pdq-1"}


def test_the_status_page_offers_a_fingerprint_picker_that_never_uploads(org_x):
    family, _ = _signed_in(org_x)
    html = family.get(reverse("reporting:status")).content.decode()
    assert "data-fingerprint-input" in html
    picker = html.split("data-fingerprint-input")[0].rsplit("<input", 1)[1]
    assert "name=" not in picker  # the chosen file is no form field: it is never sent


def test_a_family_adds_fingerprints_of_new_copies(org_x):
    family, case = _signed_in(org_x)
    response = family.post(reverse("reporting:status"), copies(fingerprint()))
    assert response.url == reverse("reporting:status")
    added = Fingerprint.objects.get(case=case, sha256=NEW_SHA)
    assert added.pdq == NEW_PDQ and added.pdq_quality == 80
    assert AuditEvent.objects.filter(event="case.fingerprints_added", object_id=case.uuid).exists()
    assert (
        OutboxMessage.objects.filter(
            task="support.match_case", kwargs={"case": str(case.uuid)}
        ).count()
        == 2
    )  # once on intake, once now
    html = family.get(reverse("reporting:status")).content.decode()
    assert "Añadiste huellas de nuevas copias de la imagen." in html


def test_fingerprints_already_in_the_case_are_not_added_twice(org_x):
    family, case = _signed_in(org_x)
    before = Fingerprint.objects.filter(case=case).count()
    family.post(reverse("reporting:status"), copies(fingerprint(sha=SHA)))
    assert Fingerprint.objects.filter(case=case).count() == before


@pytest.mark.parametrize(
    "data",
    [
        {"action": "fingerprints", "fingerprints": "[]"},
        {"action": "fingerprints", "fingerprints": "not json"},
        copies({"sha256": "zz", "md5": "d" * 32}),
    ],
)
def test_bad_or_missing_fingerprints_get_a_clear_error_and_change_nothing(org_x, data):
    family, case = _signed_in(org_x)
    before = Fingerprint.objects.filter(case=case).count()
    response = family.post(reverse("reporting:status"), data)
    assert response.status_code == 200
    assert "Hay un problema" in response.content.decode()
    assert Fingerprint.objects.filter(case=case).count() == before


def test_a_new_copy_links_the_case_to_another_family_with_the_same_image(org_x):
    other_answers = {
        **GOOD,
        "involved": {"platform": "", "handles": "", "phones": ""},
        "evidence": {"fingerprints": json.dumps([fingerprint()])},
    }
    submit(walk(Client(), other_answers))
    family, case = _signed_in(org_x)
    CaseLink.objects.all().delete()
    family.post(reverse("reporting:status"), copies(fingerprint()))
    match_case_now(case)
    assert CaseLink.objects.filter(kind="image").count() == 1


def test_adding_fingerprints_needs_a_signed_in_family():
    response = Client().post(reverse("reporting:status"), copies(fingerprint()))
    assert response.url == reverse("reporting:family-signin")
    assert not Fingerprint.objects.exists()
