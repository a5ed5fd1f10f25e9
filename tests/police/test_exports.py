"""Exporting a referred case: re-authenticate, state a purpose, watch the progress,
write down the passphrase shown once, download the AES-256 ZIP once, within 24 h."""

import csv
import hashlib
import io
import os
import time
import zipfile
from datetime import timedelta

import pytest
import pyzipper
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from police import exports, services, tasks
from police.models import Export
from support.models import OutboxMessage
from tests.factories import client_for
from tests.police.conftest import (
    CONTEXT_BYTES,
    CONTEXT_NAME,
    FAKE_IMAGE,
    FAKE_IMAGE_SHA256,
    reauthenticated,
    started_secrets,
)
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db


def export_url(case):
    return reverse("police:export", args=[case.organisation.uuid, case.uuid])


def start(client, case, purpose="investigation", detail="Diligencias 1234/2026"):
    response = client.post(export_url(case), {"purpose": purpose, "purpose_detail": detail})
    assert response.status_code == 200, response.content.decode()[:2000]
    passphrase, token = started_secrets(response.content.decode())
    return Export.objects.get(), passphrase, token, response


def run_outbox():
    for row in OutboxMessage.objects.filter(task="police.build_export", done_at=None):
        tasks.build_export(outbox_id=str(row.uuid), **row.kwargs)


def download(client, export, token):
    url = reverse("police:export-download", args=[export.case.organisation.uuid, export.uuid])
    return client.post(url, {"token": token})


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def open_zip(data: bytes, passphrase: str) -> dict[str, bytes]:
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        archive.setpassword(passphrase.encode())
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def built(liaison_a, referral, case, fake_bundle):
    client = reauthenticated(liaison_a)
    export, passphrase, token, _ = start(client, case)
    run_outbox()
    export.refresh_from_db()
    return client, export, passphrase, token


