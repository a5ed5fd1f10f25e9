"""Demo police unit for `make run` (development only; idempotent).

Connected to support's `demo_seeded` signal: a unit with a fresh X25519 key pair
(its private key under var/dev-secrets/, as a real unit would keep it offline),
and the demo police liaison linked to it.
"""

from __future__ import annotations

import os

from django.conf import settings

from vault import crypto

DEMO_UNIT = "Policía Nacional — UCIC (demo)"
DEMO_UNIT_CONTACT = "Unidad Central de Ciberdelincuencia, mesa de guardia (demo): 900 000 000"
DEMO_LIAISON = "enlace.policial@demo.amparo.test"


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
