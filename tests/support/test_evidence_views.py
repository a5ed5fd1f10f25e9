"""Staff and evidence: blurred by default, revealed deliberately, never served inline."""

import io

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from support.models import Case, ContextFile, Role
from tests.factories import client_for, make_member
from tests.reporting.test_wizard import submit, walk
from vault import services as vault_services
from vault.audit import Actor
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def evidence(org_x):
    reference, _ = submit(walk(Client(), org=org_x))
    case = Case.objects.get(reference=reference)
    buf = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 30, 30)).save(buf, "PNG")
    polyglot = buf.getvalue() + b"<html><script>alert(1)</script></html>"
    blob = vault_services.store_stream(
        [polyglot], actor=Actor.family(case.uuid), filename="captura.png", content_type="text/html"
    )
    vault_services.process_image(blob.uuid)
    return case, ContextFile.objects.create(case=case, blob=blob)


def file_url(name, case, context_file):
    return reverse(
        f"support:{name}",
        kwargs={"org": case.organisation.uuid, "case": case.uuid, "file": context_file.uuid},
    )


def test_the_case_page_shows_only_the_blurred_image(coordinator, evidence):
    case, context_file = evidence
    html = (
        client_for(coordinator)
        .get(reverse("support:case-evidence", args=[case.organisation.uuid, case.uuid]))
        .content.decode()
    )
    assert file_url("file-blurred", case, context_file) in html
    assert file_url("file-preview", case, context_file) not in html
    response = client_for(coordinator).get(file_url("file-blurred", case, context_file))
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content).startswith(b"\xff\xd8")


def test_the_full_preview_needs_a_recorded_reveal_with_a_reason(coordinator, evidence):
    case, context_file = evidence
    client = client_for(coordinator)
    assert client.get(file_url("file-preview", case, context_file)).status_code == 403
    assert client.post(file_url("file-reveal", case, context_file), {}).status_code == 200
    assert not AuditEvent.objects.filter(event="evidence.revealed").exists()
    client.post(file_url("file-reveal", case, context_file), {"reason": "takedown"})
    event = AuditEvent.objects.get(event="evidence.revealed")
    assert event.data == {"file": str(context_file.uuid), "reason": "takedown"}
    assert event.actor_ref == f"user:{coordinator.user.pk}"
    response = client.get(file_url("file-preview", case, context_file))
    assert response.status_code == 200
    assert AuditEvent.objects.filter(event="blob.revealed").exists()


def test_the_original_is_never_inline_and_only_for_coordinators(coordinator, caseworker, evidence):
    case, context_file = evidence
    response = client_for(coordinator).post(
        file_url("file-download", case, context_file), {"download-reason": "police"}
    )
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"].startswith("sandbox")
    assert b"<script>" in b"".join(response.streaming_content)  # bit-identical original
    assert AuditEvent.objects.filter(event="blob.downloaded").exists()
    assert (
        client_for(caseworker).get(file_url("file-download", case, context_file)).status_code == 403
    )
    download = client_for(caseworker).post(
        file_url("file-download", case, context_file), {"download-reason": "police"}
    )
    assert download.status_code == 403


@pytest.mark.parametrize("name", ["file-blurred", "file-reveal", "file-preview", "file-download"])
def test_evidence_routes_are_404_for_another_organisation(name, evidence, org_y):
    case, context_file = evidence
    outsider = make_member(org_y, Role.COORDINATOR)
    assert client_for(outsider).get(file_url(name, case, context_file)).status_code == 404


@pytest.mark.parametrize("name", ["file-blurred", "file-reveal", "file-preview", "file-download"])
def test_evidence_routes_are_403_for_the_police_liaison_here(name, evidence, police_liaison):
    case, context_file = evidence
    assert client_for(police_liaison).get(file_url(name, case, context_file)).status_code == 403


def test_destroying_the_case_shreds_its_files(coordinator, evidence):
    from support import casework, intake

    case, context_file = evidence
    blob = context_file.blob
    intake.request_erasure(case=case)
    casework.decide_erasure(actor=coordinator, case=case, approve=True)
    blob.refresh_from_db()
    assert blob.state == "destroyed" and blob.wrapped_dek is None
    with pytest.raises(vault_services.BlobUnavailable):
        vault_services.open_blob(blob, actor=Actor.system("t"), purpose="open")


def test_the_staff_timeline_words_every_event_it_shows(coordinator, evidence):
    """No raw event code (say "case.labels_changed") ever reaches a staff member."""
    import re

    from support import casework, intake

    case, context_file = evidence
    client = client_for(coordinator)
    client.post(file_url("file-reveal", case, context_file), {"reason": "triage"})
    casework.set_labels(actor=coordinator, case=case, labels=["colegio"])
    casework.change_status(actor=coordinator, case=case, status="triaged")
    casework.add_note(actor=coordinator, case=case, body="n", shared=True)
    casework.reply_to_family(actor=coordinator, case=case, body="r")
    intake.add_family_links(case=case, urls=["https://t.me/otro"])
    intake.withdraw_consent(case=case, kind="takedown")
    intake.request_erasure(case=case)
    html = client.get(
        reverse("support:case-timeline", args=[case.organisation.uuid, case.uuid])
    ).content.decode()
    timeline = html[html.index('id="timeline"') :]
    assert (
        re.findall(r"\b(?:case|message|note|task|referral|consent|evidence)\.[a-z_]+\b", timeline)
        == []
    )
