"""Blobs: stored encrypted, opened with custody, destroyed, sealed, processed, re-keyed."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError as DatabaseIntegrityError
from PIL import Image

from tests.vault.upload_urls import stored_files
from vault import crypto, keys, services
from vault.http import blob_response
from vault.models import AuditEvent, Blob, RecipientKey
from vault.sealed import open_sealed_file

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def chunked(data: bytes, size: int = 7000):
    """Chunks of an awkward size, so they never line up with 64 KiB segments."""
    return (data[i : i + size] for i in range(0, len(data), size))


def read_blob(blob: Blob, purpose: str = "open") -> bytes:
    stream = services.open_blob(blob, actor=services.Actor.system("tests"), purpose=purpose)
    with contextlib.closing(stream):
        return b"".join(stream)


def events_of(blob: Blob) -> list[str]:
    return list(AuditEvent.objects.filter(object_id=blob.uuid).values_list("event", flat=True))


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 3 * 65536 + 1])
def test_it_stores_and_opens_blobs_of_any_size(size, evidence_root, actor):
    data = os.urandom(size)

    blob = services.store_stream(chunked(data), actor=actor, filename="chat.png")

    assert (blob.size, blob.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert blob.md5 == hashlib.md5(data).hexdigest()  # noqa: S324 - matching external lists
    [path] = stored_files(evidence_root)
    ciphertext = path.read_bytes()
    assert ciphertext[:4] == b"AMPV" and len(ciphertext) == crypto.ciphertext_size(size)
    assert read_blob(blob) == data
    assert events_of(blob) == ["blob.stored", "blob.opened"]


def test_a_blob_reads_into_a_reused_buffer_and_a_stream_is_read_one_way_only(evidence_root, actor):
    longer, shorter = os.urandom(5 * 65536 + 11), os.urandom(65536 + 3)
    buffer = bytearray(2 * 65536)  # reused: the second, shorter blob lands on dirty bytes
    for data in (longer, shorter):
        blob = services.store_stream(chunked(data), actor=actor)
        stream = services.open_blob(blob, actor=services.Actor.system("tests"), purpose="open")
        with contextlib.closing(stream):
            out = []
            while n := stream.readinto(buffer):
                out.append(bytes(buffer[:n]))
        assert b"".join(out) == data
    stream = services.open_blob(blob, actor=services.Actor.system("tests"), purpose="open")
    with contextlib.closing(stream):
        next(stream)
        with pytest.raises(ValueError):
            stream.readinto(buffer)  # would lose the ciphertext the iterator has read


def test_each_way_of_opening_leaves_its_own_custody_event(evidence_root, actor):
    blob = services.store_stream([b"evidence"], actor=actor)
    for purpose in ("download", "reveal"):
        read_blob(blob, purpose)
    assert events_of(blob) == ["blob.stored", "blob.downloaded", "blob.revealed"]


def test_the_filename_is_kept_only_encrypted_and_bound_to_its_row(evidence_root, actor):
    first = services.store_stream([b"a"], actor=actor, filename="Lucía - amenaza.png")
    second = services.store_stream([b"b"], actor=actor, filename="other.png")

    assert "Luc" not in first.filename_sealed and "amenaza" not in first.filename_sealed
    assert first.filename() == "Lucía - amenaza.png"
    second.filename_sealed = first.filename_sealed
    with pytest.raises(crypto.IntegrityError):
        second.filename()


def test_a_wrapped_key_moved_to_another_row_opens_nothing(evidence_root, actor):
    first = services.store_stream([b"first"], actor=actor)
    second = services.store_stream([b"second"], actor=actor)
    Blob.objects.filter(pk=second.pk).update(
        wrapped_dek=first.wrapped_dek, kek_version=first.kek_version
    )
    with pytest.raises(crypto.IntegrityError):
        services.open_blob(second, actor=actor, purpose="open")


def test_a_flipped_bit_in_the_store_is_detected(evidence_root, actor):
    blob = services.store_stream([os.urandom(100_000)], actor=actor)
    [path] = stored_files(evidence_root)
    data = bytearray(path.read_bytes())
    data[70_000] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(crypto.IntegrityError):
        read_blob(blob)


def test_a_failing_stream_leaves_nothing(evidence_root, actor):
    def interrupted():
        yield os.urandom(200_000)
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        services.store_stream(interrupted(), actor=actor)
    assert stored_files(evidence_root) == []
    assert not Blob.objects.exists()


def test_a_row_the_database_refuses_leaves_no_ciphertext(evidence_root, actor):
    # A derivative without a parent breaks a check constraint in PostgreSQL.
    with pytest.raises(DatabaseIntegrityError):
        services.store_stream([b"x" * 1000], actor=actor, kind=Blob.Kind.PREVIEW)
    assert stored_files(evidence_root) == []


def test_destroying_a_blob_shreds_its_key_first_then_its_ciphertext(
    evidence_root, actor, django_capture_on_commit_callbacks
):
    blob = services.store_stream([os.urandom(70_000)], actor=actor, filename="threat.png")
    [path] = stored_files(evidence_root)
    backup = path.read_bytes()  # a copy the object store's backups still hold

    with django_capture_on_commit_callbacks(execute=True):
        services.destroy_blob(blob, actor=actor)

    blob.refresh_from_db()
    assert blob.state == Blob.State.DESTROYED and blob.destroyed_at is not None
    assert blob.wrapped_dek is None and blob.kek_version is None and blob.sealed_dek is None
    assert blob.filename_sealed == "" and blob.sha256  # the fingerprint stays
    assert stored_files(evidence_root) == []
    assert events_of(blob) == ["blob.stored", "blob.destroyed"]
    with pytest.raises(services.BlobUnavailable, match="destroyed"):
        services.open_blob(blob, actor=actor, purpose="open")
    # Nothing the server still holds decrypts the backup copy.
    ring = keys.keyring()
    server_keys = [ring.kek(v) for v in ring.versions()]
    server_keys += [crypto.derive_key(ring, p, v) for v in ring.versions() for p in crypto.PURPOSES]
    for key in server_keys:
        with pytest.raises(crypto.IntegrityError):
            b"".join(crypto.decrypt_stream(io.BytesIO(backup), key, blob_id=str(blob.uuid)))


@pytest.fixture
def unit(tmp_path):
    """A police unit: its private key in a file of its own, its public key registered."""
    private, public = crypto.generate_recipient_keypair()
    key_file = tmp_path / "unit.pem"
    key_file.write_bytes(crypto.private_key_to_pem(private))
    recipient = services.register_recipient_key(
        name="UFAM Badajoz", public_key=public, actor=services.Actor.system("tests")
    )
    return recipient, key_file


def test_the_server_cannot_open_a_sealed_blob(evidence_root, actor, unit):
    recipient, _ = unit
    blob = services.seal_blob_for(recipient, [b"the original image"], actor=actor)

    assert blob.wrapped_dek is None and blob.kek_version is None and blob.sealed_dek
    with pytest.raises(services.BlobUnavailable, match="sealed"):
        services.open_blob(blob, actor=actor, purpose="open")
    with pytest.raises(services.BlobUnavailable):
        blob_response(blob, actor=actor)
    assert services.process_image(blob.uuid).processed_at is None
    assert "blob.opened" not in events_of(blob)


def test_the_units_private_key_opens_a_sealed_blob(evidence_root, actor, unit, tmp_path):
    recipient, key_file = unit
    data = os.urandom(150_000)
    blob = services.seal_blob_for(recipient, chunked(data), actor=actor)
    [ciphertext] = stored_files(evidence_root)
    out = tmp_path / "original.bin"

    sha256 = open_sealed_file(
        ciphertext,
        out,
        private_key_pem=key_file.read_bytes(),
        sealed_dek=bytes(blob.sealed_dek),
        blob_id=str(blob.uuid),
        expected_sha256=blob.sha256,
    )

    assert out.read_bytes() == data and sha256 == blob.sha256
    assert out.stat().st_mode & 0o777 == 0o600


def test_another_key_opens_no_sealed_blob_and_writes_nothing(evidence_root, actor, unit, tmp_path):
    recipient, _ = unit
    blob = services.seal_blob_for(recipient, [os.urandom(1000)], actor=actor)
    [ciphertext] = stored_files(evidence_root)
    other_private, _ = crypto.generate_recipient_keypair()

    with pytest.raises(crypto.IntegrityError):
        open_sealed_file(
            ciphertext,
            tmp_path / "out.bin",
            private_key_pem=crypto.private_key_to_pem(other_private),
            sealed_dek=bytes(blob.sealed_dek),
            blob_id=str(blob.uuid),
        )
    assert list(tmp_path.glob("*out.bin*")) == []


def test_the_offline_opener_needs_nothing_but_cryptography(evidence_root, actor, unit, tmp_path):
    recipient, key_file = unit
    data = os.urandom(70_000)
    blob = services.seal_blob_for(recipient, [data], actor=actor)
    [ciphertext] = stored_files(evidence_root)
    passphrase = b"read aloud over the phone"
    protected = tmp_path / "protected.pem"
    private = crypto.private_key_from_pem(key_file.read_bytes())
    protected.write_bytes(crypto.private_key_to_pem(private, passphrase))
    script = f"""
