"""What every support service shares: the refused-change error, the acting party
and the one way a service writes its audit event.

The acting party is always called `actor`: a staff `Membership`, or an
`audit.Actor` for the system, a family or a new member.
"""

from __future__ import annotations

from vault import audit

from .models import Case, Membership, Organisation


class ServiceError(Exception):
    """A refused change; `code` maps to a translated message in the view."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def staff_actor(membership: Membership, origin: str = "") -> audit.Actor:
    return audit.Actor.user(membership.user, role=membership.role, origin=origin)


def family_actor(case: Case, origin: str = "") -> audit.Actor:
    return audit.Actor.family(case.uuid, origin=origin)


def as_audit_actor(actor: Membership | audit.Actor, origin: str = "") -> audit.Actor:
    return actor if isinstance(actor, audit.Actor) else staff_actor(actor, origin)


def record(
    event: str,
    *,
    actor: Membership | audit.Actor,
    on,
    origin: str = "",
    data: dict | None = None,
) -> None:
    """Append the audit event for a change to `on` (a case, incident, invitation…).

    The object type is the model's name and the organisation is `on` itself or
    the one it belongs to, so no caller builds them by hand. Must run inside the
    service's transaction (audit.record checks).
    """
    organisation = on if isinstance(on, Organisation) else on.organisation
    audit.record(
        event,
        actor=as_audit_actor(actor, origin),
        object_type=on._meta.model_name,
        object_id=on.uuid,
        organisation_id=organisation.uuid,
        data=data or {},
    )
