"""Building, packing, delivering and expiring case-file exports.

Threat: the case file is the most sensitive thing Amparo ever writes — every
context file decrypted, the custody log, suspects' identifiers. Choices:

* no decrypted byte is ever written to disk: the bundle writer
  (`police.bundle_api`) streams every file straight into a WinZip AES-256 ZIP
  (pyzipper; 7-Zip opens it) under a passphrase shown once to the liaison, in
  batches of at most 1 MiB through small pools of reused buffers (flat memory).
  The ZIP is written as a hidden `.part` file (0600) and deleted whatever goes
  wrong. ZIP entry names are readable without the password, so entries are named
  E001, E002…; the real names are only inside the encrypted entry E000 (a CSV
  index), along with each file's SHA-256 and size. Already-compressed files (the
  context files, the sealed package, the PDF) are stored, the rest deflated:
  entries are encrypted either way;
* the passphrase lives encrypted in the export row only while the worker needs
  it, and is erased as soon as the ZIP exists or the build fails;
* the ZIP is downloaded once, within its lifetime, by the liaison who asked for
  it, with the one-time token; it is unlinked as the download starts;
* the build runs outside any long database transaction (the audit chain's lock
  is taken per event), so the rest of Amparo keeps working during an export.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyzipper
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from support.events import ServiceError, staff_actor
from support.members import token_hash
from support.models import OutboxMessage
from vault import audit, keys

from . import bundle_api
from .aeszip import AESZipWriter
from .models import Export
from .services import passphrase_context

log = logging.getLogger(__name__)

INDEX_ENTRY = "E000"
# A build not finished in this long is taken to be dead (its worker was killed).
STALE_BUILD = timedelta(minutes=30)


def export_root() -> Path:
    root = Path(settings.POLICE_EXPORT_ROOT)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def _zip_name(export: Export) -> str:
    return f"{export.uuid}.zip"


def _part_name(export: Export) -> str:
    # Hidden, and never a name a download is served from (file_path is the final name).
    return f".{_zip_name(export)}.part"


_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_PART_RE = re.compile(rf"^\.({_UUID})\.zip\.part$")
_ZIP_RE = re.compile(rf"^({_UUID})\.zip$")


def _progress_key(export_uuid) -> str:
    return f"police:export-progress:{export_uuid}"


def set_progress(export: Export, percent: int) -> None:
    """Live progress for the page's bar. The worker's own row is only saved at the end,
    so the figure goes through the shared cache (a number, nothing else)."""
    cache.set(_progress_key(export.uuid), max(0, min(100, int(percent))), timeout=3600)


def progress_of(export: Export) -> int:
    if export.state in {Export.State.READY, Export.State.DOWNLOADED}:
        return 100
    live = cache.get(_progress_key(export.uuid))
    return int(live) if live is not None else export.progress


def _system_event(export: Export, event: str, data: dict | None = None) -> None:
    with transaction.atomic():
        audit.record(
            event,
            actor=audit.Actor.system("police.build_export"),
            object_type="case",
            object_id=export.case.uuid,
            organisation_id=export.case.organisation.uuid,
            data={"export": str(export.uuid), **(data or {})},
        )


def _mark_outbox_done(outbox_id: str | None) -> None:
    if outbox_id:
        OutboxMessage.objects.filter(uuid=outbox_id, done_at=None).update(done_at=timezone.now())


def _claim(export_uuid: str) -> Export | None:
    """Move a queued (or abandoned) export to `building`; None if another run owns it."""
    with transaction.atomic():
        export = (
            Export.objects.select_for_update(skip_locked=True)
            .select_related("case__organisation", "requested_by__user", "unit", "referral")
            .filter(uuid=export_uuid)
            .first()
        )
        if export is None:
            return None
        now = timezone.now()
        abandoned = (
            export.state == Export.State.BUILDING
            and export.started_at is not None
            and export.started_at < now - STALE_BUILD
        )
        if export.state != Export.State.QUEUED and not abandoned:
            return None
        export.state = Export.State.BUILDING
        export.started_at = now
        export.progress = 0
        export.save(update_fields=["state", "started_at", "progress"])
        audit.record(
            "police.export_building",
            actor=audit.Actor.system("police.build_export"),
            object_type="case",
            object_id=export.case.uuid,
            organisation_id=export.case.organisation.uuid,
            data={"export": str(export.uuid), "retry": abandoned},
        )
    return export


def purpose_text(export: Export) -> str:
    label = str(Export.Purpose(export.purpose).label)
    detail = export.purpose_detail
    return f"{label}: {detail}" if detail else label


def build_export(*, export_uuid: str, outbox_id: str | None = None) -> Export | None:
    """The task body: write the bundle, pack it, forget the passphrase. Idempotent."""
    export = Export.objects.filter(uuid=export_uuid).first()
    if export is None or export.state in {
        Export.State.READY,
        Export.State.DOWNLOADED,
        Export.State.EXPIRED,
        Export.State.FAILED,
    }:
        _mark_outbox_done(outbox_id)
        return export
    export = _claim(export_uuid)
    if export is None:
        return None  # another worker is on it; the outbox re-sends if it dies
    part = export_root() / _part_name(export)
    try:
        if export.referral.withdrawn_at is not None or export.case.destroyed_at is not None:
            raise ServiceError("referral-withdrawn")
        if timezone.now() >= export.expires_at:
            raise ServiceError("expired")
        passphrase = keys.decrypt_text(
            export.passphrase_sealed, purpose="field", context=passphrase_context(export)
        )

        def on_progress(done: int, total: int) -> None:
            if total > 0:
                set_progress(export, 99 * min(done, total) // total)

        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with (
            os.fdopen(fd, "wb", buffering=0) as raw,
            _aes_zip(raw, passphrase) as archive,
        ):
            target = ZipTarget(archive)
            result = bundle_api.write_bundle(
                case=export.case,
                target=target,
                purpose=purpose_text(export),
                requested_by=export.requested_by,
                progress=on_progress,
            )
            if not target.rows:
                raise ServiceError("empty-bundle")
            target.write_index()
        del passphrase
        size = archive.size
        final = export_root() / _zip_name(export)
        os.replace(part, final)
    except Exception as exc:
        part.unlink(missing_ok=True)
        code = exc.code if isinstance(exc, ServiceError) else type(exc).__name__
        Export.objects.filter(pk=export.pk).update(
            state=Export.State.FAILED,
            error_code=code[:40],
            passphrase_sealed="",
            finished_at=timezone.now(),
        )
        _system_event(export, "police.export_failed", {"error": code[:40]})
        log.warning("police export failed id=%s error=%s", export.uuid, code)
        _mark_outbox_done(outbox_id)
        export.refresh_from_db()
        return export
    with transaction.atomic():
        Export.objects.filter(pk=export.pk).update(
            state=Export.State.READY,
            progress=100,
            passphrase_sealed="",
            file_path=_zip_name(export),
            size=size,
            entries=len(target.rows) + 1,
            manifest_sha256=result.manifest_sha256,
            finished_at=timezone.now(),
        )
        audit.record(
            "police.export_ready",
            actor=audit.Actor.system("police.build_export"),
            object_type="case",
            object_id=export.case.uuid,
            organisation_id=export.case.organisation.uuid,
            data={
                "export": str(export.uuid),
                "manifest_sha256": result.manifest_sha256,
                "files": len(target.rows),
            },
        )
    set_progress(export, 100)
    _mark_outbox_done(outbox_id)
    export.refresh_from_db()
    return export


def neutral_name(number: int) -> str:
    return f"E{number:03d}"


# Stored, not deflated: these are compressed already (images, video, PDF streams) or
# random (ciphertext). Deflate would cost more CPU than the whole rest of the export
# and save nothing; the entries are AES-256 encrypted either way.
STORED_PREFIXES = ("files/", "sealed/", "cover.pdf", "signature/manifest.sig", "timestamp/")


def _aes_zip(raw, passphrase: str):
    return AESZipWriter(raw, passphrase)


class ZipTarget:
    """The bundle writer's target during an export: each file becomes one encrypted
    entry E001, E002… as it is written (in chunks: pyzipper never holds a whole file),
    and ``write_index()`` adds E000, mapping E-names to the real paths."""

    def __init__(self, archive) -> None:
        self.archive = archive
        # One date for every entry: the files' own times say nothing useful to a reader
        # who lacks the password, and nothing at all is better.
        self.stamp = timezone.now().timetuple()[:6]
        self.rows: list[list] = []  # [entry, path, size, sha256]
        self._by_path: dict[str, list] = {}

    def open(self, rel: str, size: int | None = None):
        if rel in self._by_path:
            raise ServiceError("duplicate-path")
        name = neutral_name(len(self.rows) + 1)
        row = [name, rel, "", ""]
        self.rows.append(row)
        self._by_path[rel] = row
        info = _entry(self.archive, name, self.stamp, stored=rel.startswith(STORED_PREFIXES))
        if size is not None:
            info.file_size = size  # lets zipfile choose ZIP64 for files over 2 GiB
        return _EntryHandle(self.archive.open(info, "w"))

    def finished(self, rel: str, sha256: str, size: int) -> None:
        self._by_path[rel][2:] = [size, sha256]

    def discard(self, rel: str) -> None:
        pass  # an entry cannot be taken back; the caller deletes the whole ZIP

    def write_index(self) -> None:
        index = io.StringIO()
        writer = csv.writer(index, lineterminator="\n")
        writer.writerow(["entry", "path", "size", "sha256"])
        writer.writerows(self.rows)
        self.archive.writestr(
            _entry(self.archive, INDEX_ENTRY, self.stamp, stored=False), index.getvalue().encode()
        )


class _EntryHandle:
    def __init__(self, sink) -> None:
        self._sink = sink

    def write_batch(self, batch: list[bytes]) -> None:
        # The whole batch in one call: the entry writer encrypts the pieces straight
        # into one pooled buffer (one cipher call and one hand-off per megabyte, and
        # no gathering copy of the plaintext).
        self._sink.write_batch(batch)

    def close(self) -> None:
        self._sink.close()


def _entry(archive, name: str, stamp, *, stored: bool):
    info = archive.zipinfo_cls(name, date_time=stamp)  # AES entries need pyzipper's own class
    info.compress_type = pyzipper.ZIP_STORED if stored else pyzipper.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    return info


# --- Delivery -------------------------------------------------------------------------


def claim_download(*, export: Export, acting, token: str, origin: str = ""):
    """Spend the one-time link: returns an open file of the ZIP, already unlinked.

    Refused (ServiceError, nothing changed) unless the export is ready, unexpired,
    the liaison's own and the token right. The row is marked downloaded and the
    event recorded before the first byte leaves; the file is unlinked as soon as
    it is open, so a second request — or anyone later reading the disk — finds
    nothing.
    """
    with transaction.atomic():
        row = (
            Export.objects.select_for_update()
            .select_related("case__organisation")
            .get(pk=export.pk)
        )
        if row.requested_by_id != acting.pk:
            raise ServiceError("not-allowed")
        if not secrets.compare_digest(row.token_hash, token_hash(token or "")):
            raise ServiceError("bad-token")
        if row.state == Export.State.DOWNLOADED:
            raise ServiceError("already-downloaded")
        if row.state != Export.State.READY or not row.file_path:
            raise ServiceError("not-ready")
        if timezone.now() >= row.expires_at:
            raise ServiceError("expired")
        path = export_root() / row.file_path
        row.state = Export.State.DOWNLOADED
        row.downloaded_at = timezone.now()
        row.file_path = ""
        row.save(update_fields=["state", "downloaded_at", "file_path"])
        audit.record(
            "police.export_downloaded",
            actor=staff_actor(acting, origin),
            object_type="case",
            object_id=row.case.uuid,
            organisation_id=row.case.organisation.uuid,
            data={"export": str(row.uuid), "manifest_sha256": row.manifest_sha256},
        )
        # Last in the transaction: a missing file rolls the claim back. Once open, the
        # name is removed at once (the open handle still reads it); should the commit
        # then fail, the link is spent anyway — failing closed.
        try:
            handle = open(path, "rb")  # noqa: SIM115 - handed to the response, which closes it
        except FileNotFoundError:
            raise ServiceError("file-missing") from None
        path.unlink()
    return handle, row


def destroy_case_exports(*, case, rows) -> None:
    """Case destruction (support.casework): a ZIP still waiting for its download goes
    with the case, and so does any half-built one; then the rows."""
    for row in rows:
        for name in filter(None, [row.file_path, _part_name(row)]):
            (export_root() / name).unlink(missing_ok=True)
    rows.delete()


def expire_exports(*, now=None) -> int:
    """Delete the ZIPs of exports past their lifetime, give up on dead builds, and
    remove the half-written ZIPs that no build owns any more (``sweep_export_parts``)."""
    now = now or timezone.now()
    expired = 0
    live = Export.objects.filter(
        state__in=[Export.State.QUEUED, Export.State.BUILDING, Export.State.READY],
        expires_at__lte=now,
    ).select_related("case__organisation")
    for export in live:
        with transaction.atomic():
            row = Export.objects.select_for_update(skip_locked=True).filter(pk=export.pk).first()
            if row is None or not row.is_live:
                continue
            if row.file_path:
                (export_root() / row.file_path).unlink(missing_ok=True)
            row.state = Export.State.EXPIRED
            row.file_path = ""
            row.passphrase_sealed = ""
            row.save(update_fields=["state", "file_path", "passphrase_sealed"])
            audit.record(
                "police.export_expired",
                actor=audit.Actor.system("police.expire_exports"),
                object_type="case",
                object_id=export.case.uuid,
                organisation_id=export.case.organisation.uuid,
                data={"export": str(row.uuid)},
            )
            expired += 1
    sweep_export_parts(now=now)
    return expired


def sweep_export_parts(*, now: datetime | None = None, older_than: timedelta = STALE_BUILD) -> int:
    """Unlink export ZIPs older than ``older_than`` that no live export owns.

    Threat: a worker killed mid-build leaves its half-written ZIP (``.part``) behind,
    and one killed between renaming the finished ZIP into place and marking the export
    ready leaves a whole one that no row names (the retry rebuilds it; expiry only
    removes the file a row names). Either is AES-encrypted, but under a passphrase the
    liaison was shown: a piece of the case file on disk that nothing would delete.
    Choice: a file is kept while its export is ``building`` (the build may still be
    writing it, or will rewrite it when a retry claims it) and a finished ZIP while a
    ready export names it; otherwise it is removed once it has not been written to for
    ``older_than`` (the time after which a build counts as dead). The age check also
    covers the race with a claim made after the query below: that build's file is brand
    new. A download claims its row and opens the file while the row is still ready, so
    it never loses the file to this. Returns how many files were removed.
    """
    cutoff = (now or timezone.now()) - older_than
    root = export_root()
    found: list[tuple[uuid.UUID, os.DirEntry]] = []
    with os.scandir(root) as entries:
        for entry in entries:
            match = _PART_RE.match(entry.name) or _ZIP_RE.match(entry.name)
            if match and entry.is_file(follow_symlinks=False):
                found.append((uuid.UUID(match.group(1)), entry))
    if not found:
        return 0
    owners = Export.objects.filter(uuid__in={export_uuid for export_uuid, _entry in found})
    building = set(owners.filter(state=Export.State.BUILDING).values_list("uuid", flat=True))
    served = set(owners.filter(state=Export.State.READY).values_list("file_path", flat=True))
    removed = 0
    for export_uuid, entry in found:
        if export_uuid in building or entry.name in served:
            continue
        try:
            modified = datetime.fromtimestamp(entry.stat(follow_symlinks=False).st_mtime, UTC)
        except FileNotFoundError:
            continue  # renamed into place or removed meanwhile
        if modified > cutoff:
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(entry.path)
            removed += 1
    if removed:
        log.info("police export files removed count=%s", removed)
    return removed
