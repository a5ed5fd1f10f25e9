"""State changes of the police side: units, liaisons, referrals, exports.

Same rules as support's services: one transaction each, keyword-only arguments,
the acting membership explicit, the audit event (and any outbox row) inside it.
Events about a case are recorded on the case (`object_type="case"`), so the
case's custody log shows every referral, export and download.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from support import outbox
from support.events import ServiceError, staff_actor
from support.intake import current_consents
from support.members import token_hash
from support.models import Case, Consent, Membership, Role
from vault import audit, crypto, keys
from vault import services as vault_services
from vault.models import RecipientKey

from .models import Export, LiaisonAssignment, PoliceReferral, PoliceUnit

# The legal-obligation path needs a reason someone can check later ("LOPIVI art.
# 15: a teacher reported…"), not a word.
LEGAL_REASON_MIN = 20
PASSPHRASE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105 - 32 symbols, no 0/O, 1/I
PASSPHRASE_GROUPS = 7  # 7 groups x 4 symbols x 5 bits = 140 bits


def _case_event(case: Case, event: str, acting: Membership, origin: str, data: dict) -> None:
    audit.record(
        event,
        actor=staff_actor(acting, origin),
        object_type="case",
        object_id=case.uuid,
        organisation_id=case.organisation.uuid,
        data=data,
    )


def _unit_event(unit: PoliceUnit, event: str, acting: Membership, origin: str, data=None) -> None:
    audit.record(
        event,
        actor=staff_actor(acting, origin),
        object_type="police_unit",
        object_id=unit.uuid,
        organisation_id=unit.organisation.uuid,
        data=data or {},
    )


# --- Units and liaisons ---------------------------------------------------------------


@transaction.atomic
def create_unit(
    *, acting: Membership, name: str, contact: str = "", public_key: bytes, origin: str = ""
) -> PoliceUnit:
    """A unit with its X25519 public key, registered through the vault's recipient keys.

    The unit makes its key pair on its own machine (or the `create_recipient_key`
    command hands it the private key file); only the public half comes here.
    """
    if acting.role != Role.COORDINATOR:
        raise ServiceError("not-allowed")
    try:
        crypto.public_key_to_b64(public_key)
    except (ValueError, crypto.CryptoError):
        raise ServiceError("bad-public-key") from None
    if RecipientKey.objects.filter(public_key=crypto.public_key_to_b64(public_key)).exists():
        raise ServiceError("key-in-use")
    recipient = vault_services.register_recipient_key(
        name=name, public_key=public_key, actor=staff_actor(acting, origin)
    )
    unit = PoliceUnit(
        organisation=acting.organisation, name=name, recipient_key=recipient, created_by=acting
    )
    unit.contact = contact
    unit.save()
    _unit_event(unit, "police.unit_created", acting, origin, {"key": recipient.fingerprint})
    return unit


@transaction.atomic
def assign_liaison(
    *, acting: Membership, liaison: Membership, unit: PoliceUnit | None, origin: str = ""
) -> None:
    """Make `liaison` speak for `unit` (or for none): they then see that unit's cases only."""
    if acting.role != Role.COORDINATOR:
        raise ServiceError("not-allowed")
    if (
        liaison.organisation_id != acting.organisation_id
        or liaison.role != Role.POLICE_LIAISON
        or not liaison.is_active
    ):
        raise ServiceError("bad-liaison")
    if unit is not None and (unit.organisation_id != acting.organisation_id or not unit.is_active):
        raise ServiceError("bad-unit")
    LiaisonAssignment.objects.filter(membership=liaison).delete()
    if unit is not None:
        LiaisonAssignment.objects.create(membership=liaison, unit=unit, assigned_by=acting)
    audit.record(
        "police.liaison_assigned",
        actor=staff_actor(acting, origin),
        object_type="membership",
        object_id=liaison.uuid,
        organisation_id=acting.organisation.uuid,
        data={"unit": str(unit.uuid) if unit else ""},
    )


# --- Referrals ------------------------------------------------------------------------


def police_consent(case: Case) -> Consent | None:
    """The family's police consent in force, if it is a yes."""
    consent = current_consents(case).get(Consent.Kind.POLICE)
    return consent if consent is not None and consent.given else None


