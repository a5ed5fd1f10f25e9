"""Context files sent by families: encrypted on arrival, attached on submission."""

import io
import os

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from support.models import Case, ContextFile, OutboxMessage
from tests.reporting.test_wizard import GOOD, submit, walk

pytestmark = pytest.mark.django_db

CANARY = b"AMPARO-CANARY-7f3e9c1d"


def screenshot_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (300, 600), (240, 240, 240)).save(buf, "PNG")
    return buf.getvalue()


def big_file() -> bytes:
    # > 2.5 MiB, so Django's default handlers would have spooled it to a temp file.
    return os.urandom(1024) + CANARY + os.urandom(3 * 1024 * 1024)


def big_chat_export() -> bytes:
    # > 2.5 MiB of plain text, as a chat export is: a context file we accept.
    line = "[12/09/23 10:00] Ana: ¿Quién ha mandado esto al grupo?\n".encode()
    return line * 20_000 + CANARY + line * 40_000


def scan_for_canary(root) -> list[str]:
    hits = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            try:
                with open(path, "rb") as fh:
                    if CANARY in fh.read():
                        hits.append(path)
            except OSError:
                continue
    return hits


def test_files_sent_in_the_wizard_are_encrypted_and_attached_to_the_case(org_x):
    client = walk(Client(), {k: v for k, v in GOOD.items() if k != "consent"})
    response = client.post(
        reverse("reporting:draft-upload"),
        {
            "files": [
                SimpleUploadedFile("chat.png", screenshot_bytes(), "image/png"),
                SimpleUploadedFile("amenaza.txt", big_chat_export(), "text/plain"),
            ]
        },
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["files"] == ["chat.png", "amenaza.txt"]
    assert scan_for_canary(settings.EVIDENCE_ROOT) == []
    client.post(reverse("reporting:step", args=["consent"]), GOOD["consent"])
    check = client.get(reverse("reporting:check")).content.decode()
    assert "chat.png" in check and "amenaza.txt" in check
    reference, _ = submit(client)
    case = Case.objects.get(reference=reference)
    assert sorted(f.blob.filename() for f in case.files.all()) == ["amenaza.txt", "chat.png"]
    assert OutboxMessage.objects.filter(task="support.process_evidence").count() == 2


def test_without_javascript_the_upload_redirects_back_with_a_message(org_x):
    client = walk(Client(), {k: v for k, v in GOOD.items() if k in ("who", "what", "where")})
    response = client.post(
        reverse("reporting:draft-upload"),
        {"files": [SimpleUploadedFile("chat.png", screenshot_bytes(), "image/png")]},
    )
    assert response.url == reverse("reporting:step", args=["evidence"])
    assert ContextFile.objects.count() == 1


def test_an_oversize_file_is_refused_and_nothing_is_kept(org_x, settings):
    settings.EVIDENCE_MAX_FILE_BYTES = 1024 * 1024
    client = walk(Client(), {k: v for k, v in GOOD.items() if k in ("who", "what")})
    response = client.post(
        reverse("reporting:draft-upload"),
        {"files": [SimpleUploadedFile("big.bin", big_file(), "application/octet-stream")]},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert "1" in response.json()["message"]
    assert not ContextFile.objects.exists()
    assert scan_for_canary(settings.EVIDENCE_ROOT) == []


def test_an_upload_without_files_is_a_clear_error(org_x):
    client = walk(Client(), {k: v for k, v in GOOD.items() if k in ("who",)})
    response = client.post(reverse("reporting:draft-upload"), {}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and response.json()["message"]


@pytest.mark.django_db(transaction=True)
def test_a_signed_in_family_adds_a_file_later_and_it_is_processed(org_x):
    client = walk(Client())
    reference, code = submit(client)
    family = Client()
    family.post(reverse("reporting:family-signin"), {"reference": reference, "code": code})
    # A real commit (transactional test): the ciphertext is kept once it commits.
    response = family.post(
        reverse("reporting:family-upload"),
        {"files": [SimpleUploadedFile("perfil.png", screenshot_bytes(), "image/png")]},
    )
    assert response.url == reverse("reporting:status")
    assert "Enviaste más archivos." in family.get(reverse("reporting:status")).content.decode()
    context_file = ContextFile.objects.get()
    row = OutboxMessage.objects.get(task="support.process_evidence")
    from support.tasks import process_evidence

    process_evidence(outbox_id=str(row.uuid), **row.kwargs)
    blob = context_file.blob
    blob.refresh_from_db()
    kinds = set(blob.derivatives.values_list("kind", flat=True))
    assert kinds == {"preview", "blurred"}
    assert len(blob.pdq_hash) == 64


def test_uploads_need_a_draft_or_a_signed_in_family():
    assert Client().post(reverse("reporting:family-upload")).url == reverse(
        "reporting:family-signin"
    )
    assert Client().post(reverse("reporting:draft-upload")).url == reverse("reporting:report")
