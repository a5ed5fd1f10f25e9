"""The evidence store: filesystem and S3 (a real S3 API served locally by moto)."""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.vault.upload_urls import stored_files
from vault import services, storage
from vault.models import Blob

MiB = 1024 * 1024


def read_blob(blob: Blob) -> bytes:
    stream = services.open_blob(blob, actor=services.Actor.system("tests"), purpose="open")
    with contextlib.closing(stream):
        return b"".join(stream)


def test_a_committed_write_appears_whole_and_private(evidence_root):
    store = storage.evidence_store()
    key = storage.key_for(uuid.uuid4())
    writer = store.writer(key)
    writer.write(b"cipher")
    assert not store.exists(key)  # invisible until committed

    writer.commit()

    assert store.exists(key)
    with contextlib.closing(store.open(key)) as f:
        assert f.read() == b"cipher"
    [path] = stored_files(evidence_root)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    store.delete(key)
    assert stored_files(evidence_root) == []


def test_an_aborted_write_leaves_no_file(evidence_root):
    writer = storage.evidence_store().writer(storage.key_for(uuid.uuid4()))
    writer.write(os.urandom(3 * MiB))
    writer.abort()
    assert stored_files(evidence_root) == []


def test_a_failed_write_on_the_writing_thread_fails_the_commit_and_leaves_no_file(
    evidence_root,
):
    writer = storage.evidence_store().writer(storage.key_for(uuid.uuid4()))

    class FullDisk:
        def __init__(self, real):
            self.real = real

        def write(self, data):
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.real, name)

    writer._file = FullDisk(writer._file)
    writer.write(b"x" * 1000)
    with pytest.raises(OSError, match="No space"):
        try:
            for _ in range(100):  # the error surfaces at a later write, or at commit
                writer.write(b"y" * 1000)
            writer.commit()
        except OSError:
            writer.abort()  # as BlobWriter does on any error
            raise
    assert writer.done
    assert stored_files(evidence_root) == []
    assert list(evidence_root.rglob("*.part")) == []


def test_a_large_write_through_the_writing_thread_is_stored_byte_for_byte(evidence_root):
    store = storage.evidence_store()
    key = storage.key_for(uuid.uuid4())
    pieces = [os.urandom(n) for n in (16, 300_000, 5, 17 * MiB, 65_552)]
    writer = store.writer(key)
    for piece in pieces:
        writer.write(piece)
    writer.commit()
    with contextlib.closing(store.open(key)) as f:
        assert f.read() == b"".join(pieces)
    store.delete(key)


def test_lent_buffers_are_written_in_order_and_reused(evidence_root):
    store = storage.evidence_store()
    key = storage.key_for(uuid.uuid4())
    writer = store.writer(key)
    pieces = [os.urandom(n) for n in (16, 300_000, 5, 1_100_000, 65_552) * 8]
    lent = set()
    for piece in pieces:
        buffer = writer.buffer(len(piece))
        lent.add(id(buffer))
        buffer[: len(piece)] = piece
        writer.write_buffer(buffer, len(piece))
    writer.write(b"and a plain write after them")
    writer.commit()
    with contextlib.closing(store.open(key)) as f:
        assert f.read() == b"".join(pieces) + b"and a plain write after them"
    assert len(lent) <= storage.FileSystemWriter._QUEUE_PIECES  # a pool, not 40 buffers
    store.delete(key)


def test_a_failed_write_surfaces_when_the_next_buffer_is_asked_for(evidence_root):
    writer = storage.evidence_store().writer(storage.key_for(uuid.uuid4()))
    writer._file.close()  # every write on the helper now fails
    # At most the pool's 8 buffers go out before the helper's error comes back: it is
    # raised by a later buffer() or write_buffer(), before any commit.
    with pytest.raises(ValueError, match="closed file"):
        for _ in range(100):
            buffer = writer.buffer(1000)
            writer.write_buffer(buffer, 1000)
    writer.abort()  # as BlobWriter does on any error
    assert list(evidence_root.rglob("*.part")) == []


@pytest.mark.parametrize("key", ["../../etc/passwd", "ab/../../x.ampv", "/abs.ampv", "AB/x.ampv"])
def test_it_refuses_keys_that_are_not_its_own(key, evidence_root):
    with pytest.raises(ValueError, match="malformed"):
        storage.evidence_store().open(key)


# --- S3 ----------------------------------------------------------------------------


def objects(bucket) -> dict[str, bytes]:
    client, name = bucket
    listing = client.list_objects_v2(Bucket=name).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=name, Key=o["Key"])["Body"].read() for o in listing}


def unfinished_uploads(bucket) -> list:
    client, name = bucket
    return client.list_multipart_uploads(Bucket=name).get("Uploads", [])


@pytest.mark.django_db
@pytest.mark.parametrize("size", [0, 1000, 12 * MiB + 3])  # one PUT; three 5 MiB parts
def test_it_round_trips_blobs_through_s3_as_ciphertext_only(size, bucket, actor):
    canary = uuid.uuid4().hex.encode()
    data = (canary + os.urandom(size))[:size] if size else b""

    blob = services.store_stream((data[i : i + MiB] for i in range(0, size, MiB)), actor=actor)

    [(key, ciphertext)] = objects(bucket).items()
    assert key == blob.storage_key and ciphertext.startswith(b"AMPV")
    assert size < len(canary) or canary not in ciphertext
    assert read_blob(blob) == data
    assert unfinished_uploads(bucket) == []
    if size > MiB:  # S3 names a multipart object's ETag after its number of parts
        client, name = bucket
        assert client.head_object(Bucket=name, Key=key)["ETag"].endswith('-3"')


@pytest.mark.django_db
def test_an_aborted_multipart_upload_leaves_nothing_in_the_bucket(bucket, actor):
    def interrupted():
        yield os.urandom(11 * MiB)  # two parts already sent
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        services.store_stream(interrupted(), actor=actor)

    assert objects(bucket) == {}
    assert unfinished_uploads(bucket) == []
    assert not Blob.objects.exists()


@pytest.mark.django_db
def test_destroying_a_blob_deletes_its_object(bucket, actor, django_capture_on_commit_callbacks):
    blob = services.store_stream([b"threat"], actor=actor)
    with django_capture_on_commit_callbacks(execute=True):
        services.destroy_blob(blob, actor=actor)
    assert objects(bucket) == {}


@pytest.mark.urls("tests.vault.upload_urls")
@pytest.mark.django_db(transaction=True)
def test_uploads_stream_into_s3_encrypted(bucket, client):
    data = os.urandom(6 * MiB)
    upload = SimpleUploadedFile("video.mp4", data, content_type="video/mp4")

    response = client.post("/upload/", {"file": upload})

    blob = Blob.objects.get(uuid=response.json()["blobs"][0])
    [ciphertext] = objects(bucket).values()
    assert data[:4096] not in ciphertext
    assert read_blob(blob) == data
