"""Uploads that can be refused are refused at upload, with a clear, translated reason; files
the worker cannot open are reported to the family and to staff."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from support.models import Case, ContextFile, OutboxMessage
from support.tasks import process_evidence
from tests.factories import client_for
from tests.reporting.test_wizard import GOOD, submit, walk
from vault import images
from vault.models import AuditEvent, Blob
from vault.uploads import content_kind

pytestmark = pytest.mark.django_db


def png(size=(60, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def upload(client, name, data, content_type="application/octet-stream"):
    response = client.post(
        reverse("reporting:draft-upload"),
        {"files": [SimpleUploadedFile(name, data, content_type)]},
        HTTP_ACCEPT="application/json",
    )
    return response.status_code, response.json()["message"]


@pytest.fixture
def wizard(org_x):
    return walk(Client(), {"who": GOOD["who"], "what": GOOD["what"]})


def test_it_refuses_an_empty_file(wizard):
    status, message = upload(wizard, "captura.png", b"", "image/png")
    assert status == 400
    assert (
        message
        == "«captura.png» está vacío (0 bytes), así que no se ha guardado. Vuelve a elegirlo."
    )
    assert not ContextFile.objects.exists() and not Blob.objects.exists()


@pytest.mark.parametrize(
    "name,data",
    [
        ("foto.png", b"PK\x03\x04" + b"\x00" * 200),  # a ZIP named as a picture
        ("chat.txt", b"MZ\x90\x00" + b"\x00" * 200),  # a Windows program
        ("captura.jpg", b"<!DOCTYPE html><script>alert(1)</script>"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>'),
        ("capa.psd", b"8BPS" + b"\x00" * 200),
        ("video.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200),
    ],
)
def test_it_refuses_types_outside_the_allow_list_by_their_first_bytes(wizard, name, data):
    status, message = upload(wizard, name, data, "image/png")
    assert status == 400
    assert message.startswith(f"«{name}» no es una imagen, un PDF ni un archivo de texto")
    assert not ContextFile.objects.exists() and not Blob.objects.exists()


@pytest.mark.parametrize(
    "name,data",
    [
        ("captura.bin", png()),  # the name and declared type do not matter
        ("denuncia.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"),
        ("chat.txt", "[12/09/23] Ana: ¿quién lo ha mandado?\n".encode() * 30),
    ],
)
def test_it_accepts_pictures_pdfs_and_text_whatever_they_are_called(wizard, name, data):
    status, message = upload(wizard, name, data)
    assert status == 200, message
    assert ContextFile.objects.count() == 1


def test_it_refuses_a_picture_too_large_for_the_worker_to_open(wizard, monkeypatch):
    monkeypatch.setattr(images, "MAX_BYTES", 1000)
    status, message = upload(wizard, "enorme.png", png((400, 400)) + b"\x00" * 2000)
    assert status == 400 and "demasiado grande para una imagen" in message
    assert not ContextFile.objects.exists()


def test_it_names_the_kind_of_content_by_magic_number():
    assert content_kind(png()) == "image"
    assert content_kind(b"%PDF-1.4") == "pdf"
    assert content_kind("hola, ¿qué tal?".encode()) == "text"
    assert content_kind("¿qué".encode()[:-1]) == "text"  # cut inside a character
    assert content_kind(b"") is None
    assert content_kind(b"GIF89a" + b"\x00" * 10) == "image"
    assert content_kind(b"BM" + b"\x00" * 50) is None  # BMP: recognised, refused
    assert content_kind(b"\x7fELF\x02\x01") is None
    assert content_kind(b"hello\x00world") is None


@pytest.mark.django_db(transaction=True)
def test_the_family_and_staff_are_told_when_the_worker_cannot_open_a_file(org_x, coordinator):
    reference, code = submit(walk(Client()))
    family = Client()
    family.post(reverse("reporting:family-signin"), {"reference": reference, "code": code})
    damaged = png((300, 300))[:120]  # a PNG header with its pixels cut off
    family.post(
        reverse("reporting:family-upload"),
        {"files": [SimpleUploadedFile("rota.png", damaged, "image/png")]},
    )
    html = family.get(reverse("reporting:status")).content.decode()
    assert "El sistema del grupo aún lo está revisando" in html
    row = OutboxMessage.objects.get(task="support.process_evidence")
    process_evidence(outbox_id=str(row.uuid), **row.kwargs)
    context_file = ContextFile.objects.get()
    assert Blob.objects.get(pk=context_file.blob.pk).image_rejection == "corrupt"
    html = family.get(reverse("reporting:status")).content.decode()
    assert "no se ha podido abrir como imagen" in html

    case = Case.objects.get(reference=reference)
    staff = client_for(coordinator)
    args = {"org": case.organisation.uuid, "case": case.uuid}
    case_page = staff.get(reverse("support:case-evidence", kwargs=args)).content.decode()
    blurred = reverse("support:file-blurred", kwargs={**args, "file": context_file.uuid})
    assert blurred not in case_page
    assert "No se ha podido abrir" in case_page
    reveal = reverse("support:file-reveal", kwargs={**args, "file": context_file.uuid})
    page = staff.get(reveal).content.decode()
    assert "Dañado o incompleto" in page
    assert blurred not in page and 'name="reason"' not in page
    staff.post(reveal, {"reason": "understand", "note": ""})
    assert not AuditEvent.objects.filter(event="evidence.revealed").exists()
