"""State changes for organisations and their people.

Each function runs in one transaction that also writes the audit event and
any outbox row, takes keyword-only arguments and an explicit actor.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from vault import audit, crypto, keys, normalize
from vault import services as vault_services
from vault.fields import blind_index

from . import outbox, ratelimit
from .models import (
    AgeBand,
    Case,
    Consent,
    ContextFile,
    Fingerprint,
    Identifier,
    Incident,
    Invitation,
    Location,
    Membership,
    Message,
    Organisation,
    Priority,
    ReportDraft,
    Role,
)

INVITATION_LIFETIME = timedelta(days=7)


class ServiceError(Exception):
    """A refused change; `code` maps to a translated message in the view."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def staff_actor(membership: Membership, origin: str = "") -> audit.Actor:
    return audit.Actor.user(membership.user, role=membership.role, origin=origin)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def create_organisation(*, name: str, actor: audit.Actor) -> Organisation:
    org = Organisation.objects.create(name=name)
    audit.record(
        "organisation.created",
        actor=actor,
        object_type="organisation",
        object_id=org.uuid,
        organisation_id=org.uuid,
    )
    return org


@transaction.atomic
def add_member(*, organisation: Organisation, user, role: str, actor: audit.Actor) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        user=user,
        organisation=organisation,
        defaults={"role": role, "is_active": True, "deactivated_at": None},
    )
    audit.record(
        "membership.added",
        actor=actor,
        object_type="membership",
        object_id=membership.uuid,
        organisation_id=organisation.uuid,
        data={"role": role},
    )
    return membership


def invitation_token_context(invitation: Invitation) -> str:
    return f"support_invitation|token_sealed|{invitation.uuid}"


@transaction.atomic
def invite_member(*, acting: Membership, email: str, role: str, origin: str = "") -> Invitation:
    """Create an invitation and promise its email in the same transaction."""
    email = email.strip().lower()
    if Membership.objects.filter(
        organisation=acting.organisation, user__email__iexact=email, is_active=True
    ).exists():
        raise ServiceError("already-member")
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        organisation=acting.organisation,
        email=email,
        role=role,
        token_hash=token_hash(token),
        invited_by=acting.user,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    invitation.token_sealed = keys.seal_text(
        token, purpose="field", context=invitation_token_context(invitation)
    )
    invitation.save()
    audit.record(
        "invitation.created",
        actor=staff_actor(acting, origin),
        object_type="invitation",
        object_id=invitation.uuid,
        organisation_id=acting.organisation.uuid,
        data={"role": role},
    )
    outbox.enqueue("support.send_invitation_email", invitation=invitation.uuid)
    return invitation


def find_invitation(token: str) -> Invitation | None:
    """The pending, unexpired invitation for a raw token, or None."""
    return (
        Invitation.objects.select_related("organisation")
        .filter(
            token_hash=token_hash(token),
            accepted_at=None,
            revoked_at=None,
            expires_at__gt=timezone.now(),
            organisation__is_active=True,
        )
        .first()
    )


@transaction.atomic
def accept_invitation(*, invitation: Invitation, user=None, password: str = "", origin: str = ""):
    """Join the organisation; creates the account when the invitee has none.

    Returns the membership. The invitation's email is the account's email: the
    link proves control of that mailbox.
    """
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at or invitation.revoked_at or invitation.expires_at <= timezone.now():
        raise ServiceError("invitation-invalid")
    User = get_user_model()
    if user is None:
        if User.objects.filter(email__iexact=invitation.email).exists():
            raise ServiceError("account-exists")
        user = User.objects.create_user(
            username=f"u-{secrets.token_hex(8)}", email=invitation.email, password=password
        )
        EmailAddress.objects.create(user=user, email=invitation.email, primary=True, verified=True)
    elif user.email.lower() != invitation.email:
        raise ServiceError("wrong-account")
    invitation.accepted_at = timezone.now()
    invitation.token_sealed = ""
    invitation.save(update_fields=["accepted_at", "token_sealed"])
    actor = audit.Actor.user(user, role=invitation.role, origin=origin)
    audit.record(
        "invitation.accepted",
        actor=actor,
        object_type="invitation",
        object_id=invitation.uuid,
        organisation_id=invitation.organisation.uuid,
    )
    return add_member(
        organisation=invitation.organisation, user=user, role=invitation.role, actor=actor
    )


