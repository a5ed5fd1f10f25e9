"""Police personas and data: units with their keys, liaisons of each unit, referred
and unreferred cases, and a small stand-in for the case-file writer."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from django.urls import reverse
from PIL import Image

from police import bundle_api, services
from reporting.forms import submission
from support import casework, events, intake
from support.models import ContextFile, Role
from tests.factories import PASSWORD, client_for, make_member
from vault import crypto
from vault import services as vault_services
from vault.audit import Actor

# Bytes of the "fake image": only its fingerprints ever reach Amparo.
FAKE_IMAGE = b"\x89PNG fake image bytes that must never travel " * 50
FAKE_IMAGE_SHA256 = hashlib.sha256(FAKE_IMAGE).hexdigest()
CONTEXT_NAME = "captura_chat_@sospechoso_demo.png"
CONTEXT_BYTES = b"CONTEXT-CANARY screenshot of the group chat " * 2000


def new_unit(coordinator, name="UCIC Madrid"):
    _private, public = crypto.generate_recipient_keypair()
    return services.create_unit(acting=coordinator, name=name, public_key=public)


def new_liaison(org, unit, coordinator):
    liaison = make_member(org, Role.POLICE_LIAISON)
    services.assign_liaison(acting=coordinator, liaison=liaison, unit=unit)
    return liaison


def new_case(org, *, police_consent=True):
    answers = {
        "who": {"filer_role": "parent", "age_band": "14_15", "contact_preference": "in_app"},
        "what": {"categories": ["fake_images"], "narrative": "Circula una foto falsa."},
        "where": {"urls": ["https://t.me/demo_canal/1"]},
        "involved": {"handles": [{"platform": "telegram", "value": "sospechoso_demo"}]},
        "evidence": {
            "fingerprints": [
                {
                    "sha256": FAKE_IMAGE_SHA256,
                    "md5": hashlib.md5(FAKE_IMAGE).hexdigest(),  # noqa: S324 - matching aid
                    "pdq": "e" * 64,
                    "pdq_quality": 90,
                    "pdq_version": "pdq-1",
                    "media": "image",
                    "size": len(FAKE_IMAGE),
                }
            ]
        },
        "consent": {"takedown": True, "police": police_consent},
    }
    case, _code = intake.submit_report(
        organisation=org, incident=None, submission=submission(answers)
    )
    blob = vault_services.store_stream(
        [CONTEXT_BYTES],
        actor=Actor.family(case.uuid),
        filename=CONTEXT_NAME,
        content_type="image/png",
    )
    ContextFile.objects.create(case=case, blob=blob)
    return case


@pytest.fixture
def unit_a(coordinator):
    return new_unit(coordinator, "UCIC Madrid")


@pytest.fixture
def unit_b(coordinator):
    return new_unit(coordinator, "EMUME Badajoz")


@pytest.fixture
def liaison_a(org_x, unit_a, coordinator):
    return new_liaison(org_x, unit_a, coordinator)


@pytest.fixture
def liaison_b(org_x, unit_b, coordinator):
    return new_liaison(org_x, unit_b, coordinator)


@pytest.fixture
def coordinator_y(org_y):
    return make_member(org_y, Role.COORDINATOR)


@pytest.fixture
def liaison_y(org_y, coordinator_y):
    """A liaison of another organisation, with a unit of its own."""
    return new_liaison(org_y, new_unit(coordinator_y, "UCIC Sevilla"), coordinator_y)


@pytest.fixture
def case(org_x):
    return new_case(org_x)


@pytest.fixture
def referral(case, unit_a, coordinator):
    return services.refer_case(acting=coordinator, case=case, unit=unit_a, basis="consent")


@pytest.fixture
def export_root(settings, tmp_path):
    settings.POLICE_EXPORT_ROOT = tmp_path / "exports"
    return settings.POLICE_EXPORT_ROOT


def _put(target, rel: str, chunks) -> str:
    sha, size = hashlib.sha256(), 0
    handle = target.open(rel)
    for chunk in chunks:
        handle.write_batch([chunk])
        sha.update(chunk)
        size += len(chunk)
    handle.close()
    target.finished(rel, sha.hexdigest(), size)
    return sha.hexdigest()


def fake_write_bundle(*, case, target, purpose, requested_by, progress=None):
    """A stand-in for police.bundle.write_bundle: a manifest naming the real file, the
    context file decrypted from the vault, and a custody file, with progress calls."""
    rows = []
    actor = events.staff_actor(requested_by)
    context_files = list(case.files.select_related("blob"))
    for done, context_file in enumerate(context_files, start=1):
        stream = vault_services.open_blob(context_file.blob, actor=actor, purpose="open")
        rel = f"context/{context_file.blob.filename()}"
        _put(target, rel, stream)
        stream.close()
        rows.append({"file": rel, "sha256": context_file.blob.sha256})
        if progress:
            progress(done, len(context_files))
    manifest = json.dumps({"case": case.reference, "purpose": purpose, "items": rows}).encode()
    _put(target, "manifest.json", [manifest])
    _put(target, "custody.jsonl", [b"{}\n"])
    return bundle_api.BundleResult(
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        files=[Path("manifest.json"), Path("custody.jsonl"), *(Path(r["file"]) for r in rows)],
        exhibit_count=len(rows),
    )


@pytest.fixture
def fake_bundle(monkeypatch, export_root):
    monkeypatch.setattr(bundle_api, "write_bundle", fake_write_bundle)
    return fake_write_bundle


def reauthenticated(membership):
    client = client_for(membership)
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def started_secrets(html: str) -> tuple[str, str]:
    """(passphrase, token) from the page shown once after starting an export."""
    passphrase = re.search(r"<code data-passphrase>([A-Z0-9-]+)</code>", html).group(1)
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    return passphrase, token


# --- The case file (police/bundle.py) --------------------------------------------


def _png(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "PNG")
    return out.getvalue()


def build_export_case(org_x):
    """A case with two context files, a fingerprint, a URL, identifiers, consents, a referral."""
    coordinator = make_member(org_x, Role.COORDINATOR)
    case, _ = intake.submit_report(
        organisation=org_x,
        incident=None,
        submission=submission(
            {
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
            }
        ),
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
        actor=coordinator,
        case=case,
        to="guardia_civil",
        on=datetime.date(2026, 11, 30),
        reference="ATESTADO 1234/2026",
    )
    casework.add_note(actor=coordinator, case=case, body="llamada con la madre", shared=False)
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
