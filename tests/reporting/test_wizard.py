import json
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from reporting.status import FAMILY_WORDS
from support.matching import match_case_now
from support.models import (
    Case,
    CaseLink,
    Consent,
    Fingerprint,
    Identifier,
    Location,
    Message,
    Priority,
    ReportDraft,
)
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db

SHA = "a" * 64
PDQ = "f" * 64

GOOD = {
    "who": {"filer_role": "parent", "age_band": "14_15", "contact_preference": "in_app"},
    "what": {"categories": ["fake_images", "shared_group"], "narrative": "Compañeros de clase."},
    "where": {
        "platforms": ["whatsapp", "telegram"],
        "urls": "https://www.instagram.com/p/AbC123/?igsh=xyz\nt.me/s/canalmalo",
        "groups": "https://chat.whatsapp.com/AbCdEfGh123",
    },
    "involved": {"platform": "telegram", "handles": "@Sospechoso_1", "phones": "612 34 56 78"},
    "evidence": {
        "fingerprints": json.dumps(
            [{"sha256": SHA, "md5": "b" * 32, "pdq": PDQ, "pdqQuality": 90, "pdqVersion": "pdq-1"}]
        )
    },
    "consent": {"takedown": "on", "hash_sharing": "on", "contact": "on", "assent": "yes"},
}


def walk(client: Client, answers=GOOD, org=None) -> Client:
    """Go through the wizard as a family would, step by step, following redirects."""
    response = client.get(reverse("reporting:report"))
    if response.url == reverse("reporting:choose-group"):
        client.post(response.url, {"group": str(org.uuid)})
    for step, data in answers.items():
        response = client.post(reverse("reporting:step", args=[step]), data)
        assert response.status_code == 302, (step, response.content.decode()[:3000])
    return client


def submit(client: Client) -> tuple[str, str]:
    response = client.post(reverse("reporting:check"), {"website": ""})
    assert response.url == reverse("reporting:receipt")
    html = client.get(reverse("reporting:receipt")).content.decode()
    reference = re.search(r"AMP-[0-9A-Z]{8}", html).group(0)
    code = "".join(re.findall(r'<span class="code-group">([0-9A-Z]{4})</span>', html))
    return reference, code


def test_a_parent_files_a_full_report_and_gets_a_receipt(org_x):
    client = walk(Client())
    check = client.get(reverse("reporting:check")).content.decode()
    assert "instagram.com/p/AbC123" in check and "igsh" not in check
    reference, code = submit(client)
    case = Case.objects.get(reference=reference)
    assert case.organisation == org_x
    assert case.narrative == "Compañeros de clase."
    assert "Compañeros" not in case.narrative_sealed  # encrypted at rest
    assert (
        sorted(loc.value for loc in case.locations.all())
        == [
            "https://chat.whatsapp.com/AbCdEfGh123",
            "https://t.me/canalmalo",
            "https://instagram.com/p/AbC123",
        ]
        or len(case.locations.all()) == 3
    )
    assert {i.value for i in case.identifiers.all()} == {"sospechoso_1", "+34612345678"}
    assert Fingerprint.objects.get(case=case).pdq == PDQ
    assert {c.kind for c in Consent.objects.filter(case=case, given=True)} == {
        "takedown",
        "hash_sharing",
        "contact",
        "assent",
    }
    assert len(code) == 16
    assert code not in case.access_code_hash
    assert not ReportDraft.objects.exists()  # the draft is gone once sent
    assert AuditEvent.objects.filter(event="case.submitted", object_id=case.uuid).exists()


def test_the_access_code_is_shown_once(org_x):
    client = walk(Client())
    submit(client)
    response = client.post(reverse("reporting:receipt"), {"saved": "yes"})
    assert response.url == reverse("reporting:receipt-done")
    assert client.get(reverse("reporting:receipt")).url == reverse("reporting:family-signin")


def test_the_receipt_must_be_confirmed_as_saved(org_x):
    client = walk(Client())
    submit(client)
    response = client.post(reverse("reporting:receipt"), {})
    assert response.status_code == 200
    assert "field-error" in response.content.decode()


def test_the_receipt_download_has_no_case_content(org_x):
    client = walk(Client())
    reference, code = submit(client)
    response = client.get(reverse("reporting:receipt-download"))
    body = response.content.decode()
    assert response["Content-Disposition"].startswith("attachment")
    assert reference in body and code[:4] in body
    assert "Compañeros" not in body and "instagram" not in body


