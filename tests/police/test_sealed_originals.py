"""Sealed originals travel in the case file as a package only the unit's key opens."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from police import services
from police.bundle import SEALED_PACKAGE, write_bundle
from police.management.commands.verify_bundle import TOOL, load_verifier
from support.models import ContextFile
from tests.police.conftest import build_export_case
from vault import crypto
from vault import services as vault_services
from vault.audit import Actor
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db
verifier = load_verifier()

ORIGINAL = b"SEALED-ORIGINAL-CANARY " * 9000  # three AMPV1 segments and a bit


def unit_with_key(coordinator, name):
    private, public = crypto.generate_recipient_keypair()
    unit = services.create_unit(acting=coordinator, name=name, public_key=public)
    return unit, crypto.private_key_to_pem(private)


@pytest.fixture
def sealed_bundle(org_x, tmp_path):
    case, coordinator = build_export_case(org_x)
    unit, pem = unit_with_key(coordinator, "UCIC Madrid")
    other_unit, other_pem = unit_with_key(coordinator, "EMUME Badajoz")
    for recipient, data, name in (
        (unit.recipient_key, ORIGINAL, "original.jpg"),
        (other_unit.recipient_key, b"for the other unit " * 10, "otra.jpg"),
    ):
        blob = vault_services.seal_blob_for(
            recipient,
            [data],
            actor=Actor.family(case.uuid),
            filename=name,
            content_type="image/jpeg",
            organisation_id=org_x.uuid,
        )
        ContextFile.objects.create(case=case, blob=blob)
    out = tmp_path / "bundle"
    out.mkdir()
    write_bundle(case=case, out_dir=out, purpose="Diligencias", requested_by=coordinator, unit=unit)
    return out, pem, other_pem


def test_the_package_is_in_the_manifest_by_hash_and_the_bundle_verifies(sealed_bundle):
    out, _pem, _other = sealed_bundle
    manifest = json.loads((out / "manifest.json").read_bytes())
    package = manifest["sealed_originals"]
    assert package["path"] == SEALED_PACKAGE
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert listed[SEALED_PACKAGE] == package["sha256"]
    assert package["exhibits"] == ["E003"]
    statuses = {r["exhibit"]: r["status"] for r in manifest["exhibits"]}
    assert statuses["E003"].startswith("sealed original: in sealed/originals.ampsealed")
    assert statuses["E004"] == "sealed original for another recipient: not in this file"
    # The server never had the plaintext: it is nowhere in the case file.
    for path in out.rglob("*"):
        if path.is_file():
            assert b"SEALED-ORIGINAL-CANARY" not in path.read_bytes(), path
    assert verifier.verify(out, None).ok
    assert AuditEvent.objects.filter(event="blob.exported_sealed").count() == 1


def test_the_unit_key_opens_it_byte_for_byte(sealed_bundle, tmp_path):
    out, pem, _other = sealed_bundle
    opened = verifier.open_sealed(out / SEALED_PACKAGE, pem, tmp_path / "opened")
    [(exhibit, path, digest)] = opened
    assert exhibit == "E003"
    assert path.name == "E003.jpg"
    assert path.read_bytes() == ORIGINAL
    assert digest == crypto.hashlib.sha256(ORIGINAL).hexdigest()


def test_another_units_key_is_refused_and_leaves_nothing(sealed_bundle, tmp_path):
    out, _pem, other_pem = sealed_bundle
    with pytest.raises(verifier.SealedError, match="another unit's key"):
        verifier.open_sealed(out / SEALED_PACKAGE, other_pem, tmp_path / "opened")
    assert list((tmp_path / "opened").iterdir()) == []


def test_a_flipped_byte_in_the_package_is_detected(sealed_bundle, tmp_path):
    out, pem, _other = sealed_bundle
    package = out / SEALED_PACKAGE
    data = bytearray(package.read_bytes())
    data[-70000] ^= 0x01  # inside the ciphertext of the original
    package.write_bytes(bytes(data))
    report = verifier.verify(out, None)
    assert not report.ok
    assert any(SEALED_PACKAGE in p for p in report.problems), report.problems
    with pytest.raises(verifier.SealedError, match="does not authenticate"):
        verifier.open_sealed(package, pem, tmp_path / "opened")
    assert list((tmp_path / "opened").iterdir()) == []


def test_a_cut_package_is_detected(sealed_bundle, tmp_path):
    out, pem, _other = sealed_bundle
    package = out / SEALED_PACKAGE
    package.write_bytes(package.read_bytes()[:-65552])
    with pytest.raises(verifier.SealedError):
        verifier.open_sealed(package, pem, tmp_path / "opened")
    assert list((tmp_path / "opened").iterdir()) == []


def test_the_command_line_verifies_then_opens(sealed_bundle, tmp_path):
    out, pem, _other = sealed_bundle
    key = tmp_path / "unit.pem"
    key.write_bytes(pem)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    target = tmp_path / "originals"
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            str(TOOL),
            str(copy),
            "--open-sealed",
            str(key),
            "--out",
            str(target),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sealed original E003 opened" in result.stdout
    assert (target / "E003.jpg").read_bytes() == ORIGINAL