@transaction.atomic
def revoke_invitation(*, acting: Membership, invitation: Invitation, origin: str = "") -> None:
    if invitation.accepted_at or invitation.revoked_at:
        raise ServiceError("invitation-invalid")
    invitation.revoked_at = timezone.now()
    invitation.token_sealed = ""
    invitation.save(update_fields=["revoked_at", "token_sealed"])
    audit.record(
        "invitation.revoked",
        actor=staff_actor(acting, origin),
        object_type="invitation",
        object_id=invitation.uuid,
        organisation_id=acting.organisation.uuid,
    )


def _check_not_last_admin(target: Membership) -> None:
    if target.role != Role.ORG_ADMIN or not target.is_active:
        return
    others = Membership.objects.filter(
        organisation=target.organisation, role=Role.ORG_ADMIN, is_active=True
    ).exclude(pk=target.pk)
    if not others.exists():
        raise ServiceError("last-admin")


@transaction.atomic
def change_role(*, acting: Membership, target: Membership, role: str, origin: str = "") -> None:
    target = Membership.objects.select_for_update().get(pk=target.pk)
    if role not in Role.values:
        raise ServiceError("bad-role")
    if role == target.role:
        return
    if role != Role.ORG_ADMIN:
        _check_not_last_admin(target)
    previous = target.role
    target.role = role
    target.save(update_fields=["role"])
    audit.record(
        "membership.role_changed",
        actor=staff_actor(acting, origin),
        object_type="membership",
        object_id=target.uuid,
        organisation_id=acting.organisation.uuid,
        data={"from": previous, "to": role},
    )


@transaction.atomic
def deactivate_member(*, acting: Membership, target: Membership, origin: str = "") -> None:
    target = Membership.objects.select_for_update().get(pk=target.pk)
    if not target.is_active:
        return
    _check_not_last_admin(target)
    target.is_active = False
    target.deactivated_at = timezone.now()
    target.save(update_fields=["is_active", "deactivated_at"])
    audit.record(
        "membership.deactivated",
        actor=staff_actor(acting, origin),
        object_type="membership",
        object_id=target.uuid,
        organisation_id=acting.organisation.uuid,
    )


# --- Family reports -------------------------------------------------------------------


def _access_pepper() -> tuple[int, bytes]:
    version = keys.keyring().current_version
    return version, keys.purpose_key("access-code-pepper", version)


def hash_family_code(code: str) -> str:
    version, pepper = _access_pepper()
    return f"v{version}${crypto.hash_access_code(code, pepper)}"


def _verify_family_code(stored: str, code: str) -> bool:
    version_part, _, hashed = stored.partition("$")
    try:
        pepper = keys.purpose_key("access-code-pepper", int(version_part.removeprefix("v")))
    except (ValueError, crypto.CryptoError):
        return False
    return crypto.verify_access_code(hashed, code, pepper)


def _new_reference() -> str:
    for _ in range(10):
        reference = crypto.generate_case_reference()
        if not Case.objects.filter(reference=reference).exists():
            return reference
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
    location.index = blind_index(value, domain="url")
    location.save()
    return location


