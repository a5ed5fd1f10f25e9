"""Demo police unit for `make run` (development only; idempotent).

Connected to support's `demo_seeded` signal: a unit with a fresh X25519 key pair
(its private key under var/dev-secrets/, as a real unit would keep it offline),
the demo police liaison linked to it, and, on the demo case the family agreed to
refer to the police, two files to export: a screenshot of the group chat (a context
file) and an "original" sealed to the unit's key, which Amparo cannot open — so the
walk-through shows both (README, "Police liaisons").
"""

from __future__ import annotations

import os

from django.conf import settings

from vault import crypto

DEMO_UNIT = "Policía Nacional — UCIC (demo)"
DEMO_UNIT_CONTACT = "Unidad Central de Ciberdelincuencia, mesa de guardia (demo): 900 000 000"
DEMO_LIAISON = "enlace.policial@demo.amparo.test"


DEMO_CONTEXT_NAME = "captura-grupo-clase.png"
DEMO_SEALED_NAME = "original-recibido.png"


def demo_private_key_path():
    return settings.VAR_DIR / "dev-secrets" / "police-unit-demo.pem"


def seed_police_demo(sender=None, *, organisation, coordinator, **kwargs) -> None:
    from support.models import Membership, Role

    from . import services
    from .models import LiaisonAssignment, PoliceUnit

    unit = PoliceUnit.objects.filter(organisation=organisation, name=DEMO_UNIT).first()
    if unit is None:
        private, public = crypto.generate_recipient_keypair()
        path = demo_private_key_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # a key file from an older, reset database
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(crypto.private_key_to_pem(private))
        unit = services.create_unit(
            acting=coordinator, name=DEMO_UNIT, contact=DEMO_UNIT_CONTACT, public_key=public
        )
    liaison = Membership.objects.filter(
        organisation=organisation, user__email=DEMO_LIAISON, role=Role.POLICE_LIAISON
    ).first()
    if liaison is not None and not LiaisonAssignment.objects.filter(membership=liaison).exists():
        services.assign_liaison(acting=coordinator, liaison=liaison, unit=unit)
    case = demo_police_case(organisation)
    if case is not None and not case.files.exists():
        _seed_case_files(case, unit)


def demo_police_case(organisation):
    """The demo case whose family agreed to a police referral (the first Almendralejo one)."""
    from support.models import Case

    return (
        Case.objects.filter(
            organisation=organisation, consents__kind="police", consents__given=True
        )
        .order_by("created_at", "id")
        .first()
    )


def _png(text: str, colour: str) -> bytes:
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 270), colour)
    ImageDraw.Draw(image).text((16, 16), text, fill="white")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _seed_case_files(case, unit) -> None:
    from support.models import ContextFile
    from vault import services as vault_services
    from vault.audit import Actor

    family = Actor.family(case.uuid)
    org = case.organisation.uuid
    screenshot = vault_services.store_stream(
        [_png("Grupo 3ºB (demo): captura del mensaje", "#3b4a6b")],
        actor=family,
        filename=DEMO_CONTEXT_NAME,
        content_type="image/png",
        organisation_id=org,
    )
    ContextFile.objects.create(case=case, blob=screenshot, from_family=True)
    sealed = vault_services.seal_blob_for(
        unit.recipient_key,
        [_png("Original sellado para la unidad (demo)", "#6b3b3b")],
        actor=family,
        filename=DEMO_SEALED_NAME,
        content_type="image/png",
        organisation_id=org,
    )
    ContextFile.objects.create(case=case, blob=sealed, from_family=True)
