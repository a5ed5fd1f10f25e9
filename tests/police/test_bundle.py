"""What a police case file holds (police.bundle.write_bundle)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
import pyzipper

from police.aeszip import AESZipWriter
from police.bundle import READ_AHEAD, BundleError, offences_for, write_bundle
from police.exports import INDEX_ENTRY, ZipTarget
from support.models import Case, ContextFile
from takedowns import vics
from tests.police.conftest import FAKE_IMAGE
from vault import services as vault_services
from vault.audit import Actor
from vault.crypto import SEGMENT_SIZE
from vault.models import AuditEvent, Blob

pytestmark = pytest.mark.django_db

EXPECTED_FILES = {
    "SHA256SUMS",
    "SIGNATURE",
    "VERIFY.txt",
    "case.jsonld",
    "cover.pdf",
    "custody/anchors.json",
    "custody/chain.jsonl",
    "custody/custody.csv",
    "files/E001.png",
    "files/E002.png",
    "fingerprints.vics.json",
    "logs/consents.json",
    "logs/referrals.json",
    "logs/takedowns.json",
    "manifest.csv",
    "manifest.json",
    "restricted/suspects.json",
    "signature/manifest.sig",
    "signature/signing-key.pem",
}


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_bytes())


def test_it_writes_every_part_of_the_case_file_and_reports_them(bundle):
    out, result = bundle
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk == EXPECTED_FILES
    assert {p.as_posix() for p in result.files} == EXPECTED_FILES
    assert all(not p.is_absolute() for p in result.files)
    assert (
        result.manifest_sha256 == hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    )
    # two context files, one fingerprint, one URL
    assert result.exhibit_count == 4 == len(manifest(out)["exhibits"])


def test_it_copies_each_context_file_exactly_as_received(bundle, export_case):
    out, _ = bundle
    case, _ = export_case
    rows = {r["exhibit"]: r for r in manifest(out)["exhibits"]}
    for number, context_file in enumerate(case.files.order_by("created_at", "id"), start=1):
        data = (out / f"files/E{number:03d}.png").read_bytes()
        assert hashlib.sha256(data).hexdigest() == context_file.blob.sha256
        assert rows[f"E{number:03d}"]["original_filename"] == context_file.blob.filename()


def test_each_copied_file_is_a_custody_event_of_the_requester(bundle, export_case):
    _, coordinator = export_case
    exported = AuditEvent.objects.filter(event="blob.exported")
    assert exported.count() == 2
    assert {e.actor_ref for e in exported} == {f"user:{coordinator.user_id}"}


def test_the_manifest_has_one_complete_row_per_item(bundle):
    out, _ = bundle
    rows = manifest(out)["exhibits"]
    kinds = [r["kind"] for r in rows]
    assert kinds == ["context_file", "context_file", "fingerprint", "location_url"]
    for row in rows:
        for column in ("exhibit", "kind", "how_obtained", "obtained_at_utc", "obtained_by"):
            assert row[column], (row["exhibit"], column)
    fingerprint = rows[2]
    assert fingerprint["sha256"] == hashlib.sha256(FAKE_IMAGE).hexdigest()
    assert fingerprint["md5_matching_aid"] and fingerprint["pdq_matching_aid"] == "f" * 64
    assert rows[3]["source_url"] == "https://t.me/examplechannel/123"
    assert rows[0]["obtained_at_utc"].endswith("Z")
    table = list(csv.DictReader(io.StringIO((out / "manifest.csv").read_text("utf-8"))))
    assert [r["exhibit"] for r in table] == ["E001", "E002", "E003", "E004"]
    assert table[0]["sha256"] == rows[0]["sha256"]
    assert "md5_matching_aid" in table[0] and "pdq_matching_aid" in table[0]


def test_the_fake_image_is_never_in_a_bundle(bundle):
    out, _ = bundle
    fake_sha = hashlib.sha256(FAKE_IMAGE).hexdigest()
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert FAKE_IMAGE[:64] not in data, path
            assert hashlib.sha256(data).hexdigest() != fake_sha, path


def test_paths_in_the_bundle_are_neutral(bundle, export_case):
    _, result = bundle
    case, _ = export_case
    names = [c.blob.filename() for c in case.files.all()]
    listing = " ".join(p.as_posix() for p in result.files)
    assert not any(Path(name).stem in listing for name in names)


def test_suspect_identifiers_are_only_in_the_restricted_sheet(bundle):
    out, _ = bundle
    sheet = json.loads((out / "restricted/suspects.json").read_bytes())
    assert sheet["RESTRICTED"].startswith("RESTRINGIDO")
    values = {i["value"] for i in sheet["identifiers"]}
    assert "ES9121000418450200051332" in values and any("compañero_12" in v for v in values)
    for rel in ("manifest.json", "manifest.csv", "case.jsonld", "cover.pdf", "custody/chain.jsonl"):
        text = (out / rel).read_bytes()
        assert b"ES9121000418450200051332" not in text, rel
        assert "compañero_12".encode() not in text, rel
    assert manifest(out)["restricted_files"] == ["restricted/suspects.json"]


def test_it_includes_referrals_consents_and_the_takedown_log(export_case, tmp_path):
    from police.bundle import write_bundle
    from tests.takedowns.casedata import make_notice

    case, coordinator = export_case
    notice = make_notice(case, platform="telegram", basis="dsa")
    out = tmp_path / "bundle"
    out.mkdir()
    write_bundle(case=case, out_dir=out, purpose="Diligencias 1/2026", requested_by=coordinator)
    referrals = json.loads((out / "logs/referrals.json").read_bytes())
    assert referrals["support_referrals"][0]["external_reference"] == "ATESTADO 1234/2026"
    consents = json.loads((out / "logs/consents.json").read_bytes())["consents"]
    assert {(c["kind"], c["given"]) for c in consents} == {("police", True), ("takedown", True)}
    takedowns = json.loads((out / "logs/takedowns.json").read_bytes())["takedowns"]
    assert [(row["uuid"], row["basis"], row["state"]) for row in takedowns] == [
        (str(notice.uuid), "dsa", "sent")
    ]


def test_the_custody_log_holds_the_case_events_up_to_a_signed_head(bundle, export_case):
    out, _ = bundle
    case, _ = export_case
    links = [json.loads(x) for x in (out / "custody/chain.jsonl").read_bytes().splitlines()]
    events = [link["event"]["event"] for link in links if "event" in link]
    assert events == [
        "case.submitted",
        "blob.stored",
        "blob.stored",
        "referral.logged",
        "note.added",
    ]
    anchors = json.loads((out / "custody/anchors.json").read_bytes())["anchors"]
    assert anchors[-1]["seq"] == links[-1]["seq"]
    assert anchors[-1]["head_hash"] == links[-1]["hash"]
    # Another case's events are in the chain as hashes only.
    assert all(
        link["event"]["object_id"] in {str(case.uuid), *map(str, _blob_ids(case))}
        for link in links
        if "event" in link
    )


def _blob_ids(case):
    blobs = [c.blob.uuid for c in case.files.all()]
    return blobs + list(Blob.objects.filter(parent__uuid__in=blobs).values_list("uuid", flat=True))


def test_other_cases_events_are_in_the_chain_as_hashes_only(export_case, org_x, tmp_path):
    from tests.police.conftest import build_export_case

    case, coordinator = export_case
    other, _ = build_export_case(org_x)  # its events land after ours in the chain
    from support import casework

    casework.add_note(actor=coordinator, case=case, body="otra nota", shared=False)
    out = tmp_path / "b"
    out.mkdir()
    write_bundle(case=case, out_dir=out, purpose="x", requested_by=coordinator)
    links = [json.loads(x) for x in (out / "custody/chain.jsonl").read_bytes().splitlines()]
    hidden = [link for link in links if "event" not in link]
    assert hidden and all(set(link) == {"seq", "prev_hash", "hash"} for link in hidden)
    assert str(other.uuid).encode() not in (out / "custody/chain.jsonl").read_bytes()


def test_the_case_graph_conforms_to_case_1_5(bundle):
    out, _ = bundle
    validate = shutil.which("case_validate") or str(
        Path(__file__).parents[2] / ".venv/bin/case_validate"
    )
    result = subprocess.run([validate, str(out / "case.jsonld")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Conforms: True" in result.stdout
    graph = json.loads((out / "case.jsonld").read_bytes())["@graph"]
    types = [node["@type"] for node in graph]
    assert types.count("case-investigation:ProvenanceRecord") == 4
    assert types.count("case-investigation:InvestigativeAction") == 5  # 4 intakes + the export


def test_the_vics_set_parses_and_holds_only_hashes(bundle):
    out, _ = bundle
    data = (out / "fingerprints.vics.json").read_bytes()
    entries = vics.parse(data)
    assert [(e.md5, e.sha256, e.pdq) for e in entries] == [
        (
            hashlib.md5(FAKE_IMAGE, usedforsecurity=False).hexdigest(),
            hashlib.sha256(FAKE_IMAGE).hexdigest(),
            "f" * 64,
        )
    ]
    assert json.loads(data)["@odata.context"].endswith("#Cases")


def test_the_cover_sheet_is_a_pdf_with_its_unicode_font_embedded(bundle):
    out, _ = bundle
    pdf = (out / "cover.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert b"DejaVuSans" in pdf


def test_offences_follow_the_case_categories(export_case):
    case, _ = export_case
    articles = [a for a, _ in offences_for(case)]
    assert articles[:2] == ["189.1.d CP", "173.1 CP"]
    assert "197.7 CP" in articles and "243 CP" in articles
    adult = Case(categories=["fake_images", "impersonation"], age_band="18_plus")
    assert [a for a, _ in offences_for(adult)] == ["173.1 CP", "172 ter.5 CP"]


def test_progress_is_reported_up_to_the_total(export_case, tmp_path):
    case, coordinator = export_case
    seen = []
    out = tmp_path / "b"
    out.mkdir()
    write_bundle(
        case=case,
        out_dir=out,
        purpose="x",
        requested_by=coordinator,
        progress=lambda d, t: seen.append((d, t)),
    )
    total = sum(c.blob.size for c in case.files.all())
    assert seen and seen[-1] == (total, total)


def test_it_refuses_a_directory_that_is_not_empty(export_case, tmp_path):
    case, coordinator = export_case
    (tmp_path / "stray").write_text("x")
    with pytest.raises(BundleError) as err:
        write_bundle(case=case, out_dir=tmp_path, purpose="x", requested_by=coordinator)
    assert err.value.code == "not-empty"


def test_it_refuses_a_file_that_no_longer_matches_its_intake_hash(export_case, tmp_path):
    case, coordinator = export_case
    blob = case.files.order_by("created_at", "id").first().blob
    Blob.objects.filter(pk=blob.pk).update(sha256="0" * 64)
    out = tmp_path / "b"
    out.mkdir()
    with pytest.raises(BundleError) as err:
        write_bundle(case=case, out_dir=out, purpose="x", requested_by=coordinator)
    assert err.value.code == "file-hash-mismatch"
    assert not (out / "files/E001.png").exists()


def test_a_sealed_or_destroyed_file_is_listed_but_not_copied(export_case, tmp_path):
    from vault.audit import Actor

    case, coordinator = export_case
    first = case.files.order_by("created_at", "id").first()
    vault_services.destroy_blob(first.blob, actor=Actor.system("tests"))
    out = tmp_path / "b"
    out.mkdir()
    result = write_bundle(case=case, out_dir=out, purpose="x", requested_by=coordinator)
    row = manifest(out)["exhibits"][0]
    assert row["path"] == "" and row["status"].startswith("destroyed")
    assert Path("files/E001.png") not in result.files


def test_an_altered_ciphertext_stops_the_bundle_and_leaves_no_copy(export_case, tmp_path):
    """The altered segment is found on the reading thread; the error still stops the
    writer, and the half-written copy is removed."""
    from vault import storage

    case, coordinator = export_case
    blob = case.files.order_by("created_at", "id").first().blob
    stored = storage.evidence_store()._path(blob.storage_key)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))
    out = tmp_path / "b"
    out.mkdir()
    with pytest.raises(BundleError) as err:
        write_bundle(case=case, out_dir=out, purpose="x", requested_by=coordinator)
    assert err.value.code == "file-integrity"
    assert not (out / "files/E001.png").exists()


def _add_file(case, data: bytes, name: str):
    blob = vault_services.store_stream(
        [data],
        actor=Actor.family(case.uuid),
        filename=name,
        content_type="application/octet-stream",
        organisation_id=case.organisation.uuid,
    )
    ContextFile.objects.create(case=case, blob=blob)
    return blob


def test_files_of_several_read_ahead_buffers_reach_the_zip_byte_exact(export_case):
    """Context files are decrypted into reused buffers, and the ZIP encrypts from a
    pool of reused buffers: a longer file (three buffers, the last one partial) and a
    shorter one after it come out exact, with nothing of the first in the second."""
    case, coordinator = export_case
    longer = os.urandom(2 * READ_AHEAD + SEGMENT_SIZE + 777)
    shorter = os.urandom(SEGMENT_SIZE + 5)
    _add_file(case, longer, "larga.bin")
    _add_file(case, shorter, "corta.bin")
    out = io.BytesIO()
    with AESZipWriter(out, "ABCD-EFGH-2345") as archive:
        target = ZipTarget(archive)
        write_bundle(case=case, target=target, purpose="x", requested_by=coordinator)
        target.write_index()
    data = out.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as plain:  # the standard library reads the layout
        sizes = {info.filename: info.file_size for info in plain.infolist()}
    with pyzipper.AESZipFile(io.BytesIO(data)) as archive:
        archive.setpassword(b"ABCD-EFGH-2345")
        assert archive.testzip() is None
        rows = list(csv.DictReader(io.StringIO(archive.read(INDEX_ENTRY).decode())))
        content = {row["path"]: archive.read(row["entry"]) for row in rows}
        entries = {row["path"]: row["entry"] for row in rows}
    assert content["files/E003.bin"] == longer
    assert content["files/E004.bin"] == shorter
    assert sizes[entries["files/E004.bin"]] == len(shorter)
    exhibits = {r["path"]: r for r in json.loads(content["manifest.json"])["exhibits"]}
    assert exhibits["files/E004.bin"]["sha256"] == hashlib.sha256(shorter).hexdigest()


def test_a_segment_altered_deep_in_a_large_file_stops_the_bundle(export_case, tmp_path):
    """Found by the reader thread after several buffers were written: the error
    still reaches the writer, nothing hangs, and the partial copy is removed."""
    from vault import storage

    case, coordinator = export_case
    blob = _add_file(case, os.urandom(3 * READ_AHEAD + 99), "larga.bin")
    stored = storage.evidence_store()._path(blob.storage_key)
    data = bytearray(stored.read_bytes())
    data[-(READ_AHEAD // 2)] ^= 0x01  # in the fourth and last buffer
    stored.write_bytes(bytes(data))
    out = tmp_path / "b"
    out.mkdir()
    with pytest.raises(BundleError) as err:
        write_bundle(case=case, out_dir=out, purpose="x", requested_by=coordinator)
    assert err.value.code == "file-integrity"
    assert not (out / "files/E003.bin").exists()
