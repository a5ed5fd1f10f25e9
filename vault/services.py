"""Storing, opening, sealing, destroying, processing and re-keying blobs.

Every state change is one transaction with its custody event (``vault.audit``);
callers name an explicit ``actor`` and may pass the ``organisation_id`` the event
belongs to. The vault knows nothing of cases or people: callers link blobs to
their own rows by ``Blob.uuid``.

Order of effects, chosen so that a crash at any point leaves nothing readable and
nothing half-recorded:

* storing: ciphertext is written (and committed to the store) first, the row and
  its event after; if the row cannot be written the ciphertext is deleted. A
  process killed in between leaves only ciphertext whose DEK existed nowhere but in
  memory — unreadable by anyone.
* destroying: the key columns are nulled and committed first (crypto-shredding),
  the ciphertext is deleted after the commit.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from . import audit, crypto, fields, fingerprints, images, keys, storage
from .audit import Actor
from .models import Blob, RecipientKey

if TYPE_CHECKING:
    from .uploads import EncryptedUpload

log = logging.getLogger(__name__)

OPEN_EVENTS = {
    "open": "blob.opened",
    "download": "blob.downloaded",
    "reveal": "blob.revealed",
    "export": "blob.exported",  # copied into a police case file
}


class BlobUnavailable(Exception):
    """The blob cannot be opened here: ``code`` is ``"destroyed"`` or ``"sealed"``.

    A sealed blob's DEK is wrapped only for a recipient's public key; the server
    holds nothing that opens it (``open_sealed`` with the private key does).
    """

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class BlobWriter:
    """Hash and encrypt one file's bytes into the evidence store as they arrive.

    Threat: plaintext written anywhere (a temporary file, a buffer of the whole
    file) outlives the request and ends up in backups. Choice: each chunk is
    hashed (SHA-256 + MD5 of the original bytes) and encrypted (AMPV1 under a fresh
    DEK) the moment it arrives, and only ciphertext goes to the store; at most one
    64 KiB segment of plaintext is held. The DEK is wrapped under the current KEK,
    or — with ``recipient`` — sealed to that public key and not kept at all.

    ``close()`` commits the ciphertext; ``abort()`` removes every trace of it.
    Neither writes a database row: that is ``store_stream``/``finish_upload``.

    ``md5=False`` leaves MD5 out (``md5`` stays ``""``): the upload handler does this
    so that a family's upload pays only for SHA-256, AES-GCM and the write; the worker
    fills it in later with :func:`fill_md5`. A sealed blob cannot be decrypted by the
    server afterwards, so it always gets its MD5 here.
    """

    def __init__(self, *, recipient: RecipientKey | None = None, md5: bool = True) -> None:
        self.uuid = uuid.uuid4()
        self.recipient = recipient
        self.storage_key = storage.key_for(self.uuid)
        blob_id = str(self.uuid)
        dek = crypto.new_dek()
        if recipient is None:
            self.kek_version, self.wrapped_dek = crypto.wrap_dek(
                keys.keyring(), dek, blob_id=blob_id
            )
            self.sealed_dek = None
        else:
            self.kek_version, self.wrapped_dek = None, None
            self.sealed_dek = crypto.seal_dek(dek, recipient.public_bytes, blob_id=blob_id)
        self._encryptor = crypto.StreamEncryptor(dek, blob_id=blob_id)
        del dek  # only the encryptor (and the wrapped or sealed copy) keeps it
        self._hasher = crypto.StreamHasher(parallel=True, md5=md5 or recipient is not None)
        self._out = storage.evidence_store().writer(self.storage_key)
        self.committed = False
        self.sha256 = self.md5 = ""
        self.size = 0

    def write(self, data: bytes) -> None:
        try:
            self._hasher.update(data)
            buffer = self._out.buffer(crypto.StreamEncryptor.max_update_size(len(data)))
            self._out.write_buffer(buffer, self._encryptor.update_into(data, buffer))
        except BaseException:
            self.abort()
            raise

    def close(self) -> None:
        try:
            self._out.write(self._encryptor.finalize())
            self._out.commit()
            self.sha256, self.md5 = self._hasher.hexdigests()
            self._hasher.close()
        except BaseException:
            self.abort()
            raise
        self.size = self._hasher.size
        self.committed = True

    def abort(self) -> None:
        """Drop the partial write, or delete the committed ciphertext."""
        self._hasher.close()
        self._out.abort()
        if self.committed:
            storage.evidence_store().delete(self.storage_key)
            self.committed = False


def _clean_filename(name: str) -> str:
    # Control characters and path separators have no place in a download name.
    name = "".join(c for c in name if c.isprintable() and c not in "/\\")
    return name.strip()[:255]


def _create_blob(
    writer: BlobWriter,
    *,
    actor: Actor,
    filename: str,
    content_type: str,
    kind: str = Blob.Kind.ORIGINAL,
    parent: Blob | None = None,
    organisation_id: uuid.UUID | None = None,
) -> Blob:
    """The row and its custody event for committed ciphertext; deletes it on failure."""
    blob = Blob(
        uuid=writer.uuid,
        kind=kind,
        parent=parent,
        size=writer.size,
        sha256=writer.sha256,
        md5=writer.md5,
        content_type=content_type[:100],
        storage_key=writer.storage_key,
        kek_version=writer.kek_version,
        wrapped_dek=writer.wrapped_dek,
        recipient=writer.recipient,
        sealed_dek=writer.sealed_dek,
    )
    filename = _clean_filename(filename)
    if filename:
        blob.filename_sealed = keys.encrypt_text(
            filename, purpose="field", context=blob._context("filename")
        )
    try:
        with transaction.atomic():
            blob.save(force_insert=True)
            data = {"kind": kind, "size": blob.size, "sha256": blob.sha256}
            if blob.is_sealed:
                data["sealed_to"] = str(writer.recipient.uuid)
            if parent is not None:
                data["parent"] = str(parent.uuid)
            audit.record(
                "blob.stored",
                actor=actor,
                object_type="blob",
                object_id=blob.uuid,
                organisation_id=organisation_id,
                data=data,
            )
    except BaseException:
        writer.abort()
        raise
    return blob


def store_stream(
    chunks: Iterable[bytes],
    *,
    actor: Actor,
    filename: str = "",
    content_type: str = "",
    kind: str = Blob.Kind.ORIGINAL,
    parent: Blob | None = None,
    recipient: RecipientKey | None = None,
    organisation_id: uuid.UUID | None = None,
) -> Blob:
    """Encrypt and store a stream of bytes as a new blob; return its row.

    With ``recipient`` the blob is sealed: only that key's private half opens it.
    Nothing is left behind if the stream, the store or the database fails.
    """
    writer = BlobWriter(recipient=recipient)
    try:
        for chunk in chunks:
            writer.write(chunk)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return _create_blob(
        writer,
        actor=actor,
        filename=filename,
        content_type=content_type,
        kind=kind,
        parent=parent,
        organisation_id=organisation_id,
    )


def seal_blob_for(
    recipient: RecipientKey,
    chunks: Iterable[bytes],
    *,
    actor: Actor,
    filename: str = "",
    content_type: str = "",
    organisation_id: uuid.UUID | None = None,
) -> Blob:
    """Store a file whose DEK is sealed only to ``recipient``'s X25519 public key.

    Threat: an original image needed by the police must not be readable by anyone
    who takes over the server. Choice: ``crypto.seal_dek`` (ephemeral-static X25519
    + HKDF-SHA-256 + AES-GCM); no wrapped copy exists, so ``open_blob`` refuses it
    and only ``vault.sealed.open_sealed_file`` with the private key opens it.
    """
    if not recipient.is_active:
        raise ValueError("recipient key is not active")
    return store_stream(
        chunks,
        actor=actor,
        filename=filename,
        content_type=content_type,
        recipient=recipient,
        organisation_id=organisation_id,
    )


def finish_upload(
    upload: EncryptedUpload, *, actor: Actor, organisation_id: uuid.UUID | None = None
) -> Blob:
    """Record an upload that ``EncryptingUploadHandler`` has already stored.

    The ciphertext exists from the moment the request body was read; this writes
    its row and custody event. An upload never finished this way (an invalid
    form, an error, a rolled-back transaction) is deleted at the end of the
    request (``vault.uploads``).
    """
    writer = upload.claim()
    blob = _create_blob(
        writer,
        actor=actor,
        filename=upload.name or "",
        content_type=upload.content_type or "",
        organisation_id=organisation_id,
    )
    transaction.on_commit(upload.mark_stored)
    return blob


def register_recipient_key(*, name: str, public_key: bytes, actor: Actor) -> RecipientKey:
    """Register a recipient's (police unit's) X25519 public key; never a private key."""
    with transaction.atomic():
        recipient = RecipientKey.objects.create(
            name=name,
            public_key=crypto.public_key_to_b64(public_key),
            fingerprint=crypto.public_key_fingerprint(public_key),
        )
        audit.record(
            "recipient_key.created",
            actor=actor,
            object_type="recipient_key",
            object_id=recipient.uuid,
            data={"fingerprint": recipient.fingerprint},
        )
    return recipient


class PlaintextStream:
    """Iterator over a blob's plaintext, 64 KiB at a time, authenticated per segment.

    Only a stream that ends without ``crypto.IntegrityError`` is the whole, untouched
    file; callers must not act on a partial result. ``close()`` releases the store.
    """

    def __init__(self, reader, dek: bytes, *, blob_id: str) -> None:
        self._reader = reader
        self._segments = crypto.decrypt_stream(reader, dek, blob_id=blob_id)
        # Made on first use: it holds a megabyte of ciphertext buffer, which a stream
        # that is only iterated (a download) should not pay for.
        self._decryptor: crypto.StreamDecryptor | None = None
        self._new_decryptor = lambda: crypto.StreamDecryptor(reader, dek, blob_id=blob_id)
        self._mode = ""

    def __iter__(self) -> Iterator[bytes]:
        return self

    def _use(self, mode: str) -> None:
        # Both read the same store handle: mixing them would lose or repeat ciphertext.
        if self._mode != mode:
            if self._mode:
                raise ValueError("a plaintext stream is either iterated or read into")
            self._mode = mode

    def __next__(self) -> bytes:
        self._use("iterate")
        return next(self._segments)

    def readinto(self, buffer) -> int:
        """Decrypt the next whole segments into ``buffer`` (``crypto.StreamDecryptor``):
        the bytes written, 0 at the verified end. For large copies (the police export),
        where fresh bytes per segment would cost more than the decryption."""
        self._use("readinto")
        if self._decryptor is None:
            self._decryptor = self._new_decryptor()
        return self._decryptor.readinto(buffer)

    def close(self) -> None:
        self._segments.close()
        self._reader.close()


def open_blob(
    blob: Blob, *, actor: Actor, purpose: str, organisation_id: uuid.UUID | None = None
) -> PlaintextStream:
    """Decrypt a blob as a stream, writing the custody event for ``purpose`` first.

    ``purpose`` is ``"open"`` (a worker or a staff view using it), ``"download"`` or
    ``"reveal"`` (a deliberate click to see an unblurred image). Raises
    ``BlobUnavailable`` for a destroyed or sealed blob. The key columns are read
    afresh, so a blob destroyed since ``blob`` was loaded does not open.
    """
    event = OPEN_EVENTS[purpose]
    with transaction.atomic():
        row = Blob.objects.get(pk=blob.pk)
        if row.state == Blob.State.DESTROYED:
            raise BlobUnavailable("destroyed")
        if row.wrapped_dek is None:
            raise BlobUnavailable("sealed")
        dek = crypto.unwrap_dek(
            keys.keyring(), row.kek_version, bytes(row.wrapped_dek), blob_id=str(row.uuid)
        )
        audit.record(
            event,
            actor=actor,
            object_type="blob",
            object_id=row.uuid,
            organisation_id=organisation_id,
            data={"kind": row.kind},
        )
    reader = storage.evidence_store().open(row.storage_key)
    return PlaintextStream(reader, dek, blob_id=str(row.uuid))


def destroy_blob(blob: Blob, *, actor: Actor, organisation_id: uuid.UUID | None = None) -> Blob:
    """Destroy a blob and its derivatives by crypto-shredding, with custody events.

    Threat: deleted evidence surviving in the object store, its versions or its
    backups. Choice: null the wrapped and sealed DEKs (and the encrypted filename
    and metadata) and commit that first — from then on no copy of the ciphertext
    can be decrypted — then delete the ciphertext. Hashes and sizes stay, so the
    custody log still says what existed. Database backups taken before this moment
    still hold the wrapped DEK (see docs/vault.md). Calling it again retries the
    deletion of the ciphertext.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Blob.objects.select_for_update()
            .filter(Q(pk=blob.pk) | Q(parent_id=blob.pk))
            .order_by("id")
        )
        for row in rows:
            if row.state == Blob.State.DESTROYED:
                continue
            row.state = Blob.State.DESTROYED
            row.kek_version = row.wrapped_dek = row.sealed_dek = None
            row.filename_sealed = row.metadata_sealed = ""
            row.destroyed_at = now
            row.save(
                update_fields=[
                    "state",
                    "kek_version",
                    "wrapped_dek",
                    "sealed_dek",
                    "filename_sealed",
                    "metadata_sealed",
                    "destroyed_at",
                ]
            )
            audit.record(
                "blob.destroyed",
                actor=actor,
                object_type="blob",
                object_id=row.uuid,
                organisation_id=organisation_id,
                data={"kind": row.kind},
            )
        storage_keys = [row.storage_key for row in rows]
        transaction.on_commit(lambda: _delete_ciphertext(storage_keys))
    blob.refresh_from_db()
    return blob


