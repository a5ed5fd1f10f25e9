"""Access helpers: the only way views fetch protected objects.

Rules (SECURITY.md promise 1): another organisation's object is a 404 — its
existence is not confirmed; a member whose role may not do something gets a
403. Views never look objects up by id themselves.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q
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
    """(the admin's membership, the target membership) — target must be in the same organisation."""
    actor = get_membership_for_user(user, organisation_uuid, roles=MANAGE_MEMBERS)
    target = (
        Membership.objects.select_related("user")
        .filter(uuid=member_uuid, organisation=actor.organisation)
        .first()
    )
    if target is None:
        raise Http404
    return actor, target


def get_invitation_for_admin(user, organisation_uuid, invitation_uuid):
    actor = get_membership_for_user(user, organisation_uuid, roles=MANAGE_MEMBERS)
    invitation = Invitation.objects.filter(
        uuid=invitation_uuid, organisation=actor.organisation
    ).first()
    if invitation is None:
        raise Http404
    return actor, invitation


# --- Cases -------------------------------------------------------------------------------
# Who sees which case (police liaisons get their own view with the export issue):
CASE_ROLES = frozenset({Role.COORDINATOR, Role.CASEWORKER})
COORDINATION = frozenset({Role.COORDINATOR})


def visible_cases(membership: Membership):
    """The cases a member may list: coordinators all, caseworkers theirs and the new ones."""
    from .models import Case, CaseStatus

    cases = Case.objects.filter(organisation=membership.organisation, destroyed_at=None)
    if membership.role == Role.CASEWORKER:
        cases = cases.filter(Q(assignee=membership) | Q(assignee=None, status=CaseStatus.NEW))
    return cases


def get_case_for_user(user, organisation_uuid, case_uuid, *, roles=CASE_ROLES):
    """(membership, case): another organisation's case is 404; a case outside the
    member's view (a caseworker's colleague's case) or a role without case access is 403."""
    from .models import Case

    membership = get_membership_for_user(user, organisation_uuid, roles=STAFF_ROLES)
    case = (
        Case.objects.select_related("incident", "assignee__user")
        .filter(organisation=membership.organisation, uuid=case_uuid, destroyed_at=None)
        .first()
    )
    if case is None:
        raise Http404
    if membership.role not in roles or not visible_cases(membership).filter(pk=case.pk).exists():
        raise PermissionDenied
    return membership, case


def get_case_to_take(user, organisation_uuid, case_uuid, *, shown_as_nobodys: bool):
    """(membership, case) for "Take this case": as `get_case_for_user` with the roles
    of `case.take`, except for a case a colleague took after the member saw it.

    Threat: a caseworker reaches a colleague's case by posting to its URL. Choice:
    that stays a 403 (the IDOR matrix's request), unless the request is the case
    page's Take form, which says the case was shown as nobody's (`shown_as_nobodys`):
    then a member whose role may take cases gets the case, so that
    casework.take_case says a colleague took it first and changes nothing. All the
    member learns is that a colleague has the case, which their 403 says already (a
    caseworker sees their own cases and the new ones nobody has).
    """
    from .models import Case

    roles = ACTIONS["case.take"]
    try:
        return get_case_for_user(user, organisation_uuid, case_uuid, roles=roles)
    except PermissionDenied:
        if not shown_as_nobodys:
            raise
    membership = get_membership_for_user(user, organisation_uuid, roles=roles)
    case = (
        Case.objects.select_related("incident", "assignee__user")
        .filter(organisation=membership.organisation, uuid=case_uuid, destroyed_at=None)
        .exclude(assignee=None)
        .first()
    )
    if case is None:
        raise PermissionDenied
    return membership, case


def get_incident_for_user(user, organisation_uuid, incident_uuid, *, roles=CASE_ROLES):
    from .models import Incident

    membership = get_membership_for_user(user, organisation_uuid, roles=STAFF_ROLES)
    incident = Incident.objects.filter(
        organisation=membership.organisation, uuid=incident_uuid
    ).first()
    if incident is None:
        raise Http404
    if membership.role not in roles:
        raise PermissionDenied
    return membership, incident


# --- Families ----------------------------------------------------------------------------


def get_case_for_family(case_uuid):
    """The case a family signed in to (its id comes from their session), or None.

    A destroyed case is gone for the family too: its tombstone takes no messages,
    links or files, and shows nothing.
    """
    from .models import Case

    return (
        Case.objects.select_related("organisation")
        .filter(uuid=case_uuid, destroyed_at=None)
        .first()
    )


# --- The permission table ----------------------------------------------------------------
# Threat: a role rule written in a view but forgotten in the service (or the other way
# round) lets a wrong role act through the path that forgot it. Choice: one table, read
# by the views (before the form is even parsed) and by the services (whoever calls them),
# so each rule is written once and enforced on both sides.
_CASEWORK = CASE_ROLES

ACTIONS: dict[str, frozenset[str]] = {
    # The case page and its sections.
    "case.view": _CASEWORK,
    "case.status": _CASEWORK,
    "case.priority": _CASEWORK,
    "case.labels": _CASEWORK,
    "case.take": _CASEWORK,
    "case.note": _CASEWORK,
    "case.reply": _CASEWORK,
    "case.task": _CASEWORK,
    "case.task_done": _CASEWORK,
    "case.referral": _CASEWORK,
    "case.assign": COORDINATION,
    "case.incident": COORDINATION,
    "case.hold": COORDINATION,
    "case.erasure": COORDINATION,
    # Evidence files.
    "file.reveal": _CASEWORK,
    "file.download": COORDINATION,
    # Organisation pages.
    "incident.view": _CASEWORK,
    "incident.create": COORDINATION,
    "dashboard.view": COORDINATION,
    "members.manage": MANAGE_MEMBERS,
    "retention.set": MANAGE_MEMBERS,
}


def roles_for(action: str) -> frozenset[str]:
    """The roles that may do `action`; an unknown action is a programming error."""
    return ACTIONS[action]


def may(membership: Membership | None, action: str, *, case=None, on=None) -> bool:
    """Whether this active membership may do `action` (on `case` or `on`, when given).

    `on` is any row of an organisation (an invitation, a member): it must be the
    member's organisation's. A case must be too and, for a caseworker, one they may
    see (theirs, or a new one nobody has taken): the rule of `visible_cases`, checked
    on the row in hand so a service adds no query.
    """
    roles = ACTIONS[action]  # an unknown action is a programming error: KeyError
    if membership is None or not membership.is_active or membership.role not in roles:
        return False
    if on is not None and on.organisation_id != membership.organisation_id:
        return False
    if case is None:
        return True
    if case.organisation_id != membership.organisation_id:
        return False
    if membership.role == Role.CASEWORKER:
        from .models import CaseStatus

        return case.assignee_id == membership.pk or (
            case.assignee_id is None and case.status == CaseStatus.NEW
        )
    return True


def require(membership: Membership | None, action: str, *, case=None, on=None) -> None:
    """Refuse (403) unless `may(membership, action, case=case, on=on)`."""
    if not may(membership, action, case=case, on=on):
        raise PermissionDenied