def test_sextortion_adds_the_urgent_step_and_marks_the_case_urgent(org_x):
    answers = dict(GOOD)
    answers["what"] = {"categories": ["sextortion"], "narrative": ""}
    answers = {
        **{k: v for k, v in answers.items() if k in ("who", "what")},
        "urgent": {
            "payments": "ES91 2100 0418 4502 0005 1332",
            "demanding_platform": "instagram",
            "demanding_handle": "@Extorsion.Falsa",
        },
        **{k: v for k, v in answers.items() if k not in ("who", "what")},
    }
    client = Client()
    client.get(reverse("reporting:report"))
    client.post(reverse("reporting:step", args=["who"]), answers["who"])
    response = client.post(reverse("reporting:step", args=["what"]), answers["what"])
    assert response.url == reverse("reporting:step", args=["urgent"])
    page = client.get(response.url).content.decode()
    assert "017" in page
    for step in ["urgent", "where", "involved", "evidence", "consent"]:
        assert client.post(reverse("reporting:step", args=[step]), answers[step]).status_code == 302
    reference, _ = submit(client)
    case = Case.objects.get(reference=reference)
    assert case.is_sextortion and case.priority == Priority.URGENT
    demanding = Identifier.objects.filter(case=case, is_demanding_party=True)
    assert {i.value for i in demanding} == {"ES91 2100 0418 4502 0005 1332", "extorsion.falsa"}


BAD_INPUT = [
    ("who", {}, "filer_role"),
    ("who", {**GOOD["who"], "contact_preference": "email", "contact": "not-an-email"}, "contact"),
    ("who", {**GOOD["who"], "contact_preference": "phone", "contact": "12"}, "contact"),
    ("who", {**GOOD["who"], "age_band": "<script>"}, "age_band"),
    ("what", {"categories": []}, "categories"),
    ("what", {"categories": ["fake_images"], "narrative": "x" * 5001}, "narrative"),
    ("where", {"urls": "javascript:alert(1)"}, "urls"),
    ("where", {"urls": "http://127.0.0.1/admin"}, "urls"),
    ("where", {"urls": "\n".join(f"https://e.com/{i}" for i in range(21))}, "urls"),
    ("where", {}, None),
    ("involved", {"platform": "telegram", "handles": "no"}, "handles"),
    ("involved", {"phones": "123"}, "phones"),
    ("evidence", {"fingerprints": "not json"}, "fingerprints"),
    ("evidence", {"fingerprints": json.dumps([{"sha256": "zz", "md5": "b" * 32}])}, "fingerprints"),
    (
        "evidence",
        {
            "fingerprints": json.dumps(
                [{"sha256": SHA, "md5": "b" * 32, "pdq": PDQ, "pdqQuality": 900}]
            )
        },
        "fingerprints",
    ),
    ("consent", {"takedown": "on"}, "assent"),
]


