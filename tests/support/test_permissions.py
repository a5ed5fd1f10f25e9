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
