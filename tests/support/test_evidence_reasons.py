"""Seeing or downloading evidence is a recorded decision with a reason someone chose."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from support import casework, events
from tests.factories import client_for
from tests.support.test_evidence_views import evidence, file_url  # noqa: F401
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_the_reveal_form_has_no_reason_chosen_in_advance(coordinator, evidence):  # noqa: F811
    case, context_file = evidence
    html = client_for(coordinator).get(file_url("file-reveal", case, context_file)).content.decode()
    reasons = re.findall(r'<input[^>]*name="reason"[^>]*>', html)
    assert len(reasons) == 4
    assert not [tag for tag in reasons if "checked" in tag]
    assert "<select" not in html


@pytest.mark.parametrize(
    ("language", "words"),
    [("en", "Choose why you need to see it."), ("es", "Elige por qué necesitas verlo.")],
)
def test_revealing_without_a_reason_is_refused_in_words(coordinator, evidence, language, words):  # noqa: F811
    case, context_file = evidence
    client = client_for(coordinator)
    response = client.post(
        file_url("file-reveal", case, context_file), {}, HTTP_ACCEPT_LANGUAGE=language
    )
    assert response.status_code == 200
    assert words in response.content.decode()
    assert not AuditEvent.objects.filter(event="evidence.revealed").exists()
    assert client.get(file_url("file-preview", case, context_file)).status_code == 403


def test_the_reveal_service_refuses_an_empty_or_unknown_reason(coordinator, evidence):  # noqa: F811
    case, context_file = evidence
    for reason in ("", "curiosity"):
        with pytest.raises(events.ServiceError):
            casework.record_reveal(
                actor=coordinator, case=case, context_file=context_file, reason=reason
            )
    assert not AuditEvent.objects.filter(event="evidence.revealed").exists()


def test_the_file_page_asks_for_a_reason_before_the_original_downloads(coordinator, evidence):  # noqa: F811
    case, context_file = evidence
    client = client_for(coordinator)
    page = client.get(file_url("file-reveal", case, context_file)).content.decode()
    download = file_url("file-download", case, context_file)
    assert f'action="{download}"' in page
    assert f'href="{download}"' not in page
    # A bare GET or a POST without a reason sends nothing and records nothing.
    for response in (client.get(download), client.post(download, {})):
        assert response.status_code == 200
        assert not response.has_header("Content-Disposition")
    assert not AuditEvent.objects.filter(event__in=["blob.downloaded", "evidence.downloaded"])
    response = client.post(download, {"download-reason": "police"})
    assert response["Content-Disposition"].startswith("attachment")
    event = AuditEvent.objects.get(event="evidence.downloaded")
    assert event.object_id == case.uuid
    assert event.data == {"file": str(context_file.uuid), "reason": "police"}


def test_every_download_appears_on_the_case_timeline_with_its_reason(coordinator, evidence):  # noqa: F811
    case, context_file = evidence
    client = client_for(coordinator)
    for _ in range(2):
        client.post(file_url("file-download", case, context_file), {"download-reason": "family"})
    with translation.override("en"):
        html = client.get(
            reverse("support:case-timeline", args=[case.organisation.uuid, case.uuid]),
            HTTP_ACCEPT_LANGUAGE="en",
        ).content.decode()
    timeline = html[html.index('id="timeline"') :]
    assert timeline.count("Original file downloaded") == 2
    assert timeline.count("The family asked me to check it") == 2


@pytest.mark.parametrize(
    ("language", "words", "raw"),
    [
        ("en", ["Comment in the file", "EXIF data", "No"], ["comment_present", "exif_present"]),
        ("es", ["Comentario en el archivo", "Datos EXIF", "No"], ["comment_present", "False"]),
    ],
)
def test_revealed_metadata_is_shown_in_words(coordinator, evidence, language, words, raw):  # noqa: F811
    case, context_file = evidence
    client = client_for(coordinator)
    client.post(file_url("file-reveal", case, context_file), {"reason": "triage"})
    html = client.get(
        file_url("file-reveal", case, context_file), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    facts = html[html.index('class="facts"') :]
    for word in words:
        assert word in facts
    for code in raw:
        assert code not in facts
    assert ">True<" not in facts and ">False<" not in facts


def test_every_metadata_key_the_vault_reports_has_words():
    from PIL import Image

    from support.views import METADATA_WORDS
    from vault.images import metadata_summary

    assert set(metadata_summary(Image.new("RGB", (2, 2)))) <= set(METADATA_WORDS)