import sys
for name in ("django", "argon2", "PIL", "numpy"):
    sys.modules[name] = None  # importing any of these now fails
sys.path.insert(0, {str(ROOT)!r})
from vault.sealed import open_sealed_file
print(open_sealed_file({str(ciphertext)!r}, {str(tmp_path / "out.bin")!r},
      private_key_pem=open({str(protected)!r}, "rb").read(), password={passphrase!r},
      sealed_dek=bytes.fromhex({bytes(blob.sealed_dek).hex()!r}), blob_id={str(blob.uuid)!r}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == blob.sha256
    assert (tmp_path / "out.bin").read_bytes() == data


def test_create_recipient_key_gives_the_unit_the_only_key_that_opens(
    evidence_root, actor, tmp_path
):
    key_file = tmp_path / "ufam.pem"
    output = io.StringIO()
    call_command("create_recipient_key", "--name", "UFAM", "--out", str(key_file), stdout=output)

    assert key_file.stat().st_mode & 0o777 == 0o600
    recipient = RecipientKey.objects.get(name="UFAM")
    assert recipient.fingerprint in output.getvalue()
    private = crypto.private_key_from_pem(key_file.read_bytes())
    assert private.hex() not in str(RecipientKey.objects.values().get())
    blob = services.seal_blob_for(recipient, [b"original"], actor=actor)
    out = tmp_path / "original"
    call_command(
        "open_sealed",
        *("--key", str(key_file), "--blob", str(blob.uuid), "--out", str(out)),
        stdout=io.StringIO(),
    )
    assert out.read_bytes() == b"original"
    assert events_of(blob) == ["blob.stored", "blob.unsealed"]
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_recipient_key", "--name", "Other", "--out", str(key_file))


def test_open_sealed_refuses_blobs_that_are_not_sealed(evidence_root, actor, unit, tmp_path):
    _, key_file = unit
    blob = services.store_stream([b"plain"], actor=actor)
    with pytest.raises(CommandError, match="not a sealed blob"):
        call_command(
            "open_sealed",
            *("--key", str(key_file), "--blob", str(blob.uuid), "--out", str(tmp_path / "x")),
        )


def test_generate_key_prints_the_next_versions_entry():
    output = io.StringIO()
    call_command("generate_key", stdout=output)
    entry = output.getvalue().strip()
    ring = crypto.parse_keyring(entry)
    assert ring.versions() == [keys.keyring().current_version + 1]


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "teal").save(buffer, "PNG")
    return buffer.getvalue()


def test_processing_an_image_adds_encrypted_derivatives_once(
    evidence_root, actor, django_capture_on_commit_callbacks
):
    blob = services.store_stream([png_bytes()], actor=actor, filename="profile.png")

    services.process_image(blob.uuid)
    services.process_image(blob.uuid)  # a redelivered task does nothing more

    assert blob.derivatives.count() == 2
    assert len(stored_files(evidence_root)) == 3
    assert events_of(blob).count("blob.processed") == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.destroy_blob(blob, actor=actor)
    assert set(Blob.objects.values_list("state", flat=True)) == {Blob.State.DESTROYED}
    assert stored_files(evidence_root) == []


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"%PDF-1.7 a contract", "not-an-image"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
            "format-not-allowed",
        ),
        (b"BM" + b"\x00" * 100, "format-not-allowed"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt"),
    ],
)
def test_files_that_are_not_images_we_decode_are_recorded_not_raised(
    content, code, evidence_root, actor
):
    blob = services.store_stream([content], actor=actor)

    processed = services.process_image(blob.uuid)

    assert processed.image_rejection == code
    assert processed.processed_at is not None and processed.pdq_hash == ""
    assert not processed.derivatives.exists()
    assert read_blob(processed) == content  # still evidence, only never decoded