def _delete_ciphertext(storage_keys: list[str]) -> None:
    store = storage.evidence_store()
    for key in storage_keys:
        try:
            store.delete(key)
        except Exception as exc:
            # Already unreadable (its key is gone); destroy_blob again retries.
            log.warning("ciphertext not deleted key=%s error=%s", key, type(exc).__name__)


def fill_md5(blob_uuid: uuid.UUID | str) -> Blob:
    """Compute a stored blob's MD5 in one streaming pass over its decryption (worker only).

    Evidence uploads record SHA-256 as received and leave MD5 (only a matching aid for
    external hash lists) to the worker, off the family's request path. The same pass
    re-hashes SHA-256 and refuses to record anything if it differs from the one taken
    at intake — the stored ciphertext then is not what was received. Memory stays at
    one segment. Idempotent: a blob that has an MD5, or is sealed or destroyed, is
    returned as is.
    """
    blob = Blob.objects.get(uuid=blob_uuid)
    if blob.md5 or blob.state != Blob.State.STORED or blob.is_sealed:
        return blob
    hasher = crypto.StreamHasher()
    with contextlib.closing(
        open_blob(blob, actor=Actor.system("fill_md5"), purpose="open")
    ) as stream:
        for segment in stream:
            hasher.update(segment)
    sha256, md5 = hasher.hexdigests()
    if sha256 != blob.sha256 or hasher.size != blob.size:
        raise crypto.IntegrityError("blob-hash")
    Blob.objects.filter(pk=blob.pk, md5="").update(md5=md5)
    blob.refresh_from_db()
    return blob


