"""A referred Almendralejo-like case with everything a bundle holds, and its bundle."""

from __future__ import annotations

import datetime
import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from support import casework
from support.models import ContextFile, Role
from support.services import submit_report
from tests.factories import make_member
from vault import services as vault_services
from vault.audit import Actor

# Bytes standing for the fake image: only its fingerprints may ever reach Amparo.
FAKE_IMAGE = b"\x89PNG fake image bytes that must never be in a bundle " * 50


def _png(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "PNG")
    return out.getvalue()


def build_export_case(org_x):
    """A case with two context files, a fingerprint, a URL, identifiers, consents, a referral."""
    coordinator = make_member(org_x, Role.COORDINATOR)
    case, _ = submit_report(
        organisation=org_x,
        incident=None,
        answers={
            "who": {"filer_role": "parent", "age_band": "14_15", "contact_preference": "none"},
            "what": {
                "categories": ["fake_images", "shared_group", "sextortion"],
                "narrative": "Compartieron en el grupo una imagen falsa — y pidieron dinero.",
            },
            "where": {"urls": ["https://t.me/examplechannel/123"]},
            "urgent": {"payments": ["ES9121000418450200051332"]},
            "involved": {"handles": [{"value": "@compañero_12", "platform": "telegram"}]},
            "evidence": {
                "fingerprints": [
                    {
                        "sha256": hashlib.sha256(FAKE_IMAGE).hexdigest(),
                        "md5": hashlib.md5(FAKE_IMAGE, usedforsecurity=False).hexdigest(),
                        "pdq": "f" * 64,
                        "pdq_quality": 90,
                        "pdq_version": "pdq-js/1",
                        "size": len(FAKE_IMAGE),
                    }
                ]
            },
            "consent": {"police": True, "takedown": True},
        },
    )
    for name, colour in (("captura-chat.png", "red"), ("perfil del acosador.png", "blue")):
        blob = vault_services.store_stream(
            [_png(colour)],
            actor=Actor.family(case.uuid),
            filename=name,
            content_type="image/png",
            organisation_id=org_x.uuid,
        )
        ContextFile.objects.create(case=case, blob=blob)
    casework.log_referral(
        acting=coordinator,
        case=case,
        to="guardia_civil",
        on=datetime.date(2026, 11, 30),
        reference="ATESTADO 1234/2026",
    )
    casework.add_note(acting=coordinator, case=case, body="llamada con la madre", shared=False)
    return case, coordinator


@pytest.fixture
def export_case(org_x):
    return build_export_case(org_x)


@pytest.fixture
def bundle(export_case, tmp_path) -> tuple[Path, object]:
    from police.bundle import write_bundle

    case, coordinator = export_case
    out = tmp_path / "bundle"
    out.mkdir()
    result = write_bundle(
        case=case, out_dir=out, purpose="Diligencias 1234/2026", requested_by=coordinator
    )
    return out, result
