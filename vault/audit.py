"""Writing and verifying the hash-chained audit log.

Every service function calls `record()` inside its own transaction, so the
event exists if and only if the change it describes was committed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction

from .models import AuditEvent

GENESIS = "0" * 64
# Any constant shared by all writers: serialises appends so two transactions
# cannot both chain onto the same previous event.
_CHAIN_LOCK = 0x616D7061726F


@dataclass(frozen=True)
class Actor:
    kind: str
    ref: str
    role: str = ""
    origin: str = ""

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(AuditEvent.ActorKind.SYSTEM, f"system:{name}")

    @classmethod
    def user(cls, user, *, role: str = "", origin: str = "") -> Actor:
        return cls(AuditEvent.ActorKind.USER, f"user:{user.pk}", role, origin)

    @classmethod
    def family(cls, case_uuid, *, origin: str = "") -> Actor:
        return cls(AuditEvent.ActorKind.FAMILY, f"family:{case_uuid}", "family", origin)


def coarse_origin(ip: str | None) -> str:
    """Reduce an address to its /24 (IPv4) or /48 (IPv6) network."""
    if not ip:
        return ""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def _canonical(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def event_hash(*, prev_hash: str, fields: dict) -> str:
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(fields)).hexdigest()


def _fields(event: AuditEvent) -> dict:
    return {
        "uuid": str(event.uuid),
        "created_at": event.created_at.astimezone(UTC).isoformat(),
        "actor_kind": event.actor_kind,
        "actor_ref": event.actor_ref,
        "actor_role": event.actor_role,
        "event": event.event,
        "object_type": event.object_type,
        "object_id": str(event.object_id) if event.object_id else "",
        "organisation_id": str(event.organisation_id) if event.organisation_id else "",
        "origin": event.origin,
        "data": event.data,
    }


def record(
    event: str,
    *,
    actor: Actor,
    object_type: str = "",
    object_id: uuid.UUID | None = None,
    organisation_id: uuid.UUID | None = None,
    data: dict | None = None,
) -> AuditEvent:
    """Append one event to the chain; must run inside the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record() must be called inside transaction.atomic()")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
    last = AuditEvent.objects.order_by("-id").only("hash").first()
    row = AuditEvent(
        uuid=uuid.uuid4(),
        created_at=datetime.now(UTC),
        actor_kind=actor.kind,
        actor_ref=actor.ref,
        actor_role=actor.role,
        event=event,
        object_type=object_type,
        object_id=object_id,
        organisation_id=organisation_id,
        origin=actor.origin,
        data=data or {},
        prev_hash=last.hash if last else GENESIS,
    )
    # JSON round trip so the hash is computed over exactly what is stored.
    row.data = json.loads(_canonical(row.data))
    row.hash = event_hash(prev_hash=row.prev_hash, fields=_fields(row))
    row.save(force_insert=True)
    return row


def record_many(entries: list[dict], *, actor: Actor) -> list[AuditEvent]:
    """Append several events (each a dict of `record`'s keyword arguments but the
    actor) under one chain lock and one insert: a batch worker's many state changes
    cost one round trip, not three each. Same chain, same hashes as `record`."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record_many() must be called inside transaction.atomic()")
    if not entries:
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
    last = AuditEvent.objects.order_by("-id").only("hash").first()
    prev = last.hash if last else GENESIS
    rows = []
    for entry in entries:
        row = AuditEvent(
            uuid=uuid.uuid4(),
            created_at=datetime.now(UTC),
            actor_kind=actor.kind,
            actor_ref=actor.ref,
            actor_role=actor.role,
            event=entry["event"],
            object_type=entry.get("object_type", ""),
            object_id=entry.get("object_id"),
            organisation_id=entry.get("organisation_id"),
            origin=actor.origin,
            data=json.loads(_canonical(entry.get("data") or {})),
            prev_hash=prev,
        )
        row.hash = prev = event_hash(prev_hash=row.prev_hash, fields=_fields(row))
        rows.append(row)
    # Inserted in order, so ids follow the chain as verify_chain reads it.
    return AuditEvent.objects.bulk_create(rows)


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_at: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_chain(batch_size: int = 5000) -> ChainReport:
    """Recompute every link in order; report the first one that does not hold."""
    prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return ChainReport(checked=checked)
        for event in batch:
            if event.prev_hash != prev:
                return ChainReport(checked, event.id, "previous-hash mismatch (row missing?)")
            if event_hash(prev_hash=prev, fields=_fields(event)) != event.hash:
                return ChainReport(checked, event.id, "content does not match its hash")
            prev = event.hash
            checked += 1
            last_id = event.id
