"""A family's side of a case: the report that creates it, signing in with the
access code, and what the family may add or ask for afterwards.

Same rules as the other services: one transaction each, keyword-only arguments,
the audit event inside. The acting party is the family of the case.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.utils import timezone

from vault import audit, crypto, keys, normalize
from vault import services as vault_services
from vault.fields import blind_indexes

from . import events, outbox, ratelimit
from .events import ServiceError, family_actor, lock_live_case
from .models import (
    AgeBand,
    Case,
    Consent,
    ContextFile,
    Fingerprint,
    Identifier,
    Incident,
    Location,
    Message,
    Organisation,
    Priority,
    ReportDraft,
)


@dataclass(frozen=True)
class Handle:
    value: str
    platform: str = ""


@dataclass(frozen=True)
class EvidenceFingerprint:
    """Fingerprints the browser computed of one file (the file never reaches us)."""

    sha256: str
    md5: str
    pdq: str = ""
    pdq_quality: int | None = None
    pdq_version: str = ""
    media: str = "image"
    size: int | None = None


@dataclass(frozen=True)
class Submission:
    """A family's checked report, already validated and normalised by the wizard."""

    filer_role: str
    age_band: str
    contact_preference: str
    contact: str = ""
    categories: tuple[str, ...] = ()
    narrative: str = ""
    urls: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    payments: tuple[str, ...] = ()
    demanding_handle: str = ""
    demanding_platform: str = ""
    handles: tuple[Handle, ...] = ()
    phones: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    fingerprints: tuple[EvidenceFingerprint, ...] = ()
    # Consent kind → given (True/False), or None when the question was not answered.
    consents: dict[str, bool | None] = field(default_factory=dict)


# --- Access codes -------------------------------------------------------------------------


# Threat: the stored hash must be useless without a key kept outside the database
# (a dump alone must not allow even slow offline guessing), and that key must be
# rotatable like every other: the former design peppered the code with HMAC under the
# KEK version current when the case was filed, so retiring that KEK locked out every
# family filed before — the server never has the codes and cannot re-hash them.
# Choice: the Argon2id hash of the code is *encrypted* (AES-256-GCM, under the
# "access-code" purpose key of the current KEK version, the associated data naming the
# case), stored as "a1$v<version>$<token>". Rotation decrypts and re-encrypts it without
# knowing the code. The binding to the case means a hash copied from a case whose code
# someone knows onto another case's row does not open there.
# A hash of the former format ("v<n>$<argon2id of HMAC(pepper n, code)>") is migrated
# (support migration 0011, and every rotate_keys) by encrypting it together with its
# 32-byte pepper: the pepper then lives only inside a value that needs the current
# KEK, so it no longer ties anything to KEK n. The pepper reveals nothing about KEK n
# or its other purpose keys (HKDF), and with the current KEK and the database one has
# the hash anyway. On the family's next successful sign-in the code is re-hashed in
# the new form, and that copy of the pepper is gone.

ACCESS_FORMAT = "a1$"
_LEGACY_INNER = "p$"  # inner value of a migrated hash: "p$<base64 pepper>$<argon2id hash>"


def access_code_context(case: Case) -> str:
    return f"support_case|access_code_hash|{case.uuid}"


def seal_family_hash(inner: str, *, case: Case) -> str:
    """Encrypt an access-code hash (or a migrated one) for `case`'s row."""
    return ACCESS_FORMAT + keys.encrypt_text(
        inner, purpose="access-code", context=access_code_context(case)
    )


def hash_family_code(code: str, *, case: Case) -> str:
    return seal_family_hash(crypto.hash_access_code(code), case=case)


def _open_family_hash(stored: str, case: Case) -> tuple[str, bytes | None]:
    """(Argon2id hash, pepper or None) of a stored value; CryptoError/ValueError if it
    is malformed, tampered with, bound to another case or under a KEK not in the ring."""
    if stored.startswith(ACCESS_FORMAT):
        inner = keys.decrypt_text(
            stored[len(ACCESS_FORMAT) :], purpose="access-code", context=access_code_context(case)
        )
        if inner.startswith(_LEGACY_INNER):
            pepper_text, _, hashed = inner[len(_LEGACY_INNER) :].partition("$")
            pepper = base64.urlsafe_b64decode(pepper_text.encode())
            if len(pepper) != crypto.KEY_SIZE:
                raise crypto.IntegrityError("access-code")
            return hashed, pepper
        return inner, None
    version_part, sep, hashed = stored.partition("$")  # the former, peppered format
    if not sep or not version_part.startswith("v"):
        raise ValueError("not an access-code hash")
    return hashed, keys.purpose_key("access-code-pepper", int(version_part.removeprefix("v")))


