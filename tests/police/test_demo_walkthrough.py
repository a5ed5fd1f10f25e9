"""The `make run` police walk-through, end to end through the Django test client.

The demo seed (support's `seed_demo`, which police/demo.py extends) gives a police
unit with a key, a liaison with TOTP and an Almendralejo case with the family's police
consent. The coordinator refers it; the liaison signs in with TOTP, sees only that
case, exports it, downloads the ZIP once, extracts it with the passphrase into another
folder and the stand-alone verifier says every check passed; one flipped byte in any
file makes it fail, naming the file and why.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pyzipper
from allauth.mfa.totp.internal.auth import hotp_value, yield_hotp_counters_from_time
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from police import demo as police_demo
from police.bundle import SEALED_PACKAGE
from police.management.commands.verify_bundle import TOOL
from police.models import Export, PoliceUnit
from support.demo import DEMO_ORG, DEMO_PASSWORD, demo_totp_secret
from support.models import Case, Organisation
from tests.police.conftest import started_secrets
from tests.police.test_exports import body, download, run_outbox

pytestmark = pytest.mark.django_db

COORDINATOR = "coordinadora@demo.amparo.test"
LIAISON = police_demo.DEMO_LIAISON


@pytest.fixture
def demo(settings, tmp_path):
    settings.DEBUG = True  # seed_demo refuses otherwise
    settings.VAR_DIR = tmp_path / "var"  # the demo unit's private key goes under it
    settings.POLICE_EXPORT_ROOT = tmp_path / "exports"
    call_command("seed_demo", stdout=io.StringIO())
    settings.DEBUG = False
    org = Organisation.objects.get(name=DEMO_ORG)
    return org, PoliceUnit.objects.get(organisation=org, name=police_demo.DEMO_UNIT)


def sign_in(email: str) -> Client:
    """Password, then the TOTP code from the demo secret the README lists."""
    client = Client()
    response = client.post(reverse("account_login"), {"login": email, "password": DEMO_PASSWORD})
    assert response.url == reverse("mfa_authenticate"), response.status_code
    code = f"{hotp_value(demo_totp_secret(email), next(yield_hotp_counters_from_time())):06d}"
    response = client.post(reverse("mfa_authenticate"), {"code": code})
    assert response.status_code == 302, response.content.decode()[:500]
    return client


def run_verifier(folder: Path, key: Path) -> subprocess.CompletedProcess:
    """The copied tool, alone, in a clean interpreter (`python -I`), as the unit runs it."""
    tool = folder.parent / "verify_bundle.py"
    if not tool.exists():
        shutil.copy(TOOL, tool)
    return subprocess.run(
        [sys.executable, "-I", str(tool), str(folder), "--public-key", str(key)],
        capture_output=True,
        text=True,
        check=False,
    )


def extract(data: bytes, passphrase: str, into: Path) -> None:
    into.mkdir(parents=True)
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        archive.setpassword(passphrase.encode())
        archive.extractall(into)


def test_the_demo_walkthrough_from_referral_to_a_verified_case_file(demo, tmp_path):
    org, unit = demo
    case = police_demo.demo_police_case(org)
    assert case is not None and "Almendralejo" in case.incident.title
    others = Case.objects.filter(organisation=org).exclude(pk=case.pk)
    assert others.exists()

    # 1. The coordinator refers the demo case to the demo unit, on the family's consent.
    coordinator = sign_in(COORDINATOR)
    response = coordinator.post(
        reverse("support:police-case:refer", args=[org.uuid, case.uuid]),
        {"police-unit": str(unit.uuid), "police-basis": "consent"},
    )
    assert response.status_code == 302

    # 2. The liaison signs in with TOTP and sees that case, and no other.
    liaison = sign_in(LIAISON)
    listing = liaison.get(reverse("police:cases", args=[org.uuid])).content.decode()
    assert case.reference in listing
    for other in others:
        assert other.reference not in listing
        url = reverse("police:case", args=[org.uuid, other.uuid])
        assert liaison.get(url).status_code == 404

    # 3. Re-authentication, a purpose, the passphrase shown once; the worker builds it.
    assert (
        liaison.post(reverse("account_reauthenticate"), {"password": DEMO_PASSWORD}).status_code
        == 302
    )
    response = liaison.post(
        reverse("police:export", args=[org.uuid, case.uuid]),
        {"purpose": "investigation", "purpose_detail": "Diligencias 77/2026"},
    )
    passphrase, token = started_secrets(response.content.decode())
    run_outbox()
    export = Export.objects.get(case=case)
    assert export.state == "ready", export.error_code

    # 4. One download; the second is refused.
    data = body(download(liaison, export, token))
    assert download(liaison, export, token).status_code == 410

    # 5. Extracted with the passphrase into another folder, the tool says every check passed.
    key = tmp_path / "amparo-signing.pem"
    key.write_text(call_command_output("signing_public_key"))
    received = tmp_path / "received" / "bundle"
    extract(data, passphrase, received)
    by_shell = tmp_path / "by-shell"
    shutil.copytree(received, by_shell)
    result = run_verifier(received, key)
    assert result.returncode == 0, result.stdout
    assert "Every check passed." in result.stdout
    assert "restored the names of" in result.stdout
    assert (received / "files").is_dir() and (received / SEALED_PACKAGE).is_file()

    # The README's recipe without Python: names back from E000, then sha256sum -c.
    recipe = (
        "tail -n +2 E000 | while IFS=, read -r entry path size sha; do\n"
        '    mkdir -p "$(dirname "$path")" && mv "$entry" "$path"; done && rm E000\n'
        "sha256sum -c SHA256SUMS"
    )
    shell = subprocess.run(
        ["bash", "-c", recipe], cwd=by_shell, capture_output=True, text=True, check=False
    )
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert "manifest.json: OK" in shell.stdout and "FAILED" not in shell.stdout

    # The sealed original opens with the unit's private key (kept under var/dev-secrets/).
    opened = tmp_path / "opened"
    tool = received.parent / "verify_bundle.py"
    result = subprocess.run(
        [sys.executable, "-I", str(tool), str(received), "--public-key", str(key),
         "--open-sealed", str(police_demo.demo_private_key_path()), "--out", str(opened)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    [original] = list(opened.iterdir())
    assert original.read_bytes().startswith(b"\x89PNG")

    # 6. One flipped byte in any file: the tool fails and names the file.
    files = sorted(p.relative_to(received) for p in received.rglob("*") if p.is_file())
    assert len(files) >= 15
    for rel in files:
        copy = tmp_path / "tampered" / rel.as_posix().replace("/", "_") / "bundle"
        shutil.copytree(received, copy)
        target = copy / rel
        raw = bytearray(target.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        target.write_bytes(bytes(raw))
        result = run_verifier(copy, key)
        assert result.returncode == 1, (rel, result.stdout)
        failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
        assert failures, (rel, result.stdout)
        assert any(rel.name in line for line in failures), (rel, failures)


def call_command_output(name: str) -> str:
    """What `python manage.py signing_public_key > amparo-signing.pem` writes (the README)."""
    out = io.StringIO()
    call_command(name, stdout=out)
    return out.getvalue()
