"""Encrypted model attributes and blind indexes, for any app's models.

Threat: a database dump or backup exposes narratives, contact details and
suspect identifiers; and a case destroyed at a family's request must not come
back from a backup taken before it was destroyed. Choice: envelope encryption,
as for files. Every *owner* of encrypted fields (a case, a report draft, an
incident, a police unit: models deriving from :class:`FieldKeyOwner`) has its own
random 256-bit field data key, stored on its row only wrapped under the current
key-encryption key (AES-256-GCM, ``crypto.wrap_field_key``) with the KEK version.
Each value of the owner and of its dependent rows (a case's notes, messages,
locations, identifiers, takedown notices…) is AES-256-GCM encrypted under that key
with associated data "table|column|row uuid", so a ciphertext copied into another
row or column — or onto another case — fails to open.

Consequences, by design:
- Rotation (``vault.services.rotate_keys``) re-wraps 60-byte field keys, as it
  re-wraps blobs' DEKs; values are not rewritten. Once no row names an old KEK
  version, that KEK can be retired.
- Crypto-shredding a case destroys its wrapped field key (and clears the values).
  An older database backup still holds the wrapped key and the ciphertexts: they
  open with the old KEK until that KEK is retired, and never after.
- Blind indexes (HMAC-SHA-256 under the "blind-index" purpose key of the current KEK
  version, below) are *not* per case: equality of identifiers across cases stays
  computable from a backup by whoever holds the blind-index key of the version that
  made them. Rotation recomputes them under the new version, so retiring a KEK ends
  that for backups made under it too.

Stored format of a value: ``f1$<base64 token>`` (token from ``crypto.encrypt_field``
under the owner's field key). Values of the former format ``v<kek version>$…``
(under the KEK-derived "field" purpose key) are still read, and are rewritten by
:func:`reencrypt_legacy_values` (the data migrations, and every ``rotate_keys``).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections import OrderedDict

from django.db import models

from . import crypto, keys

FORMAT_PREFIX = "f1$"
# What reading or creating a field key needs of an owner row: loading only these
# keeps the data migrations independent of columns added to owners later.
_OWNER_COLUMNS = ("pk", "uuid", "field_kek_version", "field_key_wrapped")


class FieldKeyOwner(models.Model):
    """Abstract base of a model that holds a field data key for itself and its rows.

    ``field_key_wrapped`` is NULL until the first value is encrypted (and again
    once the owner is crypto-shredded); ``field_kek_version`` names the KEK that
    wrapped it, which is what rotation looks for.
    """

    field_kek_version = models.PositiveIntegerField(null=True, blank=True, editable=False)
    field_key_wrapped = models.BinaryField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        """Insert with a field key; never write the key columns on a plain update.

        Threat: an instance loaded before a rotation (or before its key was created
        by a dependent row) and then saved whole would write back a stale wrapped
        key — or NULL — over the current one, and the case's values would be lost
        or stay bound to a KEK due for retirement. So the key columns are written
        only at insert, by ``give_field_key``'s conditional UPDATE, by
        ``rewrap_field_keys`` and by crypto-shredding, each explicitly.
        """
        if self._state.adding:
            if self.field_key_wrapped is None:
                give_field_key(self)
        elif kwargs.get("update_fields") is None:
            deferred = self.get_deferred_fields()
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key
                and f.attname not in deferred
                and f.name not in ("field_kek_version", "field_key_wrapped")
            ]
        return super().save(*args, **kwargs)

    def field_key_label(self) -> str:
        return f"{self._meta.db_table}|{self.uuid}"


# --- Unwrapped keys, cached --------------------------------------------------------
# Threat/choice: unwrapping is one HKDF derivation plus one AES-GCM operation —
# measured ~18 µs on this shared 2-core machine, against ~7 µs to decrypt a 200-byte
# value (and ~10 µs for the per-value key derivation the former format paid) — but a
# queue page decrypts fields of 50 owners, and a dependent row (a label, a location)
# read without its case would otherwise fetch the case's row to find the key.
# Measured here, 50 cases with 2 fields each: 1.2 ms with a cold cache, 0.6 ms warm, against
# 0.8 ms for the former format (one key derivation per value). So unwrapped keys
# are kept per process in a bounded LRU keyed by (owner table, pk), together with
# the wrapped bytes they came from: when the owner row is at hand its wrapped key
# is compared, and a stale entry (a key re-created elsewhere) is replaced; a value
# that fails to open under a cached key is retried once with the key read afresh.
# Shredding evicts the entry. The cache holds at most CACHE_SIZE keys (32 bytes
# each) in memory, where the KEK ring is anyway.
CACHE_SIZE = 2048
_cache: OrderedDict[tuple[str, int], tuple[bytes, bytes]] = OrderedDict()
_cache_lock = threading.Lock()


def _cache_get(slot):
    with _cache_lock:
        entry = _cache.get(slot)
        if entry is not None:
            _cache.move_to_end(slot)
        return entry


def _cache_put(slot, wrapped: bytes, key: bytes) -> None:
    with _cache_lock:
        _cache[slot] = (wrapped, key)
        _cache.move_to_end(slot)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def forget_field_key(owner: FieldKeyOwner) -> None:
    with _cache_lock:
        _cache.pop((owner._meta.db_table, owner.pk), None)


def clear_field_key_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _unwrap(owner_model, pk, version, wrapped, uuid) -> bytes:
    wrapped = bytes(wrapped)
    slot = (owner_model._meta.db_table, pk)
    entry = _cache_get(slot)
    if entry is not None and entry[0] == wrapped:
        return entry[1]
    key = crypto.unwrap_field_key(
        keys.keyring(), version, wrapped, owner=f"{owner_model._meta.db_table}|{uuid}"
    )
    if pk is not None:
        _cache_put(slot, wrapped, key)
    return key


def _load_key(owner_model, pk) -> bytes:
    row = (
        owner_model._base_manager.filter(pk=pk)
        .values_list("uuid", "field_kek_version", "field_key_wrapped")
        .first()
    )
    if row is None or row[2] is None:
        raise crypto.IntegrityError("field-key")
    return _unwrap(owner_model, pk, row[1], row[2], row[0])


def give_field_key(owner: FieldKeyOwner) -> bytes:
    """Create the owner's field key if it has none; return it (unwrapped).

    A saved owner gets its key with a conditional UPDATE, so two requests racing to
    create it agree on one (the loser reads the winner's). An unsaved owner keeps it
    on the instance and stores it with its first save.
    """
    if owner.field_key_wrapped is not None:
        return _unwrap(
            type(owner), owner.pk, owner.field_kek_version, owner.field_key_wrapped, owner.uuid
        )
    key = secrets.token_bytes(crypto.KEY_SIZE)
    version, wrapped = crypto.wrap_field_key(keys.keyring(), key, owner=owner.field_key_label())
    if not owner._state.adding:
        won = (
            type(owner)
            ._base_manager.filter(pk=owner.pk, field_key_wrapped__isnull=True)
            .update(field_kek_version=version, field_key_wrapped=wrapped)
        )
        if not won:
            row = (
                type(owner)
                ._base_manager.filter(pk=owner.pk)
                .values_list("field_kek_version", "field_key_wrapped")
                .get()
            )
            if row[1] is None:  # shredded meanwhile: nothing may be encrypted for it
                raise crypto.IntegrityError("field-key")
            owner.field_kek_version, owner.field_key_wrapped = row[0], bytes(row[1])
            return give_field_key(owner)
    owner.field_kek_version, owner.field_key_wrapped = version, wrapped
    if not owner._state.adding:
        _cache_put((owner._meta.db_table, owner.pk), wrapped, key)
    return key


def owner_path(model) -> tuple[str, ...]:
    """The chain of foreign keys from a model with encrypted fields to its key owner."""
    if issubclass(model, FieldKeyOwner):
        return ()
    declared = getattr(model, "field_key_owner", None)
    if declared is not None:
        return tuple(declared.split("."))
    if any(f.name == "case" for f in model._meta.get_fields()):
        return ("case",)
    raise TypeError(f"{model._meta.label} has encrypted fields but no field key owner")


def _owner_of(obj):
    """(owner model, owner pk, owner instance or None if it is not loaded)."""
    path = owner_path(type(obj))
    if not path:
        return type(obj), obj.pk, obj
    current = obj
    for position, hop in enumerate(path[:-1]):
        link = current._meta.get_field(hop)
        cached = link.get_cached_value(current, default=None)
        if cached is None:  # fetch only the next foreign key, not the whole row
            following = link.related_model._meta.get_field(path[position + 1])
            cached = link.related_model._base_manager.only("pk", following.attname).get(
                pk=getattr(current, link.attname)
            )
        current = cached
    field = current._meta.get_field(path[-1])
    return (
        field.related_model,
        getattr(current, field.attname),
        field.get_cached_value(current, default=None),
    )


class EncryptedText:
    """Descriptor: `narrative = EncryptedText("narrative_sealed")` over a TextField.

    The model must have a `uuid` set before the value is assigned (UUIDField with
    a default does this at construction), and must be a :class:`FieldKeyOwner` or
    reach one through ``case`` (or the dotted path in a ``field_key_owner`` class
    attribute, e.g. ``"notice.case"``).

    This is field encryption under the server's keys, not sealing: in Amparo
    "sealed" means only encrypted to a police unit's public key (vault.services
    `seal_blob_for`, vault/sealed.py). The columns keep their historical `_sealed`
    names because the column name is part of each value's associated data;
    renaming one means re-encrypting it.
    """

    def __init__(self, column: str, *, as_json: bool = False):
        self.column = column
        self.as_json = as_json

    def __set_name__(self, owner, name):
        self.name = name

    def context(self, obj) -> str:
        return f"{obj._meta.db_table}|{self.column}|{obj.uuid}"

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        raw = getattr(obj, self.column)
        if not raw:
            return {} if self.as_json else ""
        text = decrypt_value(obj, raw, context=self.context(obj))
        return json.loads(text) if self.as_json else text

    def __set__(self, obj, value):
        if value in (None, "") or (self.as_json and value == {}):
            setattr(obj, self.column, "")
            return
        text = json.dumps(value, sort_keys=True) if self.as_json else str(value)
        setattr(obj, self.column, encrypt_value(obj, text, context=self.context(obj)))


def encrypt_value(obj, text: str, *, context: str) -> str:
    owner_model, pk, owner = _owner_of(obj)
    if owner is None:
        owner = owner_model._base_manager.only(*_OWNER_COLUMNS).get(pk=pk)
    key = give_field_key(owner)
    token = crypto.encrypt_field(key, text.encode(), context=context)
    return FORMAT_PREFIX + base64.urlsafe_b64encode(token).decode()


def decrypt_value(obj, stored: str, *, context: str) -> str:
    if not stored.startswith(FORMAT_PREFIX):  # the former, KEK-derived format
        return keys.decrypt_text(stored, purpose="field", context=context)
    try:
        token = base64.urlsafe_b64decode(stored[len(FORMAT_PREFIX) :].encode())
    except ValueError as exc:
        raise crypto.IntegrityError("malformed encrypted value") from exc
    owner_model, pk, owner = _owner_of(obj)
    # An owner instance loaded before its key was created (by a dependent row, through
    # another instance) has none in memory: then the key is read by id, as below.
    if owner is not None and owner.field_key_wrapped is not None:
        key = _unwrap(owner_model, pk, owner.field_kek_version, owner.field_key_wrapped, owner.uuid)
        return crypto.decrypt_field(key, token, context=context).decode()
    entry = _cache_get((owner_model._meta.db_table, pk))
    if entry is not None:
        try:
            return crypto.decrypt_field(entry[1], token, context=context).decode()
        except crypto.IntegrityError:
            with _cache_lock:  # perhaps stale: read the owner's key afresh, once
                _cache.pop((owner_model._meta.db_table, pk), None)
    return crypto.decrypt_field(_load_key(owner_model, pk), token, context=context).decode()


def encrypted_columns(models_iterable=None):
    """(model, EncryptedText) for every encrypted attribute of every installed model."""
    from django.apps import apps

    for model in models_iterable if models_iterable is not None else apps.get_models():
        seen = set()
        for klass in model.__mro__:
            for attribute in vars(klass).values():
                if isinstance(attribute, EncryptedText) and attribute.column not in seen:
                    seen.add(attribute.column)
                    yield model, attribute


def reencrypt_legacy_values(*, app_label: str | None = None, batch_size: int = 500) -> int:
    """Give owners field keys and rewrite every former-format value under them.

    The data migrations call it for their app's models (with the app's code: the
    descriptor logic above is the one thing that knows how to encrypt a value), and
    ``rotate_keys`` calls it for all of them, so rotation also finishes what an
    interrupted migration left. Each batch is one transaction and rows are selected
    FOR UPDATE, so a concurrent edit of the same row waits. Returns values rewritten.
    """
    from django.apps import apps
    from django.db import transaction
    from django.db.models import Q

    chosen = [m for m in apps.get_models() if app_label is None or m._meta.app_label == app_label]
    done = 0
    for model in chosen:  # every owner gets its key, not only those with values yet
        if not issubclass(model, FieldKeyOwner):
            continue
        keyless = model._base_manager.filter(field_key_wrapped__isnull=True)
        if any(f.name == "destroyed_at" for f in model._meta.get_fields()):
            keyless = keyless.filter(destroyed_at=None)  # a shredded case stays keyless
        for owner in keyless.only(*_OWNER_COLUMNS).iterator():
            give_field_key(owner)
    by_model: dict = {}
    for model, attribute in encrypted_columns(chosen):
        by_model.setdefault(model, []).append(attribute.column)
    for model, columns in by_model.items():
        stale = Q()
        for column in columns:
            stale |= ~Q(**{column: ""}) & ~Q(**{f"{column}__startswith": FORMAT_PREFIX})
        last_pk = 0
        while True:
            with transaction.atomic():
                path = owner_path(model)
                links = [path[0]] if path else []
                rows = list(
                    model._base_manager.select_for_update()
                    .filter(stale, pk__gt=last_pk)
                    .only("pk", "uuid", *columns, *links, *(_OWNER_COLUMNS if not path else ()))
                    .order_by("pk")[:batch_size]
                )
                if not rows:
                    break
                for row in rows:
                    for column in columns:
                        stored = getattr(row, column)
                        if stored and not stored.startswith(FORMAT_PREFIX):
                            context = f"{model._meta.db_table}|{column}|{row.uuid}"
                            text = keys.decrypt_text(stored, purpose="field", context=context)
                            setattr(row, column, encrypt_value(row, text, context=context))
                            done += 1
                model._base_manager.bulk_update(rows, columns)
                last_pk = rows[-1].pk
    return done


def rewrap_field_keys(*, batch_size: int = 500) -> int:
    """Re-wrap every owner's field key under the current KEK; return keys re-wrapped."""
    from django.apps import apps
    from django.db import transaction

    ring = keys.keyring()
    current = ring.current_version
    done = 0
    for model in apps.get_models():
        if not issubclass(model, FieldKeyOwner):
            continue
        while True:
            with transaction.atomic():
                rows = list(
                    model._base_manager.select_for_update()
                    .filter(field_key_wrapped__isnull=False)
                    .exclude(field_kek_version=current)
                    .only("pk", "uuid", "field_kek_version", "field_key_wrapped")
                    .order_by("pk")[:batch_size]
                )
                if not rows:
                    break
                for row in rows:
                    label = row.field_key_label()
                    key = crypto.unwrap_field_key(
                        ring, row.field_kek_version, bytes(row.field_key_wrapped), owner=label
                    )
                    row.field_kek_version, row.field_key_wrapped = crypto.wrap_field_key(
                        ring, key, owner=label
                    )
                model._base_manager.bulk_update(rows, ["field_kek_version", "field_key_wrapped"])
            done += len(rows)
    return done


