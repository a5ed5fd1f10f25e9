import uuid

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from support.members import invite_member
from support.models import Role
from support.permissions import (
    get_invitation_for_admin,
    get_member_for_admin,
    get_membership_for_user,
)
from tests.factories import make_member

pytestmark = pytest.mark.django_db


def test_get_membership_returns_the_member_of_that_organisation(coordinator, org_x):
    assert get_membership_for_user(coordinator.user, org_x.uuid) == coordinator


def test_get_membership_is_404_for_another_organisation(outsider_admin, org_x):
    with pytest.raises(Http404):
        get_membership_for_user(outsider_admin.user, org_x.uuid)


def test_get_membership_is_404_for_an_unknown_organisation(coordinator):
    with pytest.raises(Http404):
        get_membership_for_user(coordinator.user, uuid.uuid4())


def test_get_membership_is_403_for_a_role_not_allowed(caseworker, org_x):
    with pytest.raises(PermissionDenied):
        get_membership_for_user(caseworker.user, org_x.uuid, roles={Role.ORG_ADMIN})


def test_get_membership_is_404_once_deactivated(coordinator, org_x):
    coordinator.is_active = False
    coordinator.save()
    with pytest.raises(Http404):
        get_membership_for_user(coordinator.user, org_x.uuid)


def test_member_for_admin_finds_a_member_of_the_same_organisation(org_admin, caseworker, org_x):
    actor, target = get_member_for_admin(org_admin.user, org_x.uuid, caseworker.uuid)
    assert (actor, target) == (org_admin, caseworker)


def test_member_for_admin_is_404_for_a_member_of_another_organisation(
    org_admin, outsider_admin, org_x
):
    with pytest.raises(Http404):
        get_member_for_admin(org_admin.user, org_x.uuid, outsider_admin.uuid)


def test_member_for_admin_is_404_for_an_admin_of_another_organisation(
    outsider_admin, caseworker, org_x
):
    with pytest.raises(Http404):
        get_member_for_admin(outsider_admin.user, org_x.uuid, caseworker.uuid)


def test_member_for_admin_is_403_for_a_coordinator(coordinator, caseworker, org_x):
    with pytest.raises(PermissionDenied):
        get_member_for_admin(coordinator.user, org_x.uuid, caseworker.uuid)


def test_invitation_for_admin_rules(org_admin, outsider_admin, coordinator, org_x, org_y):
    invitation = invite_member(actor=org_admin, email="new@example.org", role=Role.CASEWORKER)
    _, found = get_invitation_for_admin(org_admin.user, org_x.uuid, invitation.uuid)
    assert found == invitation
    with pytest.raises(Http404):  # the outsider cannot even confirm it exists
        get_invitation_for_admin(outsider_admin.user, org_x.uuid, invitation.uuid)
    with pytest.raises(Http404):  # nor reach it through their own organisation
        get_invitation_for_admin(outsider_admin.user, org_y.uuid, invitation.uuid)
    with pytest.raises(PermissionDenied):
        get_invitation_for_admin(coordinator.user, org_x.uuid, invitation.uuid)


def test_a_second_organisation_role_does_not_leak_into_the_first(org_x, org_y):
    person = make_member(org_y, Role.ORG_ADMIN)
    with pytest.raises(Http404):
        get_membership_for_user(person.user, org_x.uuid, roles={Role.ORG_ADMIN})


# --- The permission table: one rule, read by views and services alike -------------------


def test_every_action_names_known_roles_and_unknown_actions_fail_loudly():
    from support import permissions

    for action, roles in permissions.ACTIONS.items():
        assert roles and roles <= set(Role.values), action
        assert permissions.roles_for(action) == roles
    with pytest.raises(KeyError):
        permissions.may(None, "case.nonsense")


def test_may_needs_an_active_membership_with_the_role(coordinator, caseworker):
    from support.permissions import may

    assert may(coordinator, "case.assign") and not may(caseworker, "case.assign")
    assert may(caseworker, "case.note") and not may(None, "case.note")
    coordinator.is_active = False
    assert not may(coordinator, "case.assign")


@pytest.fixture
def case(org_x):
    from tests.factories import FULL_REPORT, make_case

    return make_case(org_x, **FULL_REPORT)


def test_a_caseworker_cannot_use_coordinator_services_directly(caseworker, coordinator, case):
    from support import casework, intake

    incident = casework.create_incident(actor=coordinator, title="Colegio")
    intake.request_erasure(case=case)
    refused = [
        lambda: casework.set_case_incident(actor=caseworker, case=case, incident=incident),
        lambda: casework.set_legal_hold(actor=caseworker, case=case, hold=True),
        lambda: casework.decide_erasure(actor=caseworker, case=case, approve=True),
        lambda: casework.create_incident(actor=caseworker, title="Otro"),
        lambda: casework.assign_case(actor=caseworker, case=case, assignee=coordinator),
    ]
    for call in refused:
        with pytest.raises(PermissionDenied):
            call()
    case.refresh_from_db()
    assert case.incident is None and not case.legal_hold and case.destroyed_at is None
    assert case.assignee is None