def process_image(blob_uuid: uuid.UUID | str) -> Blob:
    """Fingerprint an uploaded image and make its staff derivatives (worker only).

    Threat: decoding a hostile file (pixel flood, parser exploit) in the web
    process, and derivatives leaking the original's metadata (GPS). Choice: this
    runs in the Celery worker; the plaintext stays in memory (at most
    ``images.MAX_BYTES``); ``images.open_untrusted`` decides what is decoded; the
    metadata summary is stored encrypted; the PDQ hash follows the versioned
    pipeline; the preview and blurred derivatives are new, metadata-free JPEGs
    stored as encrypted child blobs. The original is not touched.

    A file that is not an image we decode gets ``image_rejection`` set to a code
    from ``images.REJECTION_CODES`` and no derivatives; that is not an error.
    Idempotent: a processed, sealed, destroyed or derivative blob is returned as is,
    and a concurrent second run stores nothing.
    """
    blob = Blob.objects.get(uuid=blob_uuid)
    if (
        blob.processed_at is not None
        or blob.state != Blob.State.STORED
        or blob.kind != Blob.Kind.ORIGINAL
        or blob.is_sealed
    ):
        return blob
    actor = Actor.system("process_image")
    rejection = ""
    summary: dict = {}
    pdq_hash, pdq_quality = "", None
    derivatives = None
    try:
        data = _image_bytes(blob, actor=actor)
        image = images.open_untrusted(data)
        summary = images.metadata_summary(image)
        pdq_hash, pdq_quality = fingerprints.pdq_fingerprint(image)
        derivatives = images.make_derivatives(image)
        del image, data
    except images.ImageRejected as exc:
        rejection = exc.code

    writers: list[tuple[str, BlobWriter]] = []
    try:
        if derivatives is not None:
            for kind, content in (
                (Blob.Kind.PREVIEW, derivatives.preview),
                (Blob.Kind.BLURRED, derivatives.blurred),
            ):
                writer = BlobWriter()
                writers.append((kind, writer))
                writer.write(content)
                writer.close()
        with transaction.atomic():
            row = Blob.objects.select_for_update().get(pk=blob.pk)
            if row.processed_at is not None or row.state != Blob.State.STORED:
                for _, writer in writers:
                    writer.abort()
                return row
            for kind, writer in writers:
                _create_blob(
                    writer, actor=actor, filename="", content_type=images.DERIVATIVE_MIME,
                    kind=kind, parent=row,
                )  # fmt: skip
            row.image_rejection = rejection
            if summary:
                row.metadata_sealed = keys.encrypt_text(
                    json.dumps(summary, sort_keys=True),
                    purpose="field",
                    context=row._context("metadata"),
                )
            if pdq_hash:
                row.pdq_hash, row.pdq_quality = pdq_hash, pdq_quality
                row.pdq_pipeline = fingerprints.PDQ_PIPELINE_VERSION
            row.processed_at = timezone.now()
            row.save(
                update_fields=[
                    "image_rejection",
                    "metadata_sealed",
                    "pdq_hash",
                    "pdq_quality",
                    "pdq_pipeline",
                    "processed_at",
                ]
            )
            audit.record(
                "blob.processed",
                actor=actor,
                object_type="blob",
                object_id=row.uuid,
                data={"rejected": rejection} if rejection else {"derivatives": len(writers)},
            )
    except BaseException:
        for _, writer in writers:
            writer.abort()
        raise
    return row