def field_key_version_counts() -> dict[str, int]:
    """Field keys per KEK version, over every owner model: ``{"v1": n, "v2": m}``."""
    from django.apps import apps
    from django.db.models import Count

    counts: dict[str, int] = {}
    for model in apps.get_models():
        if not issubclass(model, FieldKeyOwner):
            continue
        rows = (
            model._base_manager.filter(field_key_wrapped__isnull=False)
            .values("field_kek_version")
            .annotate(n=Count("pk"))
        )
        for row in rows:
            label = f"v{row['field_kek_version']}"
            counts[label] = counts.get(label, 0) + row["n"]
    return dict(sorted(counts.items()))


# --- Blind indexes ------------------------------------------------------------------
# Threat: an index key that never changes ties every index, and with it the chance to
# test a guessed phone number or account against an old backup, to one KEK forever —
# the former design computed indexes under the *oldest* KEK kept, so that KEK could
# never be retired without breaking search and linking. Choice: an index is computed
# under the *current* KEK version, and the row records which version made it
# (``index_kek_version``; NULL for indexes made before versions were recorded, which
# were computed under the oldest KEK kept then). ``rotate_keys`` recomputes every index
# not on the current version from the decrypted value (support.indexes). Lookups compute
# the candidate under every version still in the ring, so search keeps finding rows
# while a rotation is under way; once rotation has run, a retired KEK takes with it the
# ability to test guesses against the indexes of backups made under it.


def blind_index_with_version(normalised_value: str, *, domain: str) -> tuple[int, str]:
    """(current KEK version, HMAC-SHA-256 index under it) of a normalised value."""
    version = keys.keyring().current_version
    key = keys.purpose_key("blind-index", version)
    return version, crypto.blind_index(key, normalised_value, domain=domain)


def blind_index(normalised_value: str, *, domain: str) -> str:
    """The index to store for a new row: under the current KEK version (see above)."""
    return blind_index_with_version(normalised_value, domain=domain)[1]


def blind_indexes(normalised_value: str, *, domain: str) -> list[str]:
    """Every index a stored row with this value may carry: one per KEK version in the
    ring, the current one first. For lookups (``index__in=...``), never for storing."""
    ring = keys.keyring()
    versions = sorted(ring.versions(), reverse=True)
    return [
        crypto.blind_index(keys.purpose_key("blind-index", v), normalised_value, domain=domain)
        for v in versions
    ]
