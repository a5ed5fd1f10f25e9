"""State changes for organisations and their people: organisations, members,
invitations.

Each function runs in one transaction that also writes the audit event and
any outbox row, takes keyword-only arguments and an explicit `actor`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from vault import audit, keys

from . import events, outbox
from .events import ServiceError
from .models import Invitation, Membership, Organisation, Role
from .permissions import require

INVITATION_LIFETIME = timedelta(days=7)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def create_organisation(*, name: str, actor: audit.Actor) -> Organisation:
    org = Organisation.objects.create(name=name)
    events.record("organisation.created", actor=actor, on=org)
    return org


@transaction.atomic
def add_member(*, organisation: Organisation, user, role: str, actor: audit.Actor) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        user=user,
        organisation=organisation,
        defaults={"role": role, "is_active": True, "deactivated_at": None},
    )
    events.record("membership.added", actor=actor, on=membership, data={"role": role})
    return membership


def invitation_token_context(invitation: Invitation) -> str:
    return f"support_invitation|token_sealed|{invitation.uuid}"


def reencrypt_invitation_tokens() -> int:
    """Rotation step: pending invitations' tokens re-encrypted under the current KEK."""
    done = 0
    with transaction.atomic():
        for invitation in Invitation.objects.select_for_update().exclude(token_sealed=""):
            new = keys.reencrypt_text(
                invitation.token_sealed,
                purpose="field",
                context=invitation_token_context(invitation),
            )
            if new is not None:
                invitation.token_sealed = new
                invitation.save(update_fields=["token_sealed"])
                done += 1
    return done


@transaction.atomic
def invite_member(*, actor: Membership, email: str, role: str, origin: str = "") -> Invitation:
    """Create an invitation and promise its email in the same transaction."""
    require(actor, "members.manage")
    email = email.strip().lower()
    if Membership.objects.filter(
        organisation=actor.organisation, user__email__iexact=email, is_active=True
    ).exists():
        raise ServiceError("already-member")
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        organisation=actor.organisation,
        email=email,
        role=role,
        token_hash=token_hash(token),
        invited_by=actor.user,
        expires_at=timezone.now() + INVITATION_LIFETIME,
    )
    invitation.token_sealed = keys.encrypt_text(
        token, purpose="field", context=invitation_token_context(invitation)
    )
    invitation.save()
    events.record(
        "invitation.created", actor=actor, on=invitation, origin=origin, data={"role": role}
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
    events.record("invitation.accepted", actor=actor, on=invitation)
    return add_member(
        organisation=invitation.organisation, user=user, role=invitation.role, actor=actor
    )


@transaction.atomic
def revoke_invitation(*, actor: Membership, invitation: Invitation, origin: str = "") -> None:
    require(actor, "members.manage", on=invitation)
    if invitation.accepted_at or invitation.revoked_at:
        raise ServiceError("invitation-invalid")
    invitation.revoked_at = timezone.now()
    invitation.token_sealed = ""
    invitation.save(update_fields=["revoked_at", "token_sealed"])
    events.record("invitation.revoked", actor=actor, on=invitation, origin=origin)


def _check_not_last_admin(target: Membership) -> None:
    if target.role != Role.ORG_ADMIN or not target.is_active:
        return
    others = Membership.objects.filter(
        organisation=target.organisation, role=Role.ORG_ADMIN, is_active=True
    ).exclude(pk=target.pk)
    if not others.exists():
        raise ServiceError("last-admin")


@transaction.atomic
def change_role(*, actor: Membership, target: Membership, role: str, origin: str = "") -> None:
    target = Membership.objects.select_for_update().get(pk=target.pk)
    require(actor, "members.manage", on=target)
    if role not in Role.values:
        raise ServiceError("bad-role")
    if role == target.role:
        return
    if role != Role.ORG_ADMIN:
        _check_not_last_admin(target)
    previous = target.role
    target.role = role
    target.save(update_fields=["role"])
    events.record(
        "membership.role_changed",
        actor=actor,
        on=target,
        origin=origin,
        data={"from": previous, "to": role},
    )


@transaction.atomic
def deactivate_member(*, actor: Membership, target: Membership, origin: str = "") -> None:
    if target.pk == actor.pk:
        # An admin locking themselves out by a slip: another admin must do it.
        raise ServiceError("self-deactivate")
    target = Membership.objects.select_for_update().get(pk=target.pk)
    require(actor, "members.manage", on=target)
    if not target.is_active:
        return
    _check_not_last_admin(target)
    target.is_active = False
    target.deactivated_at = timezone.now()
    target.save(update_fields=["is_active", "deactivated_at"])
    events.record("membership.deactivated", actor=actor, on=target, origin=origin)
