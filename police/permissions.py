"""Access helpers for police pages: the only way police views fetch objects.

Rules (SECURITY.md promise 1): a police liaison sees only cases referred to the
one unit their membership belongs to. Another organisation's case, a case never
referred (or referred to another unit, or withdrawn) and another liaison's
export are all 404 — their existence is not confirmed. A member whose role is
not allowed on the page at all gets a 403.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404

from support.models import Case, Membership, Role
from support.permissions import COORDINATION, get_membership_for_user

from .models import Export, LiaisonAssignment, PoliceReferral, PoliceUnit

LIAISON = frozenset({Role.POLICE_LIAISON})


@dataclass(frozen=True)
class Liaison:
    membership: Membership
    unit: PoliceUnit | None  # None: not yet assigned to a unit, so sees nothing


def get_liaison(user, organisation_uuid) -> Liaison:
    """The signed-in police liaison and their unit; 404 outside the org, 403 for other roles."""
    membership = get_membership_for_user(user, organisation_uuid, roles=LIAISON)
    assignment = (
        LiaisonAssignment.objects.select_related("unit")
        .filter(membership=membership, unit__is_active=True)
        .first()
    )
    return Liaison(membership, assignment.unit if assignment else None)


def referred_cases(liaison: Liaison):
    """Live referrals of live cases to the liaison's unit, newest first."""
    if liaison.unit is None:
        return PoliceReferral.objects.none()
    return (
        PoliceReferral.objects.select_related("case")
        .filter(
            unit=liaison.unit,
            withdrawn_at=None,
            case__organisation=liaison.membership.organisation,
            case__destroyed_at=None,
        )
        .order_by("-created_at")
    )


def get_referred_case(user, organisation_uuid, case_uuid) -> tuple[Liaison, PoliceReferral, Case]:
    """(liaison, referral, case) for a case referred to the liaison's unit, else 404."""
    liaison = get_liaison(user, organisation_uuid)
    referral = referred_cases(liaison).filter(case__uuid=case_uuid).first()
    if referral is None:
        raise Http404
    return liaison, referral, referral.case


def get_export_for_liaison(user, organisation_uuid, export_uuid) -> tuple[Liaison, Export]:
    """The liaison's own export of a case still referred to their unit, else 404."""
    liaison = get_liaison(user, organisation_uuid)
    export = (
        Export.objects.select_related("case", "referral")
        .filter(
            uuid=export_uuid,
            requested_by=liaison.membership,
            unit=liaison.unit,
            referral__withdrawn_at=None,
            case__destroyed_at=None,
        )
        .first()
        if liaison.unit is not None
        else None
    )
    if export is None:
        raise Http404
    return liaison, export


def get_unit_manager(user, organisation_uuid) -> Membership:
    """A coordinator of the organisation (units and liaisons are theirs to manage)."""
    return get_membership_for_user(user, organisation_uuid, roles=COORDINATION)


def get_unit_for_manager(user, organisation_uuid, unit_uuid) -> tuple[Membership, PoliceUnit]:
    manager = get_unit_manager(user, organisation_uuid)
    unit = PoliceUnit.objects.filter(uuid=unit_uuid, organisation=manager.organisation).first()
    if unit is None:
        raise Http404
    return manager, unit
