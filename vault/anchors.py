"""Signed anchors of the audit chain's head: truncation and rewriting become visible.

The hash chain alone proves that the log is internally consistent. Someone who can
write to the database could still delete its newest rows, or rewrite an event and
recompute every hash after it. An anchor is the server's Ed25519 signature over
``(seq, head_hash, signed_at)`` taken at a fixed interval by a beat task, kept
outside the chain (and copied into every police bundle): a rewritten link no longer
matches the anchors signed before the rewrite, and a truncated log lacks the events
they name. The signed bytes are fixed here and re-built by ``tools/verify_bundle.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction

from . import crypto, keys
from .audit import _CHAIN_LOCK, verify_chain
from .models import AuditAnchor, AuditEvent

ANCHOR_CONTEXT = b"amparo-audit-anchor/v1"


def format_time(moment: datetime) -> str:
    """The one text form of an anchor's time: UTC, microseconds, a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def anchor_message(*, seq: int, head_hash: str, signed_at: datetime | str) -> bytes:
    """The bytes an anchor's signature covers (see tools/verify_bundle.py)."""
    when = signed_at if isinstance(signed_at, str) else format_time(signed_at)
    return b"\n".join([ANCHOR_CONTEXT, str(seq).encode(), head_hash.encode(), when.encode()])


def sign_head() -> AuditAnchor | None:
    """Sign the chain's current head; return the anchor (None for an empty log).

    Takes the chain's append lock, so the head read is the last committed event and
    no append can slip between reading it and signing it. Idempotent: when the head
    has not moved since the last anchor, that anchor is returned unchanged.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK])
        head = AuditEvent.objects.order_by("-id").only("id", "hash").first()
        if head is None:
            return None
        existing = AuditAnchor.objects.filter(seq=head.id).first()
        if existing is not None:
            return existing
        signed_at = datetime.now(UTC)
        message = anchor_message(seq=head.id, head_hash=head.hash, signed_at=signed_at)
        return AuditAnchor.objects.create(
            seq=head.id,
            head_hash=head.hash,
            signed_at=signed_at,
            signature=crypto.sign(keys.signing_key(), message).hex(),
            key_id=keys.signing_key_id(),
        )


@dataclass(frozen=True)
class AnchorReport:
    anchors: int
    events: int
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_anchors() -> AnchorReport:
    """Check the chain, then every anchor against it; describe each problem in words."""
    chain = verify_chain()
    problems = []
    if not chain.ok:
        problems.append(f"audit chain broken at event id {chain.broken_at}: {chain.reason}")
    public, key_id = keys.signing_public_key(), keys.signing_key_id()
    last_event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    anchors = list(AuditAnchor.objects.order_by("seq"))
    hashes = dict(
        AuditEvent.objects.filter(id__in=[a.seq for a in anchors]).values_list("id", "hash")
    )
    for anchor in anchors:
        if anchor.key_id != key_id:
            problems.append(f"anchor at event {anchor.seq} was signed by another key")
            continue
        signature = bytes.fromhex(anchor.signature) if _is_hex(anchor.signature) else b""
        if not crypto.verify_signature(public, anchor.message(), signature):
            problems.append(f"anchor at event {anchor.seq}: the signature does not verify")
        elif anchor.seq > last_event:
            problems.append(
                f"anchor at event {anchor.seq} names an event after the last one "
                f"({last_event}): the log was truncated"
            )
        elif anchor.seq not in hashes:
            problems.append(f"event {anchor.seq}, which an anchor signed, is missing")
        elif hashes[anchor.seq] != anchor.head_hash:
            problems.append(
                f"event {anchor.seq} no longer has the hash its anchor signed: "
                "the log was rewritten"
            )
    return AnchorReport(len(anchors), chain.checked, tuple(problems))


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True