def test_roles_without_case_work_cannot_change_a_case_through_the_services(
    org_admin, police_liaison, coordinator, case
):
    from support import casework

    for member in (org_admin, police_liaison):
        for service, arguments in [
            (casework.assign_case, {"assignee": coordinator}),
            (casework.change_status, {"status": "triaged"}),
            (casework.add_note, {"body": "x", "shared": True}),
            (casework.reply_to_family, {"body": "x"}),
        ]:
            with pytest.raises(PermissionDenied):
                service(actor=member, case=case, **arguments)
    case.refresh_from_db()
    assert case.assignee is None and case.status == "new"
    assert not case.notes.exists() and not case.messages.exists()


def test_services_refuse_another_organisations_case_and_a_colleagues_case(
    org_x, org_y, coordinator, caseworker, case
):
    from support import casework

    outsider = make_member(org_y, Role.COORDINATOR)
    with pytest.raises(PermissionDenied):
        casework.add_note(actor=outsider, case=case, body="x", shared=False)
    colleague = make_member(org_x, Role.CASEWORKER)
    casework.assign_case(actor=coordinator, case=case, assignee=colleague)
    with pytest.raises(PermissionDenied):
        casework.add_task(actor=caseworker, case=case, title="x", due=None)
    with pytest.raises(PermissionDenied):
        casework.assign_case(actor=caseworker, case=case, assignee=caseworker)
    assert not case.notes.exists() and not case.tasks.exists()
    case.refresh_from_db()
    assert case.assignee == colleague


def test_a_caseworker_takes_a_new_case_through_the_service(caseworker, case):
    from support import casework

    casework.assign_case(actor=caseworker, case=case, assignee=caseworker)
    case.refresh_from_db()
    assert case.assignee == caseworker


def test_member_services_are_for_the_organisations_admins(
    org_x, org_y, org_admin, coordinator, caseworker
):
    from support import members

    with pytest.raises(PermissionDenied):
        members.invite_member(actor=coordinator, email="a@example.org", role=Role.CASEWORKER)
    with pytest.raises(PermissionDenied):
        members.change_role(actor=caseworker, target=caseworker, role=Role.COORDINATOR)
    outsider = make_member(org_y, Role.ORG_ADMIN)
    with pytest.raises(PermissionDenied):
        members.deactivate_member(actor=outsider, target=coordinator)
    invitation = invite_member(actor=org_admin, email="b@example.org", role=Role.CASEWORKER)
    with pytest.raises(PermissionDenied):
        members.revoke_invitation(actor=outsider, invitation=invitation)
    caseworker.refresh_from_db()
    coordinator.refresh_from_db()
    invitation.refresh_from_db()
    assert caseworker.role == Role.CASEWORKER and coordinator.is_active
    assert invitation.revoked_at is None


def test_the_view_and_the_service_read_the_same_rule(monkeypatch, caseworker, case):
    """Take a role out of one table entry: both the page and the service refuse it."""
    from django.urls import reverse

    from support import casework, permissions
    from tests.factories import client_for

    monkeypatch.setitem(permissions.ACTIONS, "case.note", frozenset({Role.COORDINATOR}))
    url = reverse("support:case-note", kwargs={"org": case.organisation.uuid, "case": case.uuid})
    assert client_for(caseworker).post(url, {"body": "x"}).status_code == 403
    with pytest.raises(PermissionDenied):
        casework.add_note(actor=caseworker, case=case, body="x", shared=False)
    assert not case.notes.exists()


def test_taking_a_case_a_colleague_has_is_already_taken_not_a_refusal(
    org_x, coordinator, caseworker, police_liaison, case
):
    from support import casework
    from support.events import ServiceError

    colleague = make_member(org_x, Role.CASEWORKER)
    casework.take_case(actor=colleague, case=case)
    for member in (caseworker, coordinator):  # roles that may take cases: told it is taken
        with pytest.raises(ServiceError) as taken:
            casework.take_case(actor=member, case=case)
        assert taken.value.code == "already-taken"
    with pytest.raises(PermissionDenied):  # a role that may never take one: refused
        casework.take_case(actor=police_liaison, case=case)
    case.refresh_from_db()
    assert case.assignee == colleague


def test_a_caseworker_may_not_take_an_unassigned_case_past_triage(coordinator, caseworker, case):
    from support import casework

    casework.change_status(actor=coordinator, case=case, status="triaged")
    with pytest.raises(PermissionDenied):
        casework.take_case(actor=caseworker, case=case)
    casework.take_case(actor=coordinator, case=case)
    case.refresh_from_db()
    assert case.assignee == coordinator