def _verify_family_code(case: Case, code: str) -> bool:
    """True if `code` is the case's; on success, a hash still peppered the former way is
    replaced by a new-form one (a conditional update: a concurrent change wins)."""
    stored = case.access_code_hash
    try:
        hashed, pepper = _open_family_hash(stored, case)
    except (ValueError, crypto.CryptoError):
        crypto.burn_verify_time()  # as long as a real verification: no oracle
        return False
    if not crypto.verify_access_code(hashed, code, pepper):
        return False
    if pepper is not None:
        renewed = hash_family_code(code, case=case)
        if Case.objects.filter(pk=case.pk, access_code_hash=stored).update(
            access_code_hash=renewed
        ):
            case.access_code_hash = renewed
    return True


def reseal_family_codes(*, batch_size: int = 500) -> int:
    """Put every stored access-code hash under the current KEK version; return how many.

    Former-format hashes are migrated (with their pepper, as above) and new-format ones
    re-encrypted. Idempotent and resumable: a row already on the current version is
    skipped, each batch is one transaction with its rows locked. A row that cannot be
    read — its KEK version already gone from the ring, or altered — is left as it is
    (nobody can sign in with it, and nothing but a new code can repair it) and still
    counted under its version by :func:`family_code_version_counts`, so the command
    does not call retiring safe while it is there.
    """
    current = keys.keyring().current_version
    done_prefix = f"{ACCESS_FORMAT}v{current}$"
    done = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            rows = list(
                Case._base_manager.select_for_update()
                .exclude(access_code_hash="")
                .exclude(access_code_hash__startswith=done_prefix)
                .filter(pk__gt=last_pk)
                .only("pk", "uuid", "access_code_hash")
                .order_by("pk")[:batch_size]
            )
            if not rows:
                return done
            changed = []
            for row in rows:
                try:
                    hashed, pepper = _open_family_hash(row.access_code_hash, row)
                except (ValueError, crypto.CryptoError):
                    continue  # unreadable: left, and counted by family_code_version_counts
                if pepper is None:
                    inner = hashed
                else:
                    inner = f"{_LEGACY_INNER}{base64.urlsafe_b64encode(pepper).decode()}${hashed}"
                row.access_code_hash = seal_family_hash(inner, case=row)
                changed.append(row)
            Case._base_manager.bulk_update(changed, ["access_code_hash"])
            done += len(changed)
            last_pk = rows[-1].pk


def family_code_version_counts() -> dict[str, int]:
    """Access-code hashes per KEK version they need: ``{"v2": n, "former v1": m}``.

    Counted in SQL (``split_part`` on the stored prefix): the hashes never leave the
    database for this, and it costs one scan whatever the number of cases.
    """
    from django.db.models import CharField, Count, F, Func, Value

    def part(n: int) -> Func:
        return Func(
            F("access_code_hash"),
            Value("$"),
            Value(n),
            function="split_part",
            output_field=CharField(),
        )

    stored = Case._base_manager.exclude(access_code_hash="")
    counts: dict[str, int] = {}
    groups = [
        ("", stored.filter(access_code_hash__startswith=ACCESS_FORMAT).annotate(label=part(2))),
        (
            "former ",
            stored.exclude(access_code_hash__startswith=ACCESS_FORMAT).annotate(label=part(1)),
        ),
    ]
    for prefix, rows in groups:
        for row in rows.values("label").annotate(n=Count("pk")).order_by():
            label = prefix + row["label"]
            counts[label] = counts.get(label, 0) + row["n"]
    return dict(sorted(counts.items()))


# --- The report ---------------------------------------------------------------------------


REFERENCE_ATTEMPTS = 10


def _save_with_new_reference(case: Case) -> None:
    """Save a new case under a fresh random reference.

    Two reports sent at once can draw the same reference; checking first and
    inserting after would let both pass the check. The unique constraint decides:
    on a collision the insert's savepoint is rolled back and a new reference drawn.
    """
    for _ in range(REFERENCE_ATTEMPTS):
        case.reference = crypto.generate_case_reference()
        try:
            with transaction.atomic():
                case.save(force_insert=True)
        except IntegrityError:
            if not Case.objects.filter(reference=case.reference).exists():
                raise  # another constraint: not ours to retry
            case.pk = None
            continue
        return
    raise RuntimeError("could not find a free case reference")


URGENT_CATEGORIES = {"sextortion"}


def _priority(categories: list[str], age_band: str) -> int:
    if URGENT_CATEGORIES & set(categories):
        return Priority.URGENT
    if age_band in {AgeBand.UNDER_12, AgeBand.AGE_12_13}:
        return Priority.HIGH
    return Priority.NORMAL


def _add_location(case: Case, *, kind: str, value: str) -> Location:
    location = Location(case=case, kind=kind, platform=normalize.detect_platform(value) or "")
    location.value = value
    location.set_index()
    location.save()
    return location