@transaction.atomic
def refer_case(
    *,
    acting: Membership,
    case: Case,
    unit: PoliceUnit,
    basis: str,
    legal_reason: str = "",
    origin: str = "",
) -> PoliceReferral:
    """Refer a case to a unit, on the family's consent or on a documented legal obligation.

    Threat: a case file reaching the police against the family's decision, or
    with no record of why. Choice: "consent" is accepted only while the newest
    police consent row says yes (that row is linked); "legal obligation" only from
    a coordinator with a written reason; either way the basis is audited.
    """
    if acting.role != Role.COORDINATOR:
        raise ServiceError("not-allowed")
    case = Case.objects.select_for_update().get(pk=case.pk)
    if case.organisation_id != acting.organisation_id or case.destroyed_at is not None:
        raise ServiceError("not-allowed")
    if unit.organisation_id != acting.organisation_id or not unit.is_active:
        raise ServiceError("bad-unit")
    if PoliceReferral.objects.filter(case=case, unit=unit, withdrawn_at=None).exists():
        raise ServiceError("already-referred")
    referral = PoliceReferral(case=case, unit=unit, basis=basis, referred_by=acting)
    if basis == PoliceReferral.Basis.CONSENT:
        referral.consent = police_consent(case)
        if referral.consent is None:
            raise ServiceError("no-police-consent")
    elif basis == PoliceReferral.Basis.LEGAL_OBLIGATION:
        legal_reason = legal_reason.strip()
        if len(legal_reason) < LEGAL_REASON_MIN:
            raise ServiceError("legal-reason-needed")
        referral.legal_reason = legal_reason
    else:
        raise ServiceError("bad-basis")
    referral.save()
    _case_event(
        case,
        "police.case_referred",
        acting,
        origin,
        {
            "referral": str(referral.uuid),
            "unit": str(unit.uuid),
            "basis": basis,
            "consent": str(referral.consent.uuid) if referral.consent else "",
        },
    )
    return referral


@transaction.atomic
def withdraw_referral(*, acting: Membership, referral: PoliceReferral, origin: str = "") -> None:
    """End a unit's access to a case (its liaisons' pages and links stop working)."""
    if acting.role != Role.COORDINATOR:
        raise ServiceError("not-allowed")
    referral = PoliceReferral.objects.select_for_update().get(pk=referral.pk)
    if referral.withdrawn_at is not None:
        return
    referral.withdrawn_at = timezone.now()
    referral.save(update_fields=["withdrawn_at"])
    _case_event(
        referral.case,
        "police.referral_withdrawn",
        acting,
        origin,
        {"referral": str(referral.uuid), "unit": str(referral.unit.uuid)},
    )


# --- Exports --------------------------------------------------------------------------


def new_passphrase() -> str:
    """Seven groups of four symbols (140 bits): typed once into 7-Zip, read aloud easily."""
    symbols = "".join(secrets.choice(PASSPHRASE_ALPHABET) for _ in range(PASSPHRASE_GROUPS * 4))
    return "-".join(symbols[i : i + 4] for i in range(0, len(symbols), 4))


def passphrase_context(export: Export) -> str:
    return f"police_export|passphrase|{export.uuid}"


def reencrypt_export_passphrases() -> int:
    """Rotation step: waiting exports' passphrases re-encrypted under the current KEK."""
    done = 0
    with transaction.atomic():
        for export in Export.objects.select_for_update().exclude(passphrase_sealed=""):
            new = keys.reencrypt_text(
                export.passphrase_sealed, purpose="field", context=passphrase_context(export)
            )
            if new is not None:
                export.passphrase_sealed = new
                export.save(update_fields=["passphrase_sealed"])
                done += 1
    return done


@dataclass(frozen=True)
class StartedExport:
    """The export row and the two secrets shown once to the liaison, then forgotten."""

    export: Export
    passphrase: str
    token: str


@transaction.atomic
def start_export(
    *,
    acting: Membership,
    referral: PoliceReferral,
    purpose: str,
    purpose_detail: str = "",
    origin: str = "",
) -> StartedExport:
    """Queue the building of a case file for a liaison of the unit the case is referred to.

    The caller has re-authenticated (the view demands it). Returns the one-time
    passphrase and download token: only the token's hash is kept, and the
    passphrase only encrypted until the worker has used it.
    """
    if acting.role != Role.POLICE_LIAISON:
        raise ServiceError("not-allowed")
    referral = (
        PoliceReferral.objects.select_for_update()
        .select_related("case", "unit")
        .get(pk=referral.pk)
    )
    assignment = LiaisonAssignment.objects.filter(membership=acting).first()
    if (
        referral.withdrawn_at is not None
        or assignment is None
        or assignment.unit_id != referral.unit_id
        or referral.case.destroyed_at is not None
    ):
        raise ServiceError("not-allowed")
    if purpose not in Export.Purpose.values:
        raise ServiceError("bad-purpose")
    if purpose == Export.Purpose.OTHER and not purpose_detail.strip():
        raise ServiceError("purpose-detail-needed")
    passphrase, token = new_passphrase(), secrets.token_urlsafe(32)
    export = Export(
        case=referral.case,
        unit=referral.unit,
        referral=referral,
        requested_by=acting,
        purpose=purpose,
        token_hash=token_hash(token),
    )
    export.purpose_detail = purpose_detail.strip()
    export.passphrase_sealed = keys.encrypt_text(
        passphrase, purpose="field", context=passphrase_context(export)
    )
    export.save()
    _case_event(
        referral.case,
        "police.export_requested",
        acting,
        origin,
        {"export": str(export.uuid), "unit": str(referral.unit.uuid), "purpose": purpose},
    )
    outbox.enqueue("police.build_export", export=export.uuid)
    return StartedExport(export, passphrase, token)