def _image_bytes(blob: Blob, *, actor: Actor) -> bytes:
    """The plaintext of a blob that may be an image, or ImageRejected without reading it all.

    The first segment is enough to refuse anything that is not an allowed image,
    so a 500 MB video is never decrypted whole just to be turned down.
    """
    with contextlib.closing(open_blob(blob, actor=actor, purpose="open")) as stream:
        first = next(stream, b"")
        fmt = images.sniff_format(first[: images.HEAD_BYTES])
        if fmt is None:
            raise images.ImageRejected("not-an-image")
        if fmt not in images.ALLOWED_FORMATS:
            raise images.ImageRejected("format-not-allowed")
        if blob.size > images.MAX_BYTES:
            raise images.ImageRejected("too-large-file")
        buffer = io.BytesIO()
        buffer.write(first)
        for segment in stream:
            buffer.write(segment)
        return buffer.getvalue()


# Steps other apps add to rotation (support: invitation tokens, TOTP secrets; police:
# export passphrases): each re-encrypts its own version-derived values under the
# current KEK and returns how many it rewrote. Registered from AppConfig.ready(), so
# the vault never imports the apps above it.
_ROTATION_STEPS: dict[str, Callable[[], int]] = {}


def register_rotation_step(
    name: str, step: Callable[[], int], *, counts: Callable[[], dict[str, int]] | None = None
) -> None:
    """Register a rotation step; ``counts`` (optional) reports what it keeps per KEK
    version (``{"v2": n, ...}``): ``rotate_keys`` (the command) prints it, and counts
    every label but the current version as something that still needs an older KEK."""
    _ROTATION_STEPS[name] = step
    if counts is not None:
        _ROTATION_COUNTS[name] = counts


