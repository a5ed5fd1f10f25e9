"""No decrypted byte of a case file is ever on disk: not while the export is built, not
while the ZIP waits for its one download, not after."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from django.conf import settings

from police import exports, services
from police.models import Export
from reporting.forms import submission
from support import intake
from support.models import ContextFile
from tests.police.conftest import reauthenticated, started_secrets
from tests.police.test_exports import body, download, export_url, open_zip, run_outbox
from vault import services as vault_services
from vault.audit import Actor

pytestmark = pytest.mark.django_db

CANARIES = [b"CANARY-CONTEXT-5d1f", b"CANARY-NARRATIVE-5d1f", b"canary_suspect_5d1f"]


def scan(roots: list[Path]) -> list[str]:
    """Files under ``roots`` that hold any canary."""
    found = []
    for root in roots:
        for path in Path(root).rglob("*") if Path(root).exists() else []:
            if path.is_file():
                data = path.read_bytes()
                found += [f"{path}: {c.decode()}" for c in CANARIES if c in data]
    return found


@pytest.fixture
def canary_case(org_x, coordinator, unit_a, liaison_a, monkeypatch, tmp_path):
    case, _code = intake.submit_report(
        organisation=org_x,
        incident=None,
        submission=submission(
            {
                "who": {"filer_role": "parent", "age_band": "14_15", "contact_preference": "none"},
                "what": {
                    "categories": ["fake_images"],
                    "narrative": CANARIES[1].decode() + " circula una foto falsa",
                },
                "involved": {"handles": [{"platform": "telegram", "value": CANARIES[2].decode()}]},
                "consent": {"police": True},
            }
        ),
    )
    # 6 MiB of context file: several progress calls happen while it streams.
    blob = vault_services.store_stream(
        [CANARIES[0] + b" chat screenshot " * (6 * 1024 * 1024 // 17)],
        actor=Actor.family(case.uuid),
        filename="chat.png",
        content_type="image/png",
        organisation_id=org_x.uuid,
    )
    ContextFile.objects.create(case=case, blob=blob)
    services.refer_case(acting=coordinator, case=case, unit=unit_a, basis="consent")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    return case, temp


def test_no_canary_reaches_the_disk_during_or_after_an_export(
    canary_case, liaison_a, export_root, monkeypatch
):
    case, temp = canary_case
    roots = [settings.EVIDENCE_ROOT, export_root, temp]
    if getattr(settings, "MEDIA_ROOT", ""):
        roots.append(Path(settings.MEDIA_ROOT))
    scans = []

    def scanning_progress(export, percent):
        scans.append(scan(roots))
        real_set_progress(export, percent)

    real_set_progress = exports.set_progress
    monkeypatch.setattr(exports, "set_progress", scanning_progress)
    real_index = exports.ZipTarget.write_index

    def scanning_index(self):
        scans.append(scan(roots))  # every file is written, the ZIP not yet closed
        real_index(self)

    monkeypatch.setattr(exports.ZipTarget, "write_index", scanning_index)

    client = reauthenticated(liaison_a)
    response = client.post(export_url(case), {"purpose": "investigation"})
    passphrase, token = started_secrets(response.content.decode())
    run_outbox()
    export = Export.objects.get(case=case)
    assert export.state == "ready", export.error_code
    assert len(scans) >= 3  # the scans did run mid-build
    assert all(found == [] for found in scans), scans
    assert scan(roots) == []  # the ZIP waiting for its download
    entries = open_zip(body(download(client, export, token)), passphrase)
    # The canaries are in the case file (so the scan looked for the right bytes)...
    joined = b"".join(entries.values())
    assert CANARIES[0] in joined and CANARIES[2] in joined
    # ...and nowhere on disk once it is downloaded.
    assert scan(roots) == []