def test_exporting_needs_a_fresh_reauthentication(liaison_a, referral, case, fake_bundle):
    response = client_for(liaison_a).post(export_url(case), {"purpose": "investigation"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("account_reauthenticate"))
    assert not Export.objects.exists()
    assert not OutboxMessage.objects.filter(task="police.build_export").exists()


def test_a_purpose_must_be_stated(liaison_a, referral, case, fake_bundle):
    client = reauthenticated(liaison_a)
    for data in [{}, {"purpose": "other"}, {"purpose": "espionage"}]:
        response = client.post(export_url(case), data)
        assert response.status_code == 200 and "error-summary" in response.content.decode()
    assert not Export.objects.exists()


def test_the_task_carries_ids_only_and_the_passphrase_is_never_stored_in_clear(
    liaison_a, referral, case, fake_bundle
):
    export, passphrase, token, response = start(reauthenticated(liaison_a), case)
    row = OutboxMessage.objects.get(task="police.build_export")
    assert row.kwargs == {"export": str(export.uuid)}
    assert "no-store" in response["Cache-Control"]
    assert export.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert passphrase not in export.passphrase_sealed and export.passphrase_sealed
    run_outbox()
    export.refresh_from_db()
    assert export.state == "ready" and export.passphrase_sealed == ""
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(e)::text FROM police_export e")
        [(dumped,)] = cursor.fetchall()
    assert passphrase not in dumped and token not in dumped
    # 7 groups of 4 symbols from a 32-symbol alphabet: 140 bits.
    assert len(passphrase.replace("-", "")) == 28 and passphrase.count("-") == 6


def test_the_zip_opens_with_the_passphrase_and_not_without(built):
    client, export, passphrase, token = built
    response = download(client, export, token)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    data = body(response)
    entries = open_zip(data, passphrase)
    assert CONTEXT_BYTES in entries.values()
    with pytest.raises(RuntimeError):
        open_zip(data, "WRONG-PASS")
    with pytest.raises(RuntimeError):
        zipfile.ZipFile(io.BytesIO(data)).read("E001")
    index = {row[0]: row[1] for row in csv.reader(io.StringIO(entries["E000"].decode()))}
    manifest = next(entries[e] for e, path in index.items() if path == "manifest.json")
    assert hashlib.sha256(manifest).hexdigest() == export.manifest_sha256
    assert export.size == len(data)


def test_a_ready_export_is_identified_by_its_manifest_hash_and_keeps_no_zip_hash(built):
    """The ZIP is not hashed as written: the signed manifest's SHA-256 identifies the
    case file, and the former, always empty, ZIP hash column is gone."""
    _, export, _, _ = built
    assert export.state == Export.State.READY and len(export.manifest_sha256) == 64
    assert "sha256" not in {f.name for f in Export._meta.get_fields()}
    with connection.cursor() as cursor:
        table = connection.introspection.get_table_description(cursor, Export._meta.db_table)
    columns = {column.name for column in table}
    assert "manifest_sha256" in columns and "sha256" not in columns
    call_command("makemigrations", "police", "--check", "--dry-run", verbosity=0)


def test_zip_entry_names_leak_no_filenames_or_handles(built, case):
    client, export, passphrase, token = built
    data = body(download(client, export, token))
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()  # readable without the password
    assert sorted(names) == ["E000", "E001", "E002", "E003"]
    for secret in [CONTEXT_NAME, "captura", "sospechoso", "manifest", case.reference, ".png"]:
        assert secret.encode() not in data
    index = open_zip(data, passphrase)["E000"].decode()
    assert f"context/{CONTEXT_NAME}" in index and "manifest.json" in index


def test_the_zip_at_rest_is_not_plaintext_and_nothing_else_is_left(built, export_root):
    _client, export, _passphrase, _token = built
    on_disk = (export_root / export.file_path).read_bytes()
    assert b"CONTEXT-CANARY" not in on_disk and CONTEXT_NAME.encode() not in on_disk
    assert [p.name for p in export_root.rglob("*")] == [export.file_path]
    assert oct((export_root / export.file_path).stat().st_mode & 0o777) == "0o600"


def test_the_link_works_once(built, export_root):
    client, export, _passphrase, token = built
    assert download(client, export, token).status_code == 200
    second = download(client, export, token)
    assert second.status_code == 410
    assert "already downloaded" in second.content.decode() or "ya se descarg" in (
        second.content.decode()
    )
    assert list(export_root.glob("*.zip")) == []


def test_a_wrong_token_is_refused_and_spends_nothing(built):
    client, export, _passphrase, token = built
    assert download(client, export, "x" * 43).status_code == 403
    assert download(client, export, token).status_code == 200


def test_the_link_expires_after_its_lifetime(built, export_root):
    client, export, _passphrase, token = built
    Export.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert download(client, export, token).status_code == 410
    assert exports.expire_exports() == 1
    export.refresh_from_db()
    assert export.state == "expired" and list(export_root.glob("*.zip")) == []
    assert AuditEvent.objects.filter(event="police.export_expired").exists()


def _left_part(export, export_root, *, hours: float):
    """A half-written ZIP, as a worker killed mid-build leaves it, last written ``hours`` ago."""
    export_root.mkdir(parents=True, exist_ok=True)
    part = export_root / exports._part_name(export)
    part.write_bytes(b"PK\x03\x04 encrypted, and cut short")
    then = time.time() - hours * 3600
    os.utime(part, (then, then))
    return part


def test_a_half_written_zip_is_kept_while_its_export_is_building(liaison_a, referral, export_root):
    export = services.start_export(acting=liaison_a, referral=referral, purpose="atestado").export
    Export.objects.filter(pk=export.pk).update(state=Export.State.BUILDING)
    part = _left_part(export, export_root, hours=5)

    exports.expire_exports()

    assert part.exists()


@pytest.mark.parametrize("state", ["failed", "expired", "queued"])
def test_an_old_half_written_zip_no_build_owns_is_removed_by_the_expiry_task(
    state, liaison_a, referral, export_root
):
    export = services.start_export(acting=liaison_a, referral=referral, purpose="atestado").export
    Export.objects.filter(pk=export.pk).update(state=state)
    part = _left_part(export, export_root, hours=1)
    stranger = export_root / "notes.txt"
    stranger.write_text("not ours")
    os.utime(stranger, (time.time() - 86400, time.time() - 86400))

    tasks.expire_exports()

    assert not part.exists() and stranger.exists()
    assert Export.objects.get(pk=export.pk).state == state  # the row is not the sweep's


def test_a_fresh_half_written_zip_is_kept_even_if_no_build_owns_it(
    liaison_a, referral, export_root
):
    export = services.start_export(acting=liaison_a, referral=referral, purpose="atestado").export
    part = _left_part(export, export_root, hours=0.1)  # a build that just claimed it

    assert exports.sweep_export_parts() == 0
    assert part.exists()
    assert exports.sweep_export_parts(now=timezone.now() + exports.STALE_BUILD) == 1
    assert not part.exists()


def test_a_finished_zip_no_ready_export_names_is_removed_once_its_build_is_dead(
    liaison_a, referral, export_root
):
    # A worker killed after renaming the ZIP into place, before marking the export ready:
    # the row is still queued for its retry, and names no file.
    export = services.start_export(acting=liaison_a, referral=referral, purpose="atestado").export
    export_root.mkdir(parents=True, exist_ok=True)
    whole = export_root / exports._zip_name(export)
    whole.write_bytes(b"PK\x03\x04 encrypted, whole")
    then = time.time() - 3600
    os.utime(whole, (then, then))

    assert exports.sweep_export_parts() == 1
    assert not whole.exists()


def test_a_ready_exports_zip_is_kept_however_old_and_still_downloads(built, export_root):
    client, export, _passphrase, token = built
    assert export.state == Export.State.READY and export.file_path
    zip_path = export_root / export.file_path
    then = time.time() - 10 * 86400
    os.utime(zip_path, (then, then))

    assert exports.sweep_export_parts() == 0
    assert zip_path.exists()
    assert download(client, export, token).status_code == 200


def test_the_default_lifetime_is_24_hours(liaison_a, referral):
    export = services.start_export(acting=liaison_a, referral=referral, purpose="atestado").export
    assert timedelta(hours=23, minutes=59) < export.expires_at - export.created_at
    assert export.expires_at - export.created_at <= timedelta(hours=24)


def test_every_step_is_audited_on_the_case(built, case, liaison_a):
    client, export, _passphrase, token = built
    download(client, export, token)
    events = list(
        AuditEvent.objects.filter(object_id=case.uuid, event__startswith="police.export")
        .order_by("id")
        .values_list("event", "actor_ref")
    )
    assert [e for e, _ in events] == [
        "police.export_requested",
        "police.export_building",
        "police.export_ready",
        "police.export_downloaded",
    ]
    assert events[0][1] == events[3][1] == f"user:{liaison_a.user.pk}"
    opened = AuditEvent.objects.get(event="blob.opened", object_id=case.files.get().blob.uuid)
    assert opened.actor_role == "police_liaison"
    requested = AuditEvent.objects.get(event="police.export_requested")
    assert requested.data["purpose"] == "investigation" and "1234" not in str(requested.data)


def test_progress_is_reported_until_ready(liaison_a, referral, case, fake_bundle):
    client = reauthenticated(liaison_a)
    export, *_ = start(client, case)
    url = reverse("police:export-progress", args=[case.organisation.uuid, export.uuid])
    assert client.get(url).json() | {"label": ""} == {
        "state": "queued",
        "label": "",
        "percent": 0,
        "ready": False,
        "done": False,
    }
    run_outbox()
    data = client.get(url).json()
    assert data["state"] == "ready" and data["percent"] == 100 and data["ready"]


def test_the_fake_image_is_never_in_the_bundle(built):
    client, export, passphrase, token = built
    entries = open_zip(body(download(client, export, token)), passphrase)
    for content in entries.values():
        assert hashlib.sha256(content).hexdigest() != FAKE_IMAGE_SHA256
        assert FAKE_IMAGE[:40] not in content


def test_a_failing_writer_fails_the_export_cleanly(
    liaison_a, referral, case, monkeypatch, export_root
):
    from police import bundle_api

    def broken(**kwargs):
        kwargs["target"].open("half.txt").write_batch([b"CONTEXT-CANARY partial"])
        raise OSError("disk full")

    monkeypatch.setattr(bundle_api, "write_bundle", broken)
    export, *_ = start(reauthenticated(liaison_a), case)
    run_outbox()
    export.refresh_from_db()
    assert export.state == "failed" and export.error_code == "OSError"
    assert export.passphrase_sealed == ""
    assert not OutboxMessage.objects.filter(task="police.build_export", done_at=None).exists()
    assert not any(export_root.rglob("*.txt")) and not any(export_root.glob("*.zip*"))
    assert AuditEvent.objects.filter(event="police.export_failed").exists()


def test_running_the_task_twice_builds_once(built):
    _client, export, _passphrase, _token = built
    row = OutboxMessage.objects.get(task="police.build_export")
    assert row.done_at is not None
    tasks.build_export(outbox_id=str(row.uuid), **row.kwargs)
    tasks.build_export(**row.kwargs)  # a redelivery without its outbox row
    assert AuditEvent.objects.filter(event="police.export_building").count() == 1
    assert Export.objects.get(pk=export.pk).manifest_sha256 == export.manifest_sha256


def test_a_withdrawn_referral_stops_a_queued_export(
    liaison_a, referral, case, coordinator, fake_bundle
):
    export, *_ = start(reauthenticated(liaison_a), case)
    services.withdraw_referral(acting=coordinator, referral=referral)
    run_outbox()
    export.refresh_from_db()
    assert export.state == "failed" and export.error_code == "referral-withdrawn"