def _add_identifier(
    case: Case, *, kind: str, value: str, platform: str = "", demanding: bool = False
) -> Identifier:
    identifier = Identifier(case=case, kind=kind, platform=platform, is_demanding_party=demanding)
    identifier.value = value
    domain = f"{kind}:{platform}" if kind == Identifier.Kind.HANDLE else kind
    identifier.index = blind_index(value.casefold(), domain=domain)
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
    answers: dict,
    draft: ReportDraft | None = None,
    origin: str = "",
) -> tuple[Case, str]:
    """Create a case from a family's checked answers; returns (case, access code).

    The access code is returned once and stored only as a peppered Argon2id hash.
    `answers` comes from reporting's forms, already validated and normalised.
    """
    who, what = answers["who"], answers["what"]
    code = crypto.generate_access_code()
    categories = list(what.get("categories", []))
    case = Case(
        organisation=organisation,
        incident=incident,
        reference=_new_reference(),
        access_code_hash=hash_family_code(code),
        filer_role=who["filer_role"],
        age_band=who["age_band"],
        contact_preference=who["contact_preference"],
        categories=categories,
        is_sextortion="sextortion" in categories,
        priority=_priority(categories, who["age_band"]),
    )
    case.contact = who.get("contact", "")
    case.narrative = what.get("narrative", "")
    case.save()

    where = answers.get("where", {})
    for url in where.get("urls", []):
        _add_location(case, kind=Location.Kind.URL, value=url)
    for group in where.get("groups", []):
        _add_location(case, kind=Location.Kind.GROUP, value=group)
    urgent = answers.get("urgent", {})
    for payment in urgent.get("payments", []):
        _add_identifier(case, kind=Identifier.Kind.PAYMENT, value=payment, demanding=True)
    if urgent.get("demanding_handle"):
        _add_identifier(
            case,
            kind=Identifier.Kind.HANDLE,
            value=urgent["demanding_handle"],
            platform=urgent.get("demanding_platform", ""),
            demanding=True,
        )
    involved = answers.get("involved", {})
    for handle in involved.get("handles", []):
        _add_identifier(
            case, kind=Identifier.Kind.HANDLE, value=handle["value"], platform=handle["platform"]
        )
    for phone in involved.get("phones", []):
        _add_identifier(case, kind=Identifier.Kind.PHONE, value=phone)
    for name in involved.get("names", []):
        _add_identifier(case, kind=Identifier.Kind.NAME, value=name)
    for fp in answers.get("evidence", {}).get("fingerprints", []):
        Fingerprint.objects.create(case=case, **fp)
    _record_consents(case, answers.get("consent", {}), who["filer_role"])
    if draft is not None:
        for context_file in draft.files.select_for_update():
            context_file.case, context_file.draft = case, None
            context_file.save(update_fields=["case", "draft"])
            outbox.enqueue("support.process_evidence", file=context_file.uuid)

    actor = audit.Actor.family(case.uuid, origin=origin)
    audit.record(
        "case.submitted",
        actor=actor,
        object_type="case",
        object_id=case.uuid,
        organisation_id=organisation.uuid,
        data={"incident": str(incident.uuid) if incident else "", "priority": case.priority},
    )
    outbox.enqueue("support.match_case", case=case.uuid)
    return case, code


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
    case = Case.objects.filter(reference=reference).first()
    if case is None or not allowed:
        crypto.burn_verify_time(_access_pepper()[1])
        return None
    return case if _verify_family_code(case.access_code_hash, code) else None


def _family_actor(case: Case, origin: str) -> audit.Actor:
    return audit.Actor.family(case.uuid, origin=origin)


def _family_event(case: Case, event: str, origin: str, data: dict | None = None) -> None:
    audit.record(
        event,
        actor=_family_actor(case, origin),
        object_type="case",
        object_id=case.uuid,
        organisation_id=case.organisation.uuid,
        data=data or {},
    )


@transaction.atomic
def record_family_visit(*, case: Case, origin: str = "") -> None:
    _family_event(case, "case.family_signed_in", origin)


@transaction.atomic
def add_family_message(*, case: Case, body: str, origin: str = "") -> Message:
    message = Message(case=case, from_family=True)
    message.body = body
    message.save()
    _family_event(case, "message.from_family", origin, {"message": str(message.uuid)})
    return message


@transaction.atomic
def add_family_links(*, case: Case, urls: list[str], origin: str = "") -> int:
    known = set(case.locations.values_list("index", flat=True))
    added = 0
    for url in urls:
        if blind_index(url, domain="url") not in known:
            _add_location(case, kind=Location.Kind.URL, value=url)
            added += 1
    _family_event(case, "case.links_added", origin, {"count": added})
    return added


def current_consents(case: Case) -> dict[str, Consent]:
    """The decision in force for each kind: the newest row."""
    current = {}
    for consent in case.consents.order_by("created_at", "id"):
        current[consent.kind] = consent
    return current


@transaction.atomic
def withdraw_consent(*, case: Case, kind: str, origin: str = "") -> bool:
    consent = current_consents(case).get(kind)
    if consent is None or not consent.given:
        return False
    Consent.objects.create(case=case, kind=kind, given=False, given_by=consent.given_by)
    _family_event(case, "consent.withdrawn", origin, {"kind": kind})
    return True


@transaction.atomic
def request_erasure(*, case: Case, origin: str = "") -> None:
    case = Case.objects.select_for_update().get(pk=case.pk)
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
    if case.files.count() + len(uploads) > MAX_FILES_PER_CASE:
        raise ServiceError("too-many-files")
    actor = _family_actor(case, origin)
    files = [
        _store_family_file(u, actor=actor, organisation_id=case.organisation.uuid, case=case)
        for u in uploads
    ]
    for f in files:
        outbox.enqueue("support.process_evidence", file=f.uuid)
    _family_event(case, "case.files_added", origin, {"count": len(files)})
    return files
