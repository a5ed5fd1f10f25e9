"""Access helpers: the only way views fetch protected objects.

Rules (SECURITY.md promise 1): another organisation's object is a 404 — its
existence is not confirmed; a member whose role may not do something gets a
403. Views never look objects up by id themselves.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Invitation, Membership, Role

STAFF_ROLES = frozenset(Role.values)
MANAGE_MEMBERS = frozenset({Role.ORG_ADMIN})


def get_membership_for_user(user, organisation_uuid, *, roles=STAFF_ROLES) -> Membership:
    """The user's active membership in the organisation, or 404; a role outside `roles` is 403."""
    if not user.is_authenticated:
        raise Http404
    membership = (
        Membership.objects.select_related("organisation")
        .filter(
            user=user,
            organisation__uuid=organisation_uuid,
            organisation__is_active=True,
            is_active=True,
        )
        .first()
    )
    if membership is None:
        raise Http404
    if membership.role not in roles:
        raise PermissionDenied
    return membership


def get_member_for_admin(user, organisation_uuid, member_uuid) -> tuple[Membership, Membership]:
    """(acting admin's membership, target membership) — target must be in the same organisation."""
    acting = get_membership_for_user(user, organisation_uuid, roles=MANAGE_MEMBERS)
    target = (
        Membership.objects.select_related("user")
        .filter(uuid=member_uuid, organisation=acting.organisation)
        .first()
    )
    if target is None:
        raise Http404
    return acting, target


def get_invitation_for_admin(user, organisation_uuid, invitation_uuid):
    acting = get_membership_for_user(user, organisation_uuid, roles=MANAGE_MEMBERS)
    invitation = Invitation.objects.filter(
        uuid=invitation_uuid, organisation=acting.organisation
    ).first()
    if invitation is None:
        raise Http404
    return acting, invitation