def test_a_large_non_image_is_refused_from_its_first_segment(evidence_root, actor):
    blob = services.store_stream(chunked(b"\x00" * 3_000_000, 65536), actor=actor)
    # Only one segment is read: a damaged later segment is never even reached.
    [path] = stored_files(evidence_root)
    data = bytearray(path.read_bytes())
    data[-100] ^= 1
    path.write_bytes(bytes(data))

    assert services.process_image(blob.uuid).image_rejection == "not-an-image"


@pytest.mark.django_db(transaction=True)
def test_a_rotation_killed_halfway_finishes_when_run_again(
    evidence_root, actor, unit, add_kek, settings
):
    recipient, _ = unit
    contents = [os.urandom(1000 + i) for i in range(7)]
    blobs = [
        services.store_stream([c], actor=actor, filename=f"file-{i}.txt")
        for i, c in enumerate(contents)
    ]
    sealed = services.seal_blob_for(recipient, [b"sealed"], actor=actor)
    old = keys.keyring().current_version
    new = add_kek()

    done = []

    def killed_after_two_batches(rows: int) -> None:
        done.append(rows)
        if len(done) == 2:
            raise KeyboardInterrupt  # as if the process were killed here

    with pytest.raises(KeyboardInterrupt):
        services.rotate_keys(batch_size=2, after_batch=killed_after_two_batches)
    assert services.key_version_counts() == {f"v{old}": 3, f"v{new}": 4, "sealed": 1}

    output = io.StringIO()
    call_command("rotate_keys", "--batch-size", "2", stdout=output)

    assert services.key_version_counts() == {f"v{new}": 7, "sealed": 1}
    assert f"v{new}: 7" in output.getvalue()
    assert bytes(Blob.objects.get(pk=sealed.pk).sealed_dek) == bytes(sealed.sealed_dek)
    # The old keys can now be retired: everything opens with the newest alone.
    ring = keys.keyring()
    settings.AMPARO_KEYS = f"{new}:{base64.urlsafe_b64encode(ring.kek(new)).decode()}"
    keys.keyring.cache_clear()
    for i, (blob, content) in enumerate(zip(blobs, contents, strict=True)):
        blob.refresh_from_db()
        assert blob.filename_sealed.startswith(f"v{new}$")
        assert blob.filename() == f"file-{i}.txt"
        assert read_blob(blob) == content
