"""Sweeping the evidence store of what killed processes left behind.

Threat: a worker or web process killed at the wrong moment leaves ciphertext in the
store that no row describes — a finished object whose row was never committed (its DEK
existed only in memory, so no one can read it, but it takes space for ever), a ``.part``
file of a write that never finished, or an S3 multipart upload never completed (its
parts are stored and billed, and invisible to an ordinary listing). Left alone, the
store grows without bound and the faults proof's "ciphertext left without a row"
keeps rising.

Choice: ``sweep_store`` removes only what is (a) named the way the vault itself names
things (``storage.StoredObject.recognised``) and (b) older than a grace period, and of
finished objects (c) only those whose key no ``Blob`` row names, re-checked just before
each deletion. Anything with a row is never touched, whatever its state: a destroyed
blob whose ciphertext deletion failed is ``destroy_blob``'s to retry.

Why a grace period at all: storing is ciphertext first, row second (``vault.services``).
An upload's object is committed to the store while Django parses the request body
(``vault.uploads``), and its row is saved later in the same request, by the view; a
worker writes a derivative's ciphertext, then commits its row. For that moment every
object in progress *looks* orphaned, and a sweeper without a grace period would delete
evidence a family is sending. 24 hours is far longer than any request or task (uploads
are capped in size, tasks are leased for minutes), and an orphan is harmless meanwhile.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from . import audit, storage
from .models import Blob

log = logging.getLogger(__name__)

GRACE = timedelta(hours=24)
_BATCH = 500


def _keys_with_rows(keys: list[str]) -> set[str]:
    return set(Blob.objects.filter(storage_key__in=keys).values_list("storage_key", flat=True))


def _delete_orphans(store, keys: list[str], counts: dict[str, int]) -> None:
    """Delete the finished objects among ``keys`` that no row names.

    One query finds which keys have rows; each remaining key is asked again just before
    its deletion, so a row committed in the meantime wins (orphans are few, so the
    second look costs little).
    """
    known = _keys_with_rows(keys)
    counts["with_row"] += len(known)
    for key in keys:
        if key in known:
            continue
        if Blob.objects.filter(storage_key=key).exists():
            counts["with_row"] += 1
            continue
        try:
            store.delete(key)
        except Exception as exc:
            counts["failed"] += 1
            log.warning("store sweep: orphan not deleted error=%s", type(exc).__name__)
        else:
            counts["orphans_removed"] += 1


def sweep_store(*, now: datetime | None = None, older_than: timedelta = GRACE) -> dict[str, int]:
    """Remove unfinished writes and row-less objects older than ``older_than``.

    Returns counts: ``partials_removed`` (``.part`` files and aborted multipart
    uploads), ``orphans_removed``, ``with_row`` (finished objects kept because a row
    names them), ``recent`` (kept: inside the grace period), ``unrecognised`` (names the
    vault never writes: left alone), ``failed``. When anything was removed, one
    ``store.swept`` audit event records the counts — never a key or anything else.
    """
    cutoff = (now or timezone.now()) - older_than
    store = storage.evidence_store()
    counts = dict.fromkeys(
        ("partials_removed", "orphans_removed", "with_row", "recent", "unrecognised", "failed"),
        0,
    )
    batch: list[str] = []
    for item in store.list_objects():
        if not item.recognised:
            counts["unrecognised"] += 1
        elif item.modified > cutoff:
            counts["recent"] += 1
        elif item.partial:
            try:
                store.remove_partial(item)
            except Exception as exc:  # e.g. the upload completed or went meanwhile
                counts["failed"] += 1
                log.warning("store sweep: partial not removed error=%s", type(exc).__name__)
            else:
                counts["partials_removed"] += 1
        else:
            batch.append(item.key)
            if len(batch) >= _BATCH:
                _delete_orphans(store, batch, counts)
                batch = []
    if batch:
        _delete_orphans(store, batch, counts)
    if counts["partials_removed"] or counts["orphans_removed"]:
        with transaction.atomic():
            audit.record("store.swept", actor=audit.Actor.system("vault.sweep_store"), data=counts)
    return counts