_ROTATION_COUNTS: dict[str, Callable[[], dict[str, int]]] = {}


def rotation_step_counts() -> dict[str, dict[str, int]]:
    """Each registered step's per-version counts, by step name."""
    return {name: counts() for name, counts in _ROTATION_COUNTS.items()}


def rotate_keys(
    *, batch_size: int = 500, after_batch: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Re-wrap every DEK and field key (and re-encrypt blob filenames and metadata) under
    the newest KEK.

    Each batch of rows is one transaction: a rotation killed at any point loses
    nothing (a row is either entirely on its old key or entirely on the new one)
    and running it again continues with the rows not yet done. Evidence files are
    neither read nor rewritten: only 60-byte wrapped keys and short sealed strings
    change. ``after_batch(rows_done_so_far)`` is called after each commit.
    Returns ``key_version_counts()``.
    """
    ring = keys.keyring()
    current = ring.current_version
    prefix = f"v{current}$"
    stale = (
        (Q(wrapped_dek__isnull=False) & ~Q(kek_version=current))
        | (~Q(filename_sealed="") & ~Q(filename_sealed__startswith=prefix))
        | (~Q(metadata_sealed="") & ~Q(metadata_sealed__startswith=prefix))
    )
    done = 0
    while True:
        with transaction.atomic():
            rows = list(Blob.objects.select_for_update().filter(stale).order_by("id")[:batch_size])
            if not rows:
                break
            for row in rows:
                if row.wrapped_dek is not None and row.kek_version != current:
                    row.kek_version, row.wrapped_dek = crypto.rewrap_dek(
                        ring, row.kek_version, bytes(row.wrapped_dek), blob_id=str(row.uuid)
                    )
                for column in ("filename", "metadata"):
                    sealed = getattr(row, f"{column}_sealed")
                    if sealed and not sealed.startswith(prefix):
                        context = row._context(column)
                        text = keys.decrypt_text(sealed, purpose="field", context=context)
                        setattr(
                            row,
                            f"{column}_sealed",
                            keys.encrypt_text(text, purpose="field", context=context),
                        )
            Blob.objects.bulk_update(
                rows, ["kek_version", "wrapped_dek", "filename_sealed", "metadata_sealed"]
            )
            audit.record(
                "vault.keys_rotated",
                actor=Actor.system("rotate_keys"),
                data={"rows": len(rows), "kek_version": current},
            )
        done += len(rows)
        if after_batch is not None:
            after_batch(done)
    # Field values: every owner's field key re-wrapped (values untouched), and any
    # value still in the former KEK-derived format rewritten under its owner's key,
    # so that afterwards no encrypted field depends on an older KEK.
    fields.rewrap_field_keys(batch_size=batch_size)
    fields.reencrypt_legacy_values(batch_size=batch_size)
    for step in _ROTATION_STEPS.values():
        step()
    return key_version_counts()


def key_version_counts() -> dict[str, int]:
    """Blobs per key: ``{"v1": n, "v2": m, "sealed": s, "destroyed": d}``."""
    counts: dict[str, int] = {}
    rows = (
        Blob.objects.values("state", "kek_version").annotate(n=Count("id")).order_by("kek_version")
    )
    for row in rows:
        if row["state"] == Blob.State.DESTROYED:
            label = "destroyed"
        elif row["kek_version"] is not None:
            label = f"v{row['kek_version']}"
        else:
            label = "sealed"
        counts[label] = counts.get(label, 0) + row["n"]
    return counts
