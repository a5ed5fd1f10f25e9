"""The fixture world the proof suites run against, made through the app's own services.

Two organisations; in X a case A (family A) with every kind of object a URL can
name — a context file, a takedown notice, a police referral to unit A and an
export, an incident, an invitation — and a case B (family B); people in every role
the IDOR matrix asks about. Every text the world holds can carry a canary
(`text(...)`), so the canary suite reuses the very same world.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db import transaction

# The staff's password, set only where a suite needs to re-authenticate (idor).
PASSWORD = "proof-" + uuid.uuid4().hex


@dataclass
class World:
    org_x: object
    org_y: object
    case_a: object
    case_b: object
    code_a: str
    code_b: str
    members: dict[str, object]  # actor name -> Membership
    kwargs: dict[str, str]  # URL kwarg -> value naming org X's / case A's objects
    # Strings that only someone allowed to see case A may ever receive.
    secrets: list[str] = field(default_factory=list)


def make_user(*, mfa: bool = True):
    """A staff account with an unusable password (actors are signed in with force_login)."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.contrib.auth import get_user_model

    email = f"proof-{uuid.uuid4().hex[:12]}@example.org"
    user = get_user_model().objects.create_user(username=email.split("@")[0], email=email)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    if mfa:
        TOTP.activate(user, generate_totp_secret())
    return user


def member(org, role: str, *, mfa: bool = True):
    from support import members
    from vault.audit import Actor

    return members.add_member(
        organisation=org, user=make_user(mfa=mfa), role=role, actor=Actor.system("proof")
    )


def answers(canary: str = "") -> dict:
    """A full report as the wizard's forms take it, with `canary` in every free text."""
    c = canary
    return {
        "who": {
            "filer_role": "parent",
            "age_band": "14_15",
            "contact_preference": "email",
            "contact": f"madre.{c.lower() or 'x'}@example.org",
        },
        "what": {
            "categories": ["fake_images", "shared_group", "sextortion"],
            "narrative": f"Circula una foto falsa {c}",
        },
        "where": {
            "urls": [f"https://www.instagram.com/p/Demo{c}/"],
            "groups": [f"https://chat.whatsapp.com/Grupo{c}"],
        },
        "urgent": {"payments": ["ES9121000418450200051332"]},
        "involved": {
            "handles": [{"platform": "telegram", "value": f"sospechoso_{c.lower()}"}],
            "phones": ["+34612345678"],
        },
        "consent": {"takedown": True, "police": True, "contact": True},
    }


@transaction.atomic
def build(canary: str = "") -> World:
    from police import services as police_services
    from reporting.forms import submission
    from support import casework, intake
    from support import members as member_services
    from support.members import invitation_token_context, invite_member
    from support.models import ContextFile, Role
    from takedowns import services as takedowns
    from takedowns.models import Basis, Route
    from vault import crypto, keys
    from vault import services as vault_services
    from vault.audit import Actor

    system = Actor.system("proof")
    org_x = member_services.create_organisation(name="Grupo X", actor=system)
    org_y = member_services.create_organisation(name="Grupo Y", actor=system)
    people = {
        "coordinator_x": member(org_x, Role.COORDINATOR),
        "coordinator_y": member(org_y, Role.COORDINATOR),
        "caseworker_assigned": member(org_x, Role.CASEWORKER),
        "caseworker_unassigned": member(org_x, Role.CASEWORKER),
        "liaison_referred": member(org_x, Role.POLICE_LIAISON),
        "liaison_other_unit": member(org_x, Role.POLICE_LIAISON),
        "org_admin_x": member(org_x, Role.ORG_ADMIN),
        "staff_without_mfa": member(org_x, Role.COORDINATOR, mfa=False),
    }
    coordinator = people["coordinator_x"]

    case_a, code_a = intake.submit_report(
        organisation=org_x, incident=None, submission=submission(answers(canary))
    )
    case_b, code_b = intake.submit_report(
        organisation=org_x, incident=None, submission=submission(answers(canary))
    )
    blob = vault_services.store_stream(
        [f"captura del chat {canary}".encode() * 200],
        actor=Actor.family(case_a.uuid),
        filename=f"captura_{canary or 'chat'}.png",
        content_type="image/png",
        organisation_id=org_x.uuid,
    )
    context_file = ContextFile.objects.create(case=case_a, blob=blob)
    case_a = casework.assign_case(
        actor=coordinator, case=case_a, assignee=people["caseworker_assigned"]
    )
    casework.add_note(actor=coordinator, case=case_a, body=f"Nota {canary}", shared=False)
    casework.reply_to_family(actor=coordinator, case=case_a, body=f"Mensaje {canary}")
    incident = casework.create_incident(actor=coordinator, title=f"Incidente {canary}")
    task = casework.add_task(actor=coordinator, case=case_a, title=f"Llamar {canary}", due=None)

    takedowns.save_settings(
        acting=coordinator,
        data={"inbox_email": "casos@grupo.example", "notifier_name": "Grupo X"},
    )
    takedowns.save_case_facts(
        acting=coordinator,
        case=case_a,
        data={
            "signature": f"/s/ Ana {canary}",
            "circumstances": f"Compañeros de clase {canary}",
            "means_of_spread": f"Un canal de Telegram {canary}",
            "prior_actions_answered": True,
            "prior_actions": f"Denuncia {canary}",
            "vulnerabilities": ["harassment"],
        },
    )
    location = next(loc for loc in case_a.locations.all() if "instagram" in loc.value)
    notice = takedowns.prepare_notice(
        acting=coordinator,
        case=case_a,
        route=Route.objects.get(
            platform__slug="instagram", basis=Basis.TAKE_IT_DOWN, organisation=None
        ),
        locations=[location],
    )

    units = []
    for name, liaison in (("UCIC Madrid", "liaison_referred"), ("EMUME", "liaison_other_unit")):
        _private, public = crypto.generate_recipient_keypair()
        unit = police_services.create_unit(acting=coordinator, name=name, public_key=public)
        police_services.assign_liaison(acting=coordinator, liaison=people[liaison], unit=unit)
        units.append(unit)
    referral = police_services.refer_case(
        acting=coordinator, case=case_a, unit=units[0], basis="consent"
    )
    export = police_services.start_export(
        acting=people["liaison_referred"],
        referral=referral,
        purpose="investigation",
        purpose_detail=f"Diligencias {canary}",
    ).export

    invitation = invite_member(
        actor=people["org_admin_x"], email=f"nuevo-{uuid.uuid4().hex[:8]}@example.org",
        role=Role.CASEWORKER,
    )  # fmt: skip
    token = keys.decrypt_text(
        invitation.token_sealed, purpose="field", context=invitation_token_context(invitation)
    )
    kwargs = {
        "org": str(org_x.uuid),
        "case": str(case_a.uuid),
        "file": str(context_file.uuid),
        "member": str(people["caseworker_unassigned"].uuid),
        "invitation": str(invitation.uuid),
        "token": token,
        "incident": str(incident.uuid),
        "code": incident.intake_code,
        "fmt": "png",
        "notice": str(notice.uuid),
        "referral": str(referral.uuid),
        "export": str(export.uuid),
        # Routes whose last segment picks one of several views of the same object.
        "task": str(task.uuid),
        "panel": "takedowns",
        "action": "status",
        "step": "who",
        "kind": "takedown",
    }
    return World(
        org_x=org_x,
        org_y=org_y,
        case_a=case_a,
        case_b=case_b,
        code_a=code_a,
        code_b=code_b,
        members=people,
        kwargs=kwargs,
        secrets=[case_a.reference],
    )