def _add_identifier(
    case: Case, *, kind: str, value: str, platform: str = "", demanding: bool = False
) -> Identifier:
    identifier = Identifier(case=case, kind=kind, platform=platform, is_demanding_party=demanding)
    identifier.value = value
    identifier.set_index()
    identifier.save()
    return identifier


def _record_consents(case: Case, consents: dict, given_by: str) -> None:
    for kind, given in consents.items():
        if given is not None:
            Consent.objects.create(case=case, kind=kind, given=bool(given), given_by=given_by)


@transaction.atomic
def submit_report(
    *,
    organisation: Organisation,
    incident: Incident | None,
    submission: Submission,
    draft: ReportDraft | None = None,
    origin: str = "",
) -> tuple[Case, str]:
    """Create a case from a family's checked report; returns (case, access code).

    The access code is returned once and stored only as a peppered Argon2id hash.
    The draft, if given, hands its files to the case and is deleted.
    """
    s = submission
    code = crypto.generate_access_code()
    categories = list(s.categories)
    case = Case(
        organisation=organisation,
        incident=incident,
        filer_role=s.filer_role,
        age_band=s.age_band,
        contact_preference=s.contact_preference,
        categories=categories,
        is_sextortion="sextortion" in categories,
        priority=_priority(categories, s.age_band),
    )
    case.access_code_hash = hash_family_code(code, case=case)  # bound to case.uuid
    case.contact = s.contact
    case.narrative = s.narrative
    _save_with_new_reference(case)

    for url in s.urls:
        _add_location(case, kind=Location.Kind.URL, value=url)
    for group in s.groups:
        _add_location(case, kind=Location.Kind.GROUP, value=group)
    for payment in s.payments:
        _add_identifier(case, kind=Identifier.Kind.PAYMENT, value=payment, demanding=True)
    if s.demanding_handle:
        _add_identifier(
            case,
            kind=Identifier.Kind.HANDLE,
            value=s.demanding_handle,
            platform=s.demanding_platform,
            demanding=True,
        )
    for handle in s.handles:
        _add_identifier(
            case, kind=Identifier.Kind.HANDLE, value=handle.value, platform=handle.platform
        )
    for phone in s.phones:
        _add_identifier(case, kind=Identifier.Kind.PHONE, value=phone)
    for name in s.names:
        _add_identifier(case, kind=Identifier.Kind.NAME, value=name)
    for fp in s.fingerprints:
        Fingerprint.objects.create(case=case, **dataclasses.asdict(fp))
    _record_consents(case, s.consents, s.filer_role)
    if draft is not None:
        for context_file in draft.files.select_for_update():
            context_file.case, context_file.draft = case, None
            context_file.save(update_fields=["case", "draft"])
            outbox.enqueue("support.process_evidence", file=context_file.uuid)
        # In the same transaction: the answers never outlive a failed report, nor
        # survive a sent one.
        draft.delete()

    events.record(
        "case.submitted",
        actor=family_actor(case, origin),
        on=case,
        data={"incident": str(incident.uuid) if incident else "", "priority": case.priority},
    )
    outbox.enqueue("support.match_case", case=case.uuid)
    return case, code


# --- Signing in ---------------------------------------------------------------------------

# Throttles for access-code attempts (per case reference, per client address).
FAMILY_ATTEMPTS_PER_CASE = 10
FAMILY_ATTEMPTS_PER_ADDRESS = 30
FAMILY_ATTEMPT_WINDOW = 15 * 60


def check_family_access(*, reference: str, code: str, client_ip: str) -> Case | None:
    """The case for a reference and access code, or None — the same way every time.

    Threat: guessing codes; learning which references exist from error text or
    timing. Choice: per-reference and per-address counters in Redis (hold under a
    parallel burst); an unknown reference spends one dummy Argon2 verification;
    callers show one message for every failure.
    """
    reference = reference.strip().upper()
    allowed = ratelimit.hit(
        f"family:addr:{client_ip}", limit=FAMILY_ATTEMPTS_PER_ADDRESS, window=FAMILY_ATTEMPT_WINDOW
    ) & ratelimit.hit(
        f"family:case:{reference[:20]}",
        limit=FAMILY_ATTEMPTS_PER_CASE,
        window=FAMILY_ATTEMPT_WINDOW,
    )
    case = Case.objects.filter(reference=reference, destroyed_at=None).first()
    if case is None or not allowed:
        crypto.burn_verify_time()
        return None
    return case if _verify_family_code(case, code) else None


# --- What the family adds afterwards ------------------------------------------------------


def _family_event(case: Case, event: str, origin: str, data: dict | None = None) -> None:
    events.record(event, actor=family_actor(case, origin), on=case, data=data)


@transaction.atomic
def record_family_visit(*, case: Case, origin: str = "") -> None:
    _family_event(case, "case.family_signed_in", origin)