@pytest.mark.parametrize(("step", "data", "field"), BAD_INPUT)
def test_bad_input_gets_a_clear_error_and_changes_nothing(org_x, step, data, field):
    client = walk(
        Client(), {k: v for k, v in GOOD.items() if list(GOOD).index(k) < list(GOOD).index(step)}
    )
    draft_before = ReportDraft.objects.get().answers
    response = client.post(reverse("reporting:step", args=[step]), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "error-summary" in html
    if field:
        assert f'href="#id_{field}"' in html
    assert ReportDraft.objects.get().answers == draft_before
    assert not Case.objects.exists()


def test_script_payloads_are_stored_as_text_and_escaped(org_x):
    payload = '<script>alert("x")</script>'
    answers = {**GOOD, "what": {"categories": ["other"], "narrative": payload}}
    client = walk(Client(), answers)
    check = client.get(reverse("reporting:check")).content.decode()
    assert payload not in check and "&lt;script&gt;" in check
    reference, _ = submit(client)
    assert Case.objects.get(reference=reference).narrative == payload


def test_the_honeypot_stores_nothing(org_x):
    client = walk(Client())
    response = client.post(reverse("reporting:check"), {"website": "http://spam"})
    assert response.url == reverse("reporting:start")
    assert not Case.objects.exists()


def test_without_a_single_organisation_the_family_chooses_one(org_x, org_y):
    client = Client()
    response = client.get(reverse("reporting:report"))
    assert response.url == reverse("reporting:choose-group")
    assert client.post(response.url, {}).status_code == 200  # nothing chosen: an error
    walk(client, GOOD, org=org_y)
    reference, _ = submit(client)
    assert Case.objects.get(reference=reference).organisation == org_y


def _signed_in(org_x) -> tuple[Client, Case]:
    client = walk(Client())
    reference, code = submit(client)
    family = Client()
    response = family.post(
        reverse("reporting:family-signin"), {"reference": reference.lower(), "code": code}
    )
    assert response.url == reverse("reporting:status")
    return family, Case.objects.get(reference=reference)


def test_a_family_returns_with_the_receipt_and_sees_the_status(org_x):
    family, case = _signed_in(org_x)
    html = family.get(reverse("reporting:status")).content.decode()
    assert case.reference in html
    with translation.override("es"):
        assert str(FAMILY_WORDS["case.submitted"]) in html


def test_a_family_sends_a_message(org_x):
    family, case = _signed_in(org_x)
    response = family.post(reverse("reporting:status"), {"action": "message", "body": "Hola"})
    assert response.status_code == 302
    assert Message.objects.get(case=case).body == "Hola"
    assert (
        family.post(reverse("reporting:status"), {"action": "message", "body": ""}).status_code
        == 200
    )
    assert Message.objects.filter(case=case).count() == 1


def test_a_family_adds_links_and_duplicates_are_ignored(org_x):
    family, case = _signed_in(org_x)
    before = case.locations.count()
    family.post(
        reverse("reporting:status"),
        {"action": "links", "urls": "https://t.me/canalmalo\nhttps://x.com/otro/status/1"},
    )
    assert Location.objects.filter(case=case).count() == before + 1


def test_a_family_withdraws_a_consent(org_x):
    family, case = _signed_in(org_x)
    family.post(reverse("reporting:permission", args=["takedown"]), {"decision": "withdraw"})
    latest = Consent.objects.filter(case=case, kind="takedown").last()
    assert latest.given is False
    assert Consent.objects.filter(case=case, kind="takedown").count() == 2  # history kept


def test_a_family_asks_for_erasure(org_x):
    family, case = _signed_in(org_x)
    family.post(reverse("reporting:erasure"), {"confirm": "yes"})
    case.refresh_from_db()
    assert case.erasure_requested_at is not None
    assert AuditEvent.objects.filter(event="case.erasure_requested", object_id=case.uuid).exists()


def test_the_status_page_needs_a_signed_in_family():
    assert Client().get(reverse("reporting:status")).url == reverse("reporting:family-signin")


def test_matching_links_two_families_with_the_same_image_and_account(org_x):
    first = walk(Client())
    ref_a, _ = submit(first)
    second = walk(Client())
    ref_b, _ = submit(second)
    a, b = Case.objects.get(reference=ref_a), Case.objects.get(reference=ref_b)
    match_case_now(b)
    kinds = set(CaseLink.objects.values_list("kind", flat=True))
    assert kinds == {"image", "account"}
    assert CaseLink.objects.get(kind="image").distance == 0
    assert {CaseLink.objects.first().case_a_id, CaseLink.objects.first().case_b_id} == {a.id, b.id}


def test_a_report_sent_while_redis_is_down_is_saved_and_processed_later(
    org_x, local_services, django_capture_on_commit_callbacks
):
    from support import outbox
    from support.models import OutboxMessage

    client = walk(Client())
    local_services.redis.stop()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("reporting:check"), {"website": ""})
        assert response.url == reverse("reporting:receipt")
        case = Case.objects.get()
        row = OutboxMessage.objects.get(task="support.match_case")
        assert row.kwargs == {"case": str(case.uuid)} and row.dispatched_at is None
    finally:
        local_services.redis.start()
    assert outbox.sweep() == 1
    row.refresh_from_db()
    assert row.dispatched_at is not None


def test_answers_to_a_step_that_no_longer_applies_are_not_sent(org_x):
    client = Client()
    client.get(reverse("reporting:report"))
    client.post(reverse("reporting:step", args=["who"]), GOOD["who"])
    client.post(reverse("reporting:step", args=["what"]), {"categories": ["sextortion"]})
    client.post(reverse("reporting:step", args=["urgent"]), {"payments": "ES91 2100 0418 4502"})
    # The family goes back and says nobody asked for money after all.
    client.post(reverse("reporting:step", args=["what"]), {"categories": ["fake_images"]})
    for step in ["where", "involved", "evidence", "consent"]:
        client.post(reverse("reporting:step", args=[step]), GOOD[step])
    reference, _ = submit(client)
    case = Case.objects.get(reference=reference)
    assert not case.is_sextortion
    assert not case.identifiers.filter(kind="payment").exists()
