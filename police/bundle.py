"""The police case file: every file of a referred case's bundle, signed and streamed.

``write_bundle`` writes into an empty directory what LEGAL.md's "Police case file"
lists (ISO/IEC 27037, Berkeley Protocol): a Spanish cover sheet, the evidence
manifest (JSON and CSV), the context files decrypted exactly as received, the
case's custody log with the signed anchors of the audit chain, the takedown,
referral and consent logs, a restricted sheet of suspect identifiers, a CASE/UCO
1.5 JSON-LD graph, a VICS 2.0 hash set, and the integrity files: ``SHA256SUMS``,
an Ed25519 ``SIGNATURE`` over the manifest's SHA-256 and, when a timestamp
authority is configured, an RFC 3161 timestamp over the manifest with the
authority's chain. ``tools/verify_bundle.py`` checks all of it offline.

Never the fake image: Amparo holds only its fingerprints. Sealed originals cannot
be opened here and travel separately, encrypted to the unit's key; the manifest
names them. Paths inside the bundle are neutral (``files/E001.png``): original
filenames appear only inside the manifest, so a listing of the bundle (or of a ZIP
built from it) reveals nothing.

Memory stays flat: context files are copied segment by segment from the vault's
authenticated stream, hashed as they are written and checked against the SHA-256
recorded at intake; the custody log is read in batches and written line by line.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import logging
import os
import queue
import re
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import FieldError
from django.db import transaction

from support.events import staff_actor
from support.models import Case, ContextFile, Membership
from takedowns import vics
from takedowns.models import Notice
from vault import anchors, audit, crypto, keys, storage
from vault import services as vault_services
from vault.audit import _fields as audit_fields
from vault.models import AuditAnchor, AuditEvent, Blob

from .models import PoliceReferral

FORMAT = "amparo-police-bundle/1"
APP_VERSION = "0.1.0"
PROGRESS_STEP = 4 * 1024 * 1024
FONTS = Path(settings.BASE_DIR) / "static" / "fonts"
# fpdf2's font subsetting logs every glyph at INFO; nothing of it is useful in our logs.
logging.getLogger("fontTools").setLevel(logging.WARNING)

# Files outside the manifest's own list: the manifest itself and what is computed
# over it. Everything else in the bundle is listed, with its SHA-256.
MANIFEST = "manifest.json"
SIGNATURE = "SIGNATURE"
SIGNATURE_BIN = "signature/manifest.sig"
SHA256SUMS = "SHA256SUMS"
TIMESTAMP = "timestamp/manifest.tsr"
TSA_CHAIN = "timestamp/tsa-chain.pem"
SEALED_PACKAGE = "sealed/originals.ampsealed"
SEALED_MAGIC = b"AMPSEALED1\n"
SEALED_FORMAT = "amparo-sealed-originals/1"
UNLISTED = {MANIFEST, SIGNATURE, SIGNATURE_BIN, SHA256SUMS, TIMESTAMP, TSA_CHAIN}

# Alleged offences by report category (Spanish Penal Code), for the cover sheet. An
# indication for the investigator, not a legal qualification.
OFFENCES = {
    "fake_images": [
        ("189.1.d CP", "Pornografía infantil: imágenes realistas de menores (aunque sean falsas)"),
        ("173.1 CP", "Delito contra la integridad moral"),
    ],
    "shared_group": [
        ("197.7 CP", "Difusión de imágenes íntimas sin consentimiento (también reenviarlas)"),
        ("189.1.a-b CP", "Difusión de material de abuso sexual infantil"),
    ],
    "sextortion": [("243 CP", "Extorsión (sextorsión)")],
    "impersonation": [("172 ter.5 CP", "Uso de la imagen de una persona para acosarla")],
    "other": [],
}
ADULT_OFFENCES = {"fake_images": [("173.1 CP", "Delito contra la integridad moral")]}
CATEGORY_ES = {
    "fake_images": "Creación de imágenes sexuales falsas",
    "sextortion": "Exigencia de dinero o más imágenes, amenazas",
    "shared_group": "Imágenes compartidas en un grupo o canal",
    "impersonation": "Suplantación de identidad",
    "other": "Otros hechos",
}
FILER_ES = {
    "parent": "Madre, padre o tutor legal",
    "young_person": "La propia persona menor",
    "trusted_adult": "Otra persona adulta de confianza",
}
AGE_ES = {
    "under_12": "menor de 12 años",
    "12_13": "12 o 13 años",
    "14_15": "14 o 15 años",
    "16_17": "16 o 17 años",
    "18_plus": "18 años o más",
}
REFERRAL_ES = {
    "incibe_017": "INCIBE 017",
    "aepd": "AEPD Canal Prioritario",
    "policia_nacional": "Policía Nacional",
    "guardia_civil": "Guardia Civil",
    "fiscalia_menores": "Fiscalía de Menores",
    "school": "Coordinador de bienestar del centro (LOPIVI)",
    "social_services": "Servicios sociales / protección de menores",
    "other": "Otro",
}


class BundleError(Exception):
    """The bundle cannot be written; ``code`` says why (no personal data in it)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code


@dataclass(frozen=True)
class BundleResult:
    files: list[Path]  # relative to out_dir, every file written
    manifest_sha256: str
    exhibit_count: int


def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _pretty(value) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode()


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def _kb(name: str, *parts) -> str:
    """A stable CASE node id: the name and a UUIDv5 of its parts (CASE expects UUID tails)."""
    return f"kb:{name}-{uuid.uuid5(uuid.NAMESPACE_URL, '|'.join(map(str, parts)))}"