@transaction.atomic
def add_family_message(*, case: Case, body: str, origin: str = "") -> Message:
    case = lock_live_case(case)
    message = Message(case=case, from_family=True)
    message.body = body
    message.save()
    _family_event(case, "message.from_family", origin, {"message": str(message.uuid)})
    return message


@transaction.atomic
def add_family_links(*, case: Case, urls: list[str], origin: str = "") -> int:
    case = lock_live_case(case)
    known = set(case.locations.values_list("index", flat=True))
    added = 0
    for url in urls:
        # Under every KEK version in the ring: mid-rotation, older rows still carry
        # an index made under the previous version.
        if known.isdisjoint(blind_indexes(url, domain="url")):
            _add_location(case, kind=Location.Kind.URL, value=url)
            added += 1
    _family_event(case, "case.links_added", origin, {"count": added})
    return added


MAX_FINGERPRINTS_PER_CASE = 200


@transaction.atomic
def add_family_fingerprints(
    *, case: Case, fingerprints: list[EvidenceFingerprint], origin: str = ""
) -> int:
    """Fingerprints of new copies the family found, made on their device; returns how many
    were new. Matching runs again, as after a report, so other families' cases with the
    same image are linked."""
    known = set(case.fingerprints.values_list("sha256", flat=True))
    fresh = {fp.sha256: fp for fp in fingerprints if fp.sha256 not in known}
    if len(known) + len(fresh) > MAX_FINGERPRINTS_PER_CASE:
        raise ServiceError("too-many-fingerprints")
    for fp in fresh.values():
        Fingerprint.objects.create(case=case, **dataclasses.asdict(fp))
    _family_event(case, "case.fingerprints_added", origin, {"count": len(fresh)})
    if fresh:
        outbox.enqueue("support.match_case", case=case.uuid)
    return len(fresh)


def current_consents(case: Case) -> dict[str, Consent]:
    """The decision in force for each kind: the newest row."""
    current = {}
    for consent in case.consents.order_by("created_at", "id"):
        current[consent.kind] = consent
    return current


@transaction.atomic
def withdraw_consent(*, case: Case, kind: str, origin: str = "") -> bool:
    case = lock_live_case(case)
    consent = current_consents(case).get(kind)
    if consent is None or not consent.given:
        return False
    Consent.objects.create(case=case, kind=kind, given=False, given_by=consent.given_by)
    _family_event(case, "consent.withdrawn", origin, {"kind": kind})
    return True


@transaction.atomic
def give_consent(*, case: Case, kind: str, origin: str = "") -> bool:
    """Give again a permission the family withdrew (or did not give); history is kept."""
    Case.objects.select_for_update().filter(pk=case.pk).first()  # one decision at a time
    consent = current_consents(case).get(kind)
    if consent is None or consent.given:
        return False
    Consent.objects.create(case=case, kind=kind, given=True, given_by=consent.given_by)
    _family_event(case, "consent.given", origin, {"kind": kind})
    return True


@transaction.atomic
def request_erasure(*, case: Case, origin: str = "") -> None:
    case = lock_live_case(case)
    if case.erasure_requested_at is None:
        case.erasure_requested_at = timezone.now()
        case.save(update_fields=["erasure_requested_at", "updated_at"])
        _family_event(case, "case.erasure_requested", origin)


# --- Context files ------------------------------------------------------------------------

MAX_FILES_PER_CASE = 50


def _store_family_file(upload, *, actor: audit.Actor, organisation_id=None, **where) -> ContextFile:
    blob = vault_services.finish_upload(upload, actor=actor, organisation_id=organisation_id)
    return ContextFile.objects.create(blob=blob, from_family=True, **where)


@transaction.atomic
def attach_draft_files(*, draft: ReportDraft, uploads: list, origin: str = "") -> list[ContextFile]:
    """Files sent during the wizard: kept encrypted, owned by the draft until it is sent."""
    if draft.files.count() + len(uploads) > MAX_FILES_PER_CASE:
        raise ServiceError("too-many-files")
    # No case exists yet: the draft stands for the family in the custody log.
    actor = audit.Actor("family", f"family:draft:{draft.uuid}", "family", origin)
    return [_store_family_file(u, actor=actor, draft=draft) for u in uploads]


@transaction.atomic
def add_family_files(*, case: Case, uploads: list, origin: str = "") -> list[ContextFile]:
    case = lock_live_case(case)
    if case.files.count() + len(uploads) > MAX_FILES_PER_CASE:
        raise ServiceError("too-many-files")
    actor = family_actor(case, origin)
    files = [
        _store_family_file(u, actor=actor, organisation_id=case.organisation.uuid, case=case)
        for u in uploads
    ]
    for f in files:
        outbox.enqueue("support.process_evidence", file=f.uuid)
    _family_event(case, "case.files_added", origin, {"count": len(files)})
    return files
