"""The store sweeper (vault/sweep.py): what a killed process left goes, evidence stays."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from amparo.celery import app
from vault import services, storage, sweep, tasks
from vault.models import AuditEvent, Blob

pytestmark = pytest.mark.django_db

DAY = 24 * 3600
COUNTS = {"partials_removed", "orphans_removed", "with_row", "recent", "unrecognised", "failed"}


def read_blob(blob: Blob) -> bytes:
    stream = services.open_blob(blob, actor=services.Actor.system("tests"), purpose="open")
    with contextlib.closing(stream):
        return b"".join(stream)


def age(path, seconds: float) -> None:
    """Make a file look as if last written ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def orphan(root, *, seconds: float = 2 * DAY):
    """A finished object with no row: written, then the process died before the row."""
    key = storage.key_for(uuid.uuid4())
    writer = storage.evidence_store().writer(key)
    writer.write(b"AMPV1 ciphertext whose key was only ever in memory")
    writer.commit()
    age(root / key, seconds)
    return root / key


def partial(root, *, seconds: float = 2 * DAY):
    """A temporary write of a process killed mid-write (the real writer's own name)."""
    writer = storage.evidence_store().writer(storage.key_for(uuid.uuid4()))
    writer.write(b"half an upload")
    writer._stop()  # as SIGKILL would: the file stays, nothing unlinks it
    writer._file.close()
    [path] = [p for p in root.rglob("*.part") if p.name.startswith(writer._final.name)]
    age(path, seconds)
    return path


def swept_events():
    return list(AuditEvent.objects.filter(event="store.swept"))


def test_it_lists_keys_relative_to_the_root_and_marks_partial_writes(evidence_root):
    done, half = orphan(evidence_root), partial(evidence_root)
    listed = {item.key: item for item in storage.evidence_store().list_objects()}
    assert set(listed) == {
        done.relative_to(evidence_root).as_posix(),
        half.relative_to(evidence_root).as_posix(),
    }
    assert [i.partial for i in listed.values()].count(True) == 1
    assert all(i.recognised for i in listed.values())
    assert all(timezone.now() - i.modified > timedelta(days=1) for i in listed.values())


def test_an_old_orphan_and_an_old_partial_write_are_removed(evidence_root):
    done, half = orphan(evidence_root), partial(evidence_root)

    counts = sweep.sweep_store()

    assert not done.exists() and not half.exists()
    assert counts["orphans_removed"] == 1 and counts["partials_removed"] == 1


def test_an_orphan_inside_the_grace_period_is_kept(evidence_root):
    young = orphan(evidence_root, seconds=23 * 3600)
    young_part = partial(evidence_root, seconds=23 * 3600)

    counts = sweep.sweep_store()

    assert young.exists() and young_part.exists()
    assert counts["recent"] == 2 and counts["orphans_removed"] == counts["partials_removed"] == 0
    assert swept_events() == []  # nothing removed, nothing recorded


def test_an_object_with_a_row_is_kept_however_old(evidence_root, actor):
    blob = services.store_stream([b"evidence a family sent"], actor=actor)
    age(evidence_root / blob.storage_key, 3650 * DAY)

    counts = sweep.sweep_store(now=timezone.now() + timedelta(days=3650))

    assert counts["with_row"] == 1 and counts["orphans_removed"] == 0
    assert read_blob(blob) == b"evidence a family sent"


def test_a_row_committed_after_the_batch_was_checked_still_wins(evidence_root, actor, monkeypatch):
    blob = services.store_stream([b"saved meanwhile"], actor=actor)
    age(evidence_root / blob.storage_key, 2 * DAY)
    # The batch's look at the rows happened before this row was committed.
    monkeypatch.setattr(sweep, "_keys_with_rows", lambda keys: set())

    counts = sweep.sweep_store()

    assert counts["with_row"] == 1 and counts["orphans_removed"] == 0
    assert read_blob(blob) == b"saved meanwhile"


def test_names_the_vault_never_writes_are_left_alone(evidence_root):
    orphan(evidence_root)  # so that the root exists
    stranger = evidence_root / "README.txt"
    stranger.write_text("an operator's note")
    age(stranger, 30 * DAY)

    counts = sweep.sweep_store()

    assert stranger.exists() and counts["unrecognised"] == 1


def test_orphans_are_checked_against_rows_in_batches(evidence_root, monkeypatch):
    monkeypatch.setattr(sweep, "_BATCH", 3)
    calls = []
    real = sweep._keys_with_rows
    monkeypatch.setattr(
        sweep, "_keys_with_rows", lambda keys: calls.append(len(keys)) or real(keys)
    )
    for _ in range(7):
        orphan(evidence_root)

    assert sweep.sweep_store()["orphans_removed"] == 7
    assert calls == [3, 3, 1]


def test_one_audit_event_records_the_counts_and_nothing_else(evidence_root):
    done = orphan(evidence_root)
    partial(evidence_root)

    counts = sweep.sweep_store()

    [event] = swept_events()
    assert event.actor_kind == "system" and event.actor_ref == "system:vault.sweep_store"
    assert event.data == counts and set(event.data) == COUNTS
    assert all(isinstance(v, int) for v in event.data.values())
    assert done.stem not in str(event.data) and event.object_id is None


def test_the_beat_task_sweeps_every_six_hours(evidence_root):
    done = orphan(evidence_root)
    entry = app.conf.beat_schedule["evidence-store-sweep"]
    assert entry["task"] == "vault.tasks.sweep_store" and entry["schedule"] == 6 * 3600.0

    assert tasks.sweep_store()["orphans_removed"] == 1
    assert not done.exists()


# --- S3 (moto's server mode; fixtures in conftest.py) ---------------------------------


def test_on_s3_a_stale_upload_is_aborted_and_an_orphan_removed_while_a_blob_stays(bucket, actor):
    client, name = bucket
    blob = services.store_stream([b"a real blob"], actor=actor)
    lost = storage.key_for(uuid.uuid4())
    client.put_object(Bucket=name, Key=lost, Body=b"AMPV1 no row")
    stale = storage.key_for(uuid.uuid4())
    upload = client.create_multipart_upload(Bucket=name, Key=stale)
    client.upload_part(
        Bucket=name, Key=stale, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024
    )
    client.put_object(Bucket=name, Key="not-ours.txt", Body=b"someone else's")

    # moto reports every multipart upload as initiated in 2010, so the upload is stale
    # from the start; the objects are seconds old.
    first = sweep.sweep_store()
    assert first["recent"] == 2 and first["partials_removed"] == 1
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []

    later = sweep.sweep_store(now=timezone.now() + timedelta(hours=25))

    listed = {o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]}
    assert listed == {blob.storage_key, "not-ours.txt"}
    assert later["orphans_removed"] == later["with_row"] == later["unrecognised"] == 1
    assert read_blob(blob) == b"a real blob"