class DirectoryTarget:
    """Bundle files as files under a directory (the verifier's tests, a local copy).

    The export never uses it: there, the files go straight into the AES-256 ZIP
    (``police.exports.ZipTarget``), so no decrypted byte is ever written to disk.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def open(self, rel: str, size: int | None = None) -> _FileHandle:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return _FileHandle(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))

    def finished(self, rel: str, sha256: str, size: int) -> None:
        pass

    def discard(self, rel: str) -> None:
        (self.root / rel).unlink(missing_ok=True)


class _FileHandle:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def write_batch(self, batch: list[bytes]) -> None:
        _writev_all(self._fd, batch)

    def close(self) -> None:
        os.close(self._fd)


class _Writer:
    """Writes bundle files into a target (``DirectoryTarget``, or the export's ZIP),
    recording each one's SHA-256 and size as it goes.

    A target has ``open(rel, size=None)`` returning a handle with ``write_batch(list
    of bytes)`` and ``close()``, ``finished(rel, sha256, size)`` and ``discard(rel)``.
    """

    def __init__(self, target, progress: Callable[[int, int], None] | None) -> None:
        self.target = target
        self.files: dict[str, tuple[str, int]] = {}
        self.progress = progress
        self.total = 0
        self.done = 0
        self._reported = 0

    def bytes(self, rel: str, data: bytes) -> str:
        handle = self.target.open(rel, len(data))
        try:
            handle.write_batch([data])
        finally:
            handle.close()
        digest = hashlib.sha256(data).hexdigest()
        self.files[rel] = (digest, len(data))
        self.target.finished(rel, digest, len(data))
        return digest

    def stream(
        self, rel: str, chunks: Iterable[bytes], *, size_hint: int | None = None
    ) -> tuple[str, int]:
        """Write chunks to ``rel``, hashing them as they go (in this thread)."""
        return self._copy(rel, _batches(chunks), _Hash(), size_hint)

    def stream_into(self, rel: str, source, *, size_hint: int | None = None) -> tuple[str, int]:
        """Write ``source`` (``readinto(buffer)``: a vault ``PlaintextStream``) to
        ``rel``: reading, decrypting and SHA-256 run on a helper thread
        (``_ReadAhead``), into reused buffers, while this one writes."""
        ahead = _ReadAhead(source)
        return self._copy(rel, ahead, ahead, size_hint)

    def _copy(self, rel: str, batches, hasher, size_hint: int | None) -> tuple[str, int]:
        size = 0
        handle = self.target.open(rel, size_hint)
        try:
            for batch in batches:
                hasher.update(batch)
                # Handles consume the batch before they return (the ZIP entry encrypts
                # it into a buffer of its own): a read-ahead batch is reused after this.
                handle.write_batch(batch)
                n = sum(map(len, batch))
                size += n
                self.advance(n)
            digest = hasher.hexdigest()
        finally:
            hasher.close()
            handle.close()
        self.files[rel] = (digest, size)
        self.target.finished(rel, digest, size)
        return digest, size

    def advance(self, n: int) -> None:
        self.done += n
        if self.progress and (self.done - self._reported >= PROGRESS_STEP):
            self._reported = self.done
            self.progress(self.done, self.total)


# Segments are handed on in batches of about this many bytes: the vault yields 64 KiB
# segments, and one thread hand-off and one writev per megabyte instead of per segment
# keeps the Python overhead out of the per-byte cost.
BATCH = 1024 * 1024
# A context file's plaintext is decrypted into buffers of this size (``_ReadAhead``): a
# whole number of the vault's 64 KiB segments. Smaller than BATCH on purpose: over
# 256 MB, 2 and 4 MiB buffers cost 25-50% more CPU per byte than 512 KiB (a batch then
# passes through its three threads from main memory instead of each core's 4 MiB L2
# cache), and 256 KiB saves nothing more but doubles the thread wake-ups.
READ_AHEAD = 512 * 1024


def _batches(chunks: Iterable[bytes]) -> Iterable[list[bytes]]:
    batch: list[bytes] = []
    size = 0
    for chunk in chunks:
        if not chunk:
            continue
        batch.append(chunk)
        size += len(chunk)
        if size >= BATCH:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _writev_all(fd: int, batch: list[bytes]) -> None:
    """os.writev the whole batch, resuming after short writes."""
    views = [memoryview(b) for b in batch]
    while views:
        written = os.writev(fd, views[:1024])
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if written:
            views[0] = views[0][written:]


class _Hash:
    """SHA-256 of the batches, in this thread."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()

    def update(self, batch: list[bytes]) -> None:
        for chunk in batch:
            self._sha.update(chunk)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()

    def close(self) -> None:
        pass


class _ReadAhead:
    """A context file's plaintext in batches, read, decrypted and hashed on a helper
    thread into a small pool of reused buffers.

    Iterating yields one-piece batches (``[view]``), each a view of a pooled buffer
    that is handed back to the reader as soon as the consumer asks for the next
    one, so a consumer must be done with a batch before then (the bundle's handles
    are). Memory is flat: ``_POOL`` buffers of ``READ_AHEAD`` bytes, allocated once
    per file. Why not fresh bytes per segment: at hundreds of megabytes, allocating
    and freeing them (page faults: the C library returns freed heap to the kernel)
    and the cache misses of eight batches in flight cost more than the AES-GCM.
    SHA-256 runs here, right after each buffer is decrypted (still in cache), and
    this thread's two steps cost about what the consumer's (AES-CTR) and the ZIP
    writer's (HMAC-SHA1, the write) do, so on two cores the stages overlap.

    An exception in the reader (an altered segment: ``crypto.IntegrityError``) is
    raised where the batch would have been; ``close()`` stops the reader early. The
    digest (``hexdigest``) means something only once the iteration has ended without
    error: then it covers exactly the bytes iterated.
    """

    _POOL = 3
    _END = object()

    def __init__(self, source) -> None:
        self._source = source
        self._sha = hashlib.sha256()
        self._free: queue.Queue = queue.Queue()
        for _ in range(self._POOL):
            self._free.put(bytearray(READ_AHEAD))
        self._ready: queue.Queue = queue.Queue()  # never more than _POOL items
        self._thread = threading.Thread(target=self._run, name="bundle-read", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while (buffer := self._free.get()) is not None:
                n = 0
                with memoryview(buffer) as whole:
                    # Whole segments at a time; only the file's last one is shorter.
                    while n < len(whole) and (got := self._source.readinto(whole[n:])):
                        n += got
                    if not n:
                        self._ready.put(self._END)
                        return
                    with whole[:n] as view:
                        self._sha.update(view)
                self._ready.put((buffer, n))
        except BaseException as exc:  # handed to the consumer
            self._ready.put(exc)

    def __iter__(self):
        while True:
            item = self._ready.get()
            if item is self._END:
                return
            if isinstance(item, BaseException):
                raise item
            buffer, n = item
            with memoryview(buffer) as whole, whole[:n] as view:
                yield [view]
            self._free.put(buffer)

    def update(self, batch) -> None:
        pass  # hashed by the reader

    def hexdigest(self) -> str:
        self.close()  # the reader has finished with the hash
        return self._sha.hexdigest()

    def close(self) -> None:
        self._free.put(None)  # the reader stops at its next buffer; the pool is unbounded
        self._thread.join()


# --- what the case holds --------------------------------------------------------------


def _safe_ext(filename: str) -> str:
    ext = Path(filename).suffix.lower()
    return ext if re.fullmatch(r"\.[a-z0-9]{1,8}", ext) else ".bin"


def _stored_by(blob_ids: list[uuid.UUID]) -> dict[uuid.UUID, AuditEvent]:
    events = AuditEvent.objects.filter(object_id__in=blob_ids, event="blob.stored")
    return {e.object_id: e for e in events}


def _how_obtained(context_file: ContextFile, event: AuditEvent | None) -> tuple[str, str]:
    if context_file.from_family:
        how = "uploaded by the family through Amparo's report or status page (browser upload)"
    else:
        how = "uploaded by support-group staff in Amparo (browser upload)"
    who = ""
    if event is not None:
        who = f"{event.actor_ref} ({event.actor_role})" if event.actor_role else event.actor_ref
    return how, who


def _exhibits(case: Case, unit=None) -> tuple[list[dict], list[ContextFile]]:
    """One manifest row per item, numbered E001…: context files, fingerprints, locations.

    A sealed original (its key sealed to a recipient's X25519 public key, unreadable
    here) goes into the sealed package when it was sealed to ``unit``'s key; sealed to
    anyone else, it is listed and left out."""
    files = list(case.files.select_related("blob").order_by("created_at", "id"))
    stored = _stored_by([f.blob.uuid for f in files])
    rows: list[dict] = []
    number = 0
    for context_file in files:
        number += 1
        blob = context_file.blob
        how, who = _how_obtained(context_file, stored.get(blob.uuid))
        filename = blob.filename() if blob.state == Blob.State.STORED else ""
        if blob.state == Blob.State.DESTROYED:
            status, path = "destroyed before export (only its hashes remain)", ""
        elif blob.is_sealed and unit is not None and blob.recipient_id == unit.recipient_key_id:
            status, path = (
                f"sealed original: in {SEALED_PACKAGE}, encrypted to the unit's key "
                "(open it with verify_bundle.py --open-sealed)",
                "",
            )
        elif blob.is_sealed:
            status, path = "sealed original for another recipient: not in this file", ""
        else:
            status, path = "included", f"files/E{number:03d}{_safe_ext(filename)}"
        rows.append(
            {
                "exhibit": f"E{number:03d}",
                "kind": "context_file",
                "original_filename": filename,
                "type": blob.content_type,
                "type_note": "as declared by the sender's browser, not verified",
                "size": blob.size,
                "sha256": blob.sha256,
                "md5_matching_aid": blob.md5,
                "pdq_matching_aid": blob.pdq_hash,
                "how_obtained": how,
                "obtained_at_utc": _utc(blob.created_at),
                "obtained_by": who,
                "source_url": "",
                "source_platform": "",
                "source_account": "",
                "metadata_summary": blob.metadata() if blob.state == Blob.State.STORED else {},
                "status": status,
                "path": path,
                "_file": context_file,
                "_sealed": status.startswith("sealed original: in"),
            }
        )
    for fp in case.fingerprints.order_by("created_at", "id"):
        number += 1
        rows.append(
            {
                "exhibit": f"E{number:03d}",
                "kind": "fingerprint",
                "original_filename": "",
                "type": fp.media,
                "type_note": "the file stayed on the family's device; only its hashes exist here",
                "size": fp.size,
                "sha256": fp.sha256,
                "md5_matching_aid": fp.md5,
                "pdq_matching_aid": fp.pdq,
                "how_obtained": "hashes computed in the family's browser from the file on their "
                "device (SHA-256 and MD5 with WebCrypto/JS, PDQ " + (fp.pdq_version or "n/a") + ")",
                "obtained_at_utc": _utc(fp.created_at),
                "obtained_by": "family",
                "source_url": "",
                "source_platform": "",
                "source_account": "",
                "metadata_summary": {"pdq_quality": fp.pdq_quality} if fp.pdq else {},
                "status": "hashes only (never the image)",
                "path": "",
            }
        )
    for location in case.locations.order_by("created_at", "id"):
        number += 1
        rows.append(
            {
                "exhibit": f"E{number:03d}",
                "kind": f"location_{location.kind}",
                "original_filename": "",
                "type": "",
                "type_note": "",
                "size": None,
                "sha256": "",
                "md5_matching_aid": "",
                "pdq_matching_aid": "",
                "how_obtained": "given by the family in the report (normalised address)",
                "obtained_at_utc": _utc(location.created_at),
                "obtained_by": "family",
                "source_url": location.value,
                "source_platform": location.platform,
                "source_account": "",
                "metadata_summary": {},
                "status": "reference only",
                "path": "",
            }
        )
    return rows, files


def _public_row(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("_")}


CSV_COLUMNS = [
    "exhibit",
    "kind",
    "original_filename",
    "type",
    "size",
    "sha256",
    "md5_matching_aid",
    "pdq_matching_aid",
    "how_obtained",
    "obtained_at_utc",
    "obtained_by",
    "source_url",
    "source_platform",
    "source_account",
    "metadata_summary",
    "status",
    "path",
]


def _manifest_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = []
        for column in CSV_COLUMNS:
            value = row[column]
            if isinstance(value, dict):
                value = json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
            values.append("" if value is None else str(value))
        writer.writerow(values)
    return out.getvalue().encode("utf-8")


# --- sealed originals ----------------------------------------------------------------------


def _sealed_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("_sealed")]


def _write_sealed(w: _Writer, rows: list[dict], unit, case: Case, actor) -> dict | None:
    """sealed/originals.ampsealed: the sealed originals meant for ``unit``, as they are
    stored — each file's AMPV1 ciphertext and its DEK sealed to the unit's X25519 key.

    Threat: a sealed original must stay unreadable to the server and to anyone who
    gets the case file without the unit's private key (the ZIP passphrase included).
    Choice: the server cannot decrypt them and does not try; it copies the ciphertext
    and the 92-byte sealed DEK, which only the unit's private key opens (X25519 +
    HKDF-SHA-256 + AES-GCM, bound to the blob id; every 64 KiB segment authenticated).
    Layout: ``AMPSEALED1\n``, a 4-byte big-endian length, a JSON header (per entry:
    exhibit, blob id, sealed DEK, SHA-256 and size of the original, ciphertext size),
    then the ciphertexts in the header's order. The manifest lists the package by its
    SHA-256 only; ``tools/verify_bundle.py --open-sealed`` opens it.
    """
    sealed = _sealed_rows(rows)
    if not sealed:
        return None
    blobs = {b.pk: b for b in Blob.objects.filter(pk__in=[r["_file"].blob_id for r in sealed])}
    entries, pairs = [], []
    for row in sealed:
        blob = blobs[row["_file"].blob_id]
        if blob.state != Blob.State.STORED or blob.sealed_dek is None:
            raise BundleError("sealed-unavailable", row["exhibit"])
        entry = {
            "exhibit": row["exhibit"],
            "blob_id": str(blob.uuid),
            "sealed_dek": base64.b64encode(bytes(blob.sealed_dek)).decode(),
            "sha256": blob.sha256,
            "size": blob.size,
            "ciphertext_size": crypto.ciphertext_size(blob.size),
            "extension": _safe_ext(row["original_filename"]),
        }
        entries.append(entry)
        pairs.append((entry, blob))
    header = _canonical(
        {
            "format": SEALED_FORMAT,
            "recipient_fingerprint": unit.recipient_key.fingerprint,
            "recipient": unit.name,
            "entries": entries,
        }
    )
    store = storage.evidence_store()

    def chunks():
        yield SEALED_MAGIC + len(header).to_bytes(4, "big") + header
        for entry, blob in pairs:
            with transaction.atomic():
                audit.record(
                    "blob.exported_sealed",
                    actor=actor,
                    object_type="blob",
                    object_id=blob.uuid,
                    organisation_id=case.organisation.uuid,
                    data={"kind": blob.kind, "recipient": unit.recipient_key.fingerprint},
                )
            left = entry["ciphertext_size"]
            reader = store.open(blob.storage_key)
            try:
                while left > 0 and (piece := reader.read(min(left, BATCH))):
                    left -= len(piece)
                    yield piece
                if left or reader.read(1):
                    raise BundleError("sealed-size", entry["exhibit"])
            finally:
                reader.close()

    size_hint = len(SEALED_MAGIC) + 4 + len(header) + sum(e["ciphertext_size"] for e in entries)
    digest, size = w.stream(SEALED_PACKAGE, chunks(), size_hint=size_hint)
    return {
        "path": SEALED_PACKAGE,
        "sha256": digest,
        "size": size,
        "format": SEALED_FORMAT,
        "recipient": unit.name,
        "recipient_fingerprint": unit.recipient_key.fingerprint,
        "exhibits": [e["exhibit"] for e in entries],
        "note": "encrypted to the receiving unit's X25519 key; Amparo cannot open it",
    }


# --- logs ----------------------------------------------------------------------------


def _plain_rows(model, case: Case) -> list[dict] | None:
    """Every concrete field of the case's rows, decrypting `EncryptedText` columns by name."""
    try:
        queryset = model.objects.filter(case=case).order_by("pk")
        rows = []
        for obj in queryset:
            row = {}
            for field in obj._meta.concrete_fields:
                if field.name in {"id", "case"}:
                    continue
                if field.name.endswith("_sealed"):
                    plain = field.name.removesuffix("_sealed")
                    value = getattr(obj, plain, None)
                    row[plain] = value if isinstance(value, str | dict | list) else ""
                    continue
                value = getattr(obj, field.attname)
                if isinstance(value, bytes | memoryview):
                    continue
                row[field.attname] = (
                    value if isinstance(value, int | bool | type(None)) else str(value)
                )
            rows.append(row)
        return rows
    except (FieldError, ValueError, TypeError):
        return None


def _takedown_log(case: Case) -> dict:
    return {"takedowns": _plain_rows(Notice, case) or []}


def _referrals_log(case: Case) -> dict:
    support = []
    for referral in case.referrals.select_related("by").order_by("on", "id"):
        support.append(
            {
                "uuid": str(referral.uuid),
                "to": referral.to,
                "to_es": REFERRAL_ES.get(referral.to, referral.to),
                "on": referral.on.isoformat(),
                "by_role": referral.by.role if referral.by else "",
                "by": f"membership:{referral.by.uuid}" if referral.by else "",
                "external_reference": referral.reference,
                "outcome": referral.outcome,
                "recorded_at_utc": _utc(referral.created_at),
            }
        )
    return {
        "support_referrals": support,
        "police_referrals": _plain_rows(PoliceReferral, case) or [],
    }


def _consent_log(case: Case) -> dict:
    return {
        "consents": [
            {
                "uuid": str(c.uuid),
                "kind": c.kind,
                "given": c.given,
                "given_by": c.given_by,
                "recorded_at_utc": _utc(c.created_at),
            }
            for c in case.consents.order_by("created_at", "id")
        ],
        "note": "append-only: the newest record per kind is the one in force",
    }


def _suspects(case: Case) -> dict:
    return {
        "RESTRICTED": (
            "RESTRINGIDO. Identificadores de posibles autores, que pueden ser menores de "
            "edad y gozan de la presunción de inocencia. Uso exclusivo de la unidad "
            "investigadora; no difundir ni adjuntar a comunicaciones con terceros."
        ),
        "identifiers": [
            {
                "uuid": str(i.uuid),
                "kind": i.kind,
                "platform": i.platform,
                "value": i.value,
                "is_demanding_party": i.is_demanding_party,
                "given_by_family_at_utc": _utc(i.created_at),
            }
            for i in case.identifiers.order_by("created_at", "id")
        ],
    }


# --- custody log and anchors --------------------------------------------------------------


def _case_object_ids(case: Case, files: list[ContextFile]) -> set[uuid.UUID]:
    ids = {case.uuid}
    blob_ids = [f.blob.uuid for f in files]
    ids.update(blob_ids)
    ids.update(Blob.objects.filter(parent__uuid__in=blob_ids).values_list("uuid", flat=True))
    ids.update(case.referrals.values_list("uuid", flat=True))
    for model in (Notice, PoliceReferral):
        ids.update(model.objects.filter(case=case).values_list("uuid", flat=True))
    return ids


def _write_custody(w: _Writer, ids: set[uuid.UUID], anchor: AuditAnchor) -> dict:
    """custody/chain.jsonl: every link of the audit chain from the case's first event to
    the anchor signed for this export — the case's events in full, other events as
    their hashes only (they belong to other cases) — plus a readable CSV and the anchors.
    """
    first = (
        AuditEvent.objects.filter(object_id__in=ids, id__lte=anchor.seq)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if first is None:
        first = anchor.seq
    csv_out = io.StringIO()
    table = csv.writer(csv_out, lineterminator="\r\n")
    table.writerow(
        ["seq", "when_utc", "actor", "role", "event", "object_type", "object_id", "details"]
    )
    counts = {"links": 0, "case_events": 0}

    def lines():
        span = AuditEvent.objects.filter(id__gte=first, id__lte=anchor.seq).order_by("id")
        for event in span.iterator(chunk_size=2000):
            link = {"seq": event.id, "prev_hash": event.prev_hash, "hash": event.hash}
            if event.object_id in ids:
                fields = audit_fields(event)
                link["event"] = fields
                counts["case_events"] += 1
                table.writerow(
                    [
                        event.id,
                        fields["created_at"],
                        fields["actor_ref"],
                        fields["actor_role"],
                        fields["event"],
                        fields["object_type"],
                        fields["object_id"],
                        json.dumps(fields["data"], sort_keys=True) if fields["data"] else "",
                    ]
                )
            counts["links"] += 1
            yield _canonical(link) + b"\n"

    w.stream("custody/chain.jsonl", lines())
    w.bytes("custody/custody.csv", csv_out.getvalue().encode())
    public = keys.signing_public_key()
    anchor_rows = [
        {
            "seq": a.seq,
            "head_hash": a.head_hash,
            "signed_at": anchors.format_time(a.signed_at),
            "signature": a.signature,
            "key_id": a.key_id,
        }
        for a in AuditAnchor.objects.filter(seq__gte=first, seq__lte=anchor.seq).order_by("seq")
    ]
    w.bytes(
        "custody/anchors.json",
        _pretty(
            {
                "algorithm": "Ed25519",
                "message": "UTF-8 lines joined by \\n: 'amparo-audit-anchor/v1', seq, "
                "head_hash, signed_at",
                "public_key": crypto.public_key_to_b64(public),
                "key_id": keys.signing_key_id(public),
                "anchors": anchor_rows,
            }
        ),
    )
    return {
        "first_seq": first,
        "head_seq": anchor.seq,
        "head_hash": anchor.head_hash,
        "links": counts["links"],
        "case_events": counts["case_events"],
        "hash_rule": "hash = SHA-256(prev_hash + '\\n' + JSON(event, keys sorted, "
        "separators ',' ':', ASCII escapes))",
    }


# --- CASE/UCO and VICS ------------------------------------------------------------------

CASE_CONTEXT = {
    "kb": "http://example.org/kb/",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


def _hash_node(owner: str, method: str, value: str) -> dict:
    return {
        "@id": _kb(f"hash-{method.lower()}", owner, method),
        "@type": "uco-types:Hash",
        "uco-types:hashMethod": method,
        "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": value},
    }


def _case_jsonld(case: Case, rows: list[dict], requested_by: Membership, now: datetime) -> dict:
    tool = _kb("tool-amparo", APP_VERSION)
    exporter = _kb("identity", "membership", requested_by.uuid)
    family = _kb("identity", "family", case.uuid)
    graph: list[dict] = [
        {"@id": tool, "@type": "uco-tool:Tool", "uco-core:name": "Amparo",
         "uco-tool:version": APP_VERSION},
        {"@id": exporter, "@type": "uco-identity:Identity",
         "uco-core:name": f"{requested_by.get_role_display()} (membership {requested_by.uuid})"},
        {"@id": family, "@type": "uco-identity:Identity",
         "uco-core:name": "reporting family (pseudonymous)"},
    ]  # fmt: skip
    objects = []
    exhibit_nodes = []
    for row in rows:
        owner = f"{case.uuid}|{row['exhibit']}"
        if row["kind"].startswith("location"):
            node_id = _kb(f"url-{row['exhibit']}", owner)
            graph.append(
                {
                    "@id": node_id,
                    "@type": "uco-observable:URL",
                    "uco-core:hasFacet": [
                        {
                            "@id": _kb("url-facet", owner),
                            "@type": "uco-observable:URLFacet",
                            "uco-observable:fullValue": row["source_url"],
                        }
                    ],
                }
            )
        else:
            node_id = _kb(f"exhibit-{row['exhibit']}", owner)
            facets = []
            if row["kind"] == "context_file":
                file_facet = {
                    "@id": _kb("file-facet", owner),
                    "@type": "uco-observable:FileFacet",
                    "uco-observable:fileName": row["original_filename"] or row["exhibit"],
                }
                if row["size"] is not None:
                    file_facet["uco-observable:sizeInBytes"] = row["size"]
                facets.append(file_facet)
            hashes = [_hash_node(owner, "SHA256", row["sha256"])]
            if row["md5_matching_aid"]:
                hashes.append(_hash_node(owner, "MD5", row["md5_matching_aid"]))
            content = {
                "@id": _kb("content-facet", owner),
                "@type": "uco-observable:ContentDataFacet",
                "uco-observable:hash": hashes,
            }
            if row["type"] and row["kind"] == "context_file":
                content["uco-observable:mimeType"] = row["type"]
            if row["size"] is not None and row["kind"] == "fingerprint":
                content["uco-observable:sizeInBytes"] = row["size"]
            facets.append(content)
            graph.append(
                {"@id": node_id, "@type": "uco-observable:File", "uco-core:hasFacet": facets}
            )
        provenance = _kb(f"provenance-{row['exhibit']}", owner)
        action = _kb(f"action-intake-{row['exhibit']}", owner)
        graph.append(
            {
                "@id": provenance,
                "@type": "case-investigation:ProvenanceRecord",
                "case-investigation:exhibitNumber": row["exhibit"],
                "uco-core:description": row["how_obtained"],
                "uco-core:object": [{"@id": node_id}],
            }
        )
        intake = {
            "@id": action,
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": row["how_obtained"],
            "uco-action:performer": {"@id": family},
            "uco-action:instrument": {"@id": tool},
            "uco-action:result": [{"@id": node_id}, {"@id": provenance}],
        }
        if row["obtained_at_utc"]:
            intake["uco-action:startTime"] = {
                "@type": "xsd:dateTime",
                "@value": row["obtained_at_utc"],
            }
        graph.append(intake)
        objects += [{"@id": node_id}, {"@id": provenance}, {"@id": action}]
        exhibit_nodes.append({"@id": node_id})
    export_action = _kb("action-export", case.uuid, _utc(now))
    graph.append(
        {
            "@id": export_action,
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": "case file exported for the police",
            "uco-action:startTime": {"@type": "xsd:dateTime", "@value": _utc(now)},
            "uco-action:performer": {"@id": exporter},
            "uco-action:instrument": {"@id": tool},
            "uco-action:object": exhibit_nodes,
        }
    )
    objects.append({"@id": export_action})
    graph.insert(
        0,
        {
            "@id": _kb(f"investigation-{case.reference}", case.uuid),
            "@type": "case-investigation:Investigation",
            "uco-core:name": case.reference,
            "uco-core:object": objects,
        },
    )
    return {"@context": CASE_CONTEXT, "@graph": graph}


def _vics(case: Case, rows: list[dict]) -> bytes:
    entries = [
        vics.HashEntry(
            media_id=row["exhibit"],
            md5=row["md5_matching_aid"],
            sha256=row["sha256"],
            pdq=row["pdq_matching_aid"],
            pdq_quality=row["metadata_summary"].get("pdq_quality"),
        )
        for row in rows
        if row["kind"] == "fingerprint"
    ]
    document = vics.case_set(
        case_id=str(case.uuid),
        case_number=case.reference,
        entries=entries,
        organisation=case.organisation.name,
        application_version=APP_VERSION,
    )
    return vics.dumps(document)


# --- cover sheet ---------------------------------------------------------------------


def offences_for(case: Case) -> list[tuple[str, str]]:
    """Alleged offences (article, description) for the case's categories, without repeats."""
    adult = case.age_band == "18_plus"
    seen, out = set(), []
    for category in case.categories:
        table = ADULT_OFFENCES if adult else OFFENCES
        candidates = table.get(category, OFFENCES.get(category, []))
        if adult and category == "shared_group":
            candidates = [OFFENCES["shared_group"][0]]
        for article, text in candidates:
            if article not in seen:
                seen.add(article)
                out.append((article, text))
    return out


def _external_references(referrals: dict, takedowns: dict) -> list[str]:
    refs = []
    for r in referrals["support_referrals"]:
        if r["external_reference"]:
            label = "Atestado" if r["to"] in {"policia_nacional", "guardia_civil"} else r["to_es"]
            refs.append(f"{label}: {r['external_reference']} ({r['on']})")
    for notice in takedowns["takedowns"]:
        for key in ("ticket", "platform_ticket", "external_reference", "platform_reference"):
            if notice.get(key):
                refs.append(f"Ticket de plataforma {notice.get('platform', '')}: {notice[key]}")
    return refs


def _cover_pdf(
    case: Case, rows, referrals, takedowns, suspects, purpose, requested_by, now
) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(f"Expediente {case.reference}")
    pdf.set_creator("Amparo")
    pdf.set_creation_date(now)
    pdf.add_font("DejaVu", "", str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def heading(text):
        pdf.ln(2)
        pdf.set_font("DejaVu", "B", 12)
        pdf.multi_cell(width, 7, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)

    def line(text):
        pdf.multi_cell(width, 5.5, text, new_x="LMARGIN", new_y="NEXT")

    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(
        width, 9, "Expediente para la policía — Hoja de portada", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("DejaVu", "", 10)
    line(f"Referencia del caso: {case.reference}")
    line(f"Organización de apoyo: {case.organisation.name}")
    line(f"Generado (UTC): {_utc(now)} por {requested_by.get_role_display()} "
         f"(membresía {requested_by.uuid})")  # fmt: skip
    line(f"Finalidad declarada: {purpose}")

    heading("Referencias externas")
    refs = _external_references(referrals, takedowns)
    for ref in refs or ["Ninguna registrada (atestado, AEPD, tickets de plataformas)."]:
        line(f"• {ref}")

    heading("Hechos denunciados y posibles delitos (orientativo)")
    for category in case.categories:
        line(f"• {CATEGORY_ES.get(category, category)}")
    for article, text in offences_for(case) or [("—", "A valorar por la autoridad")]:
        line(f"  Art. {article}: {text}")
    line("La calificación jurídica corresponde a la policía, la fiscalía y los tribunales.")

    heading("Víctima (seudonimizada)")
    victim = "V-" + hashlib.sha256(f"victim|{case.uuid}".encode()).hexdigest()[:8].upper()
    line(f"{victim}: edad {AGE_ES.get(case.age_band, case.age_band)}. "
         "Su identidad la facilita la organización de apoyo a petición de la unidad.")  # fmt: skip
    heading("Persona que informa")
    line(FILER_ES.get(case.filer_role, case.filer_role) + " (sin nombre en este expediente).")

    heading("Fechas")
    line(f"Denuncia recibida en Amparo (UTC): {_utc(case.created_at)}")
    if case.first_response_at:
        line(f"Primera respuesta de la organización (UTC): {_utc(case.first_response_at)}")
    dated = sorted(r["obtained_at_utc"] for r in rows if r["obtained_at_utc"])
    if dated:
        line(f"Pruebas obtenidas entre {dated[0]} y {dated[-1]} (UTC)")

    heading("Relato de la familia")
    line(case.narrative or "(sin relato escrito)")

    heading("Lista de pruebas")
    for row in rows:
        what = row["original_filename"] or row["source_url"] or row["kind"]
        digest = f" SHA-256 {row['sha256']}" if row["sha256"] else ""
        line(f"{row['exhibit']} · {row['kind']} · {what}{digest} · {row['status']}")
    line(
        "Nunca se incluye la imagen falsa: de ella solo existen sus huellas (SHA-256, MD5 y PDQ), "
        "en manifest.json y fingerprints.vics.json."
    )
    heading("Hoja restringida")
    line(f"restricted/suspects.json: {len(suspects['identifiers'])} identificadores de posibles "
         "autores, que pueden ser menores. Acceso restringido.")  # fmt: skip
    heading("Verificación")
    line("Cada archivo figura con su SHA-256 en manifest.json, firmado con Ed25519 (SIGNATURE). "
         "Compruébelo con: python verify_bundle.py <carpeta> --public-key <clave>, o con "
         "sha256sum -c SHA256SUMS y openssl (instrucciones en VERIFY.txt).")  # fmt: skip
    return bytes(pdf.output())


VERIFY_TEXT = """\
Verificación de este expediente / Verifying this case file
===========================================================

1. Con la herramienta / With the tool (needs Python and the `cryptography` package):

   python verify_bundle.py . --public-key signature/signing-key.pem

   Compare the key id it prints ({key_id}) with the one the support group
   publishes (Django admin, README). It checks every file against the manifest,
   the signature, the custody chain and its signed anchors, and the timestamp.

2. Sin la herramienta / Without it (coreutils + OpenSSL 3):

   sha256sum -c SHA256SUMS
   openssl dgst -sha256 -binary manifest.json > /tmp/manifest.sha256
   openssl pkeyutl -verify -pubin -inkey signature/signing-key.pem -rawin \\
       -in /tmp/manifest.sha256 -sigfile signature/manifest.sig
   # timestamp, when present:
   openssl ts -verify -data manifest.json -in timestamp/manifest.tsr \\
       -CAfile timestamp/tsa-chain.pem

   SHA256SUMS must list exactly the files of manifest.json plus manifest.json.
"""


# --- signature and timestamp ---------------------------------------------------------------


def _timestamp(manifest: bytes) -> bytes:
    """Ask the configured RFC 3161 authority for a timestamp over the manifest's bytes.

    The response is checked (status, our nonce, the imprint, the signature up to the
    configured chain) before it goes into the bundle.
    """
    from cryptography import x509
    from rfc3161_client import TimestampRequestBuilder, VerifierBuilder, decode_timestamp_response

    request = (
        TimestampRequestBuilder()
        .data(manifest)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    http = urllib.request.Request(  # noqa: S310 - an operator-configured https URL
        settings.AMPARO_TSA_URL,
        data=request.as_bytes(),
        headers={"Content-Type": "application/timestamp-query"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(http, timeout=settings.AMPARO_TSA_TIMEOUT) as reply:  # noqa: S310
            body = reply.read(1024 * 1024)
    except OSError as exc:
        raise BundleError("tsa-unreachable", type(exc).__name__) from None
    try:
        response = decode_timestamp_response(body)
        chain = x509.load_pem_x509_certificates(Path(settings.AMPARO_TSA_CHAIN_FILE).read_bytes())
        builder = VerifierBuilder().nonce(request.nonce)
        for cert in chain:
            if cert.issuer == cert.subject:
                builder = builder.add_root_certificate(cert)
            else:
                builder = builder.add_intermediate_certificate(cert)
        builder.build().verify_message(response, manifest)
    except Exception as exc:  # any malformed or unverifiable reply is refused alike
        raise BundleError("tsa-invalid", type(exc).__name__) from None
    return body


def write_bundle(
    *,
    case: Case,
    out_dir: Path | None = None,
    target=None,
    purpose: str,
    requested_by: Membership,
    progress: Callable[[int, int], None] | None = None,
    unit=None,
) -> BundleResult:
    """Write the whole police bundle for ``case`` into the empty directory ``out_dir``,
    or into ``target`` (see ``_Writer``; the export passes its AES-256 ZIP).

    Raises ``BundleError`` when a context file no longer matches the SHA-256 recorded
    at intake, or the timestamp authority fails; the caller discards ``out_dir``.
    Each context file copied is a ``blob.exported`` custody event by ``requested_by``.
    ``unit`` (a ``PoliceUnit``; by default the liaison's own) receives the sealed
    originals sealed to its key, in ``sealed/originals.ampsealed``.
    """
    if target is None:
        out_dir = Path(out_dir)
        if any(out_dir.iterdir()):
            raise BundleError("not-empty", "out_dir must be an empty directory")
        target = DirectoryTarget(out_dir)
    now = datetime.now(UTC)
    w = _Writer(target, progress)
    if unit is None:
        assignment = getattr(requested_by, "police_assignment", None)
        unit = assignment.unit if assignment is not None else None
    rows, files = _exhibits(case, unit)
    w.total = sum(r["size"] or 0 for r in rows if r["path"])

    # The anchor first: the custody log runs up to a head signed for this export.
    anchor = anchors.sign_head()
    if anchor is None:
        raise BundleError("empty-audit-log")
    custody = _write_custody(w, _case_object_ids(case, files), anchor)

    # Everything the cover sheet needs is read now; the sheet itself (fpdf2 parsing and
    # subsetting two TrueType fonts: a fixed cost near half a second) is rendered on a
    # helper thread while the context files stream, which spend their time in C code
    # that releases the GIL. The thread touches no database connection.
    public_rows = [_public_row(r) for r in rows]
    sealed_total = sum(r["size"] or 0 for r in _sealed_rows(rows))
    w.total += sealed_total
    takedowns, referrals = _takedown_log(case), _referrals_log(case)
    suspects = _suspects(case)
    _ = case.organisation.name, case.narrative
    cover = _Background(
        _cover_pdf, case, public_rows, referrals, takedowns, suspects, purpose, requested_by, now
    )

    actor = staff_actor(requested_by)
    for row in rows:
        if not row["path"]:
            continue
        blob = row["_file"].blob
        stream = vault_services.open_blob(
            blob, actor=actor, purpose="export", organisation_id=case.organisation.uuid
        )
        try:
            digest, size = w.stream_into(row["path"], stream, size_hint=blob.size)
        except crypto.IntegrityError:
            target.discard(row["path"])
            raise BundleError("file-integrity", row["exhibit"]) from None
        finally:
            stream.close()
        if digest != blob.sha256 or size != blob.size:
            target.discard(row["path"])
            raise BundleError("file-hash-mismatch", row["exhibit"])

    sealed_package = _write_sealed(w, rows, unit, case, actor)
    w.bytes("manifest.csv", _manifest_csv(public_rows))
    w.bytes("logs/takedowns.json", _pretty(takedowns))
    w.bytes("logs/referrals.json", _pretty(referrals))
    w.bytes("logs/consents.json", _pretty(_consent_log(case)))
    w.bytes("restricted/suspects.json", _pretty(suspects))
    w.bytes("case.jsonld", _pretty(_case_jsonld(case, public_rows, requested_by, now)))
    w.bytes("fingerprints.vics.json", _vics(case, public_rows))
    w.bytes("cover.pdf", cover.result())
    public = keys.signing_public_key()
    w.bytes("signature/signing-key.pem", _public_pem(public))
    w.bytes("VERIFY.txt", VERIFY_TEXT.format(key_id=keys.signing_key_id(public)).encode())

    manifest = {
        "format": FORMAT,
        "generator": f"Amparo {APP_VERSION}",
        "generated_at_utc": _utc(now),
        "case": {"reference": case.reference, "uuid": str(case.uuid)},
        "organisation": case.organisation.name,
        "purpose": purpose,
        "requested_by": {"membership": str(requested_by.uuid), "role": requested_by.role},
        "signing_key": {
            "algorithm": "Ed25519",
            "key_id": keys.signing_key_id(public),
            "public_key": crypto.public_key_to_b64(public),
        },
        "timestamp": {"requested": bool(settings.AMPARO_TSA_URL), "path": TIMESTAMP},
        "custody": custody,
        "exhibits": public_rows,
        "files": [
            {"path": path, "sha256": digest, "size": size}
            for path, (digest, size) in sorted(w.files.items())
        ],
        "restricted_files": ["restricted/suspects.json"],
        "never_included": "the fake image itself: only its fingerprints exist in Amparo",
    }
    if sealed_package:
        manifest["sealed_originals"] = sealed_package
    manifest_bytes = _pretty(manifest)
    manifest_sha256 = w.bytes(MANIFEST, manifest_bytes)
    digest = bytes.fromhex(manifest_sha256)
    signature = crypto.sign(keys.signing_key(), digest)
    w.bytes(SIGNATURE_BIN, signature)
    w.bytes(
        SIGNATURE,
        _pretty(
            {
                "algorithm": "Ed25519",
                "signed_message": "the 32-byte SHA-256 digest of manifest.json",
                "manifest_sha256": manifest_sha256,
                "signature": signature.hex(),
                "key_id": keys.signing_key_id(public),
                "public_key": crypto.public_key_to_b64(public),
            }
        ),
    )
    if settings.AMPARO_TSA_URL:
        w.bytes(TIMESTAMP, _timestamp(manifest_bytes))
        w.bytes(TSA_CHAIN, Path(settings.AMPARO_TSA_CHAIN_FILE).read_bytes())
    sums = [f"{w.files[p][0]}  {p}\n" for p in sorted(w.files) if p not in UNLISTED - {MANIFEST}]
    w.bytes(SHA256SUMS, "".join(sums).encode())
    if progress:
        progress(w.total, w.total)
    return BundleResult(
        files=[Path(p) for p in sorted(w.files)],
        manifest_sha256=manifest_sha256,
        exhibit_count=len(rows),
    )


class _Background:
    """Run ``fn(*args)`` on a thread; ``result()`` waits and returns it or re-raises."""

    def __init__(self, fn, *args) -> None:
        self._value = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = fn(*args)
            except BaseException as exc:  # re-raised in the caller by result()
                self._error = exc

        self._thread = threading.Thread(target=run, name="bundle-cover", daemon=True)
        self._thread.start()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _public_pem(public: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(public).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
