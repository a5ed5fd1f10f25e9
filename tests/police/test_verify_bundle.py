"""The offline verifier: it accepts the genuine bundle and names what is wrong with
each tampered copy.

One genuine bundle (with an RFC 3161 timestamp from a local test authority) is built
for the module; every variant is a copy of it with one thing changed. "Resealed"
variants model a forger who also fixes up the manifest, SHA256SUMS and the
signature with the server's own key (or a bundle exported from an edited
database): only the deeper checks — the custody chain, its anchors — can catch them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import override_settings

from police.bundle import write_bundle
from police.management.commands.verify_bundle import TOOL, load_verifier
from support import members
from tests.police.conftest import FAKE_IMAGE, build_export_case
from tests.police.tsa import LocalAuthority
from vault import crypto, keys
from vault.audit import Actor

verifier = load_verifier()
# Every test may touch the database (the module's bundle is built in it once, then
# rolled back); marking them all also makes pytest-django create the test database.
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def genuine(django_db_setup, django_db_blocker, tmp_path_factory):
    """A timestamped bundle, built once; the database work is rolled back afterwards."""
    base = tmp_path_factory.mktemp("genuine")
    out = base / "bundle"
    out.mkdir()
    with LocalAuthority() as tsa, django_db_blocker.unblock():
        chain = tsa.write_chain(base / "tsa-chain.pem")
        with (
            override_settings(AMPARO_TSA_URL=tsa.url, AMPARO_TSA_CHAIN_FILE=str(chain)),
            transaction.atomic(),
        ):
            org = members.create_organisation(name="Grupo T", actor=Actor.system("tests"))
            case, coordinator = build_export_case(org)
            write_bundle(case=case, out_dir=out, purpose="Diligencias", requested_by=coordinator)
            transaction.set_rollback(True)
    return out


@pytest.fixture
def copy(genuine, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(genuine, target)
    return target


def public() -> bytes:
    return keys.signing_public_key()


# --- helpers that tamper --------------------------------------------------------------


def flip(root: Path, rel: str, at: float = 0.5) -> None:
    path = root / rel
    data = bytearray(path.read_bytes())
    i = min(int(len(data) * at), len(data) - 1)
    data[i] ^= 0x01
    path.write_bytes(bytes(data))


def load(root: Path, rel: str):
    return json.loads((root / rel).read_bytes())


def dump(root: Path, rel: str, value) -> None:
    (root / rel).write_bytes((json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode())


def reseal(root: Path, *, private: bytes | None = None, anchors_too: bool = False) -> None:
    """Make the manifest, SHA256SUMS and the signature agree with the files again."""
    private = private or keys.signing_key()
    pub = crypto.signing_public_key(private)
    manifest = load(root, "manifest.json")
    for entry in manifest["files"]:
        data = (root / entry["path"]).read_bytes()
        entry["sha256"], entry["size"] = hashlib.sha256(data).hexdigest(), len(data)
    manifest["signing_key"]["public_key"] = crypto.public_key_to_b64(pub)
    # A resealed bundle cannot carry the authority's timestamp over the old manifest.
    manifest["timestamp"]["requested"] = False
    shutil.rmtree(root / "timestamp", ignore_errors=True)
    if anchors_too:
        doc = load(root, "custody/anchors.json")
        doc["public_key"] = crypto.public_key_to_b64(pub)
        for a in doc["anchors"]:
            message = verifier.anchor_message(a["seq"], a["head_hash"], a["signed_at"])
            a["signature"] = crypto.sign(private, message).hex()
        dump(root, "custody/anchors.json", doc)
        entry = next(e for e in manifest["files"] if e["path"] == "custody/anchors.json")
        data = (root / "custody/anchors.json").read_bytes()
        entry["sha256"], entry["size"] = hashlib.sha256(data).hexdigest(), len(data)
    dump(root, "manifest.json", manifest)
    digest = hashlib.sha256((root / "manifest.json").read_bytes()).digest()
    signature = crypto.sign(private, digest)
    (root / "signature/manifest.sig").write_bytes(signature)
    doc = load(root, "SIGNATURE")
    doc.update(
        manifest_sha256=digest.hex(),
        signature=signature.hex(),
        public_key=crypto.public_key_to_b64(pub),
    )
    dump(root, "SIGNATURE", doc)
    sums = [f"{e['sha256']}  {e['path']}\n" for e in manifest["files"]]
    sums.append(f"{digest.hex()}  manifest.json\n")
    (root / "SHA256SUMS").write_text("".join(sorted(sums, key=lambda s: s.split("  ")[1])))


def chain_lines(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "custody/chain.jsonl").read_bytes().splitlines()]


def write_chain(root: Path, links: list[dict]) -> None:
    text = b"".join(
        json.dumps(link, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        for link in links
    )
    (root / "custody/chain.jsonl").write_bytes(text)


def case_event_index(links: list[dict], n: int = 1) -> int:
    """Index of the n-th case event that is neither the first link nor the last."""
    found = [i for i, link in enumerate(links) if "event" in link and 0 < i < len(links) - 1]
    return found[n - 1]


# --- the variants --------------------------------------------------------------------------


def flip_in(rel):
    return lambda root: flip(root, rel)


def edit_manifest_exhibit_hash(root):
    manifest = load(root, "manifest.json")
    manifest["exhibits"][0]["sha256"] = "0" * 64
    dump(root, "manifest.json", manifest)


def edit_manifest_file_hash(root):
    manifest = load(root, "manifest.json")
    entry = next(e for e in manifest["files"] if e["path"] == "files/E001.png")
    entry["sha256"] = hashlib.sha256(b"something else").hexdigest()
    dump(root, "manifest.json", manifest)


def drop_manifest_entry(root):
    manifest = load(root, "manifest.json")
    manifest["files"] = [e for e in manifest["files"] if e["path"] != "restricted/suspects.json"]
    dump(root, "manifest.json", manifest)


def swap_file_for_another_and_reseal(root):
    (root / "files/E001.png").write_bytes(b"a different screenshot")
    reseal(root)


def drop_custody_event(root):
    links = chain_lines(root)
    del links[case_event_index(links)]
    write_chain(root, links)
    reseal(root)


def reorder_custody_events(root):
    links = chain_lines(root)
    i = case_event_index(links)
    links[i], links[i + 1] = links[i + 1], links[i]
    write_chain(root, links)
    reseal(root)


def edit_custody_event(root):
    links = chain_lines(root)
    links[case_event_index(links)]["event"]["actor_role"] = "someone else"
    write_chain(root, links)
    reseal(root)


def rewrite_custody_log_with_new_hashes(root):
    """Edit an event and recompute every hash after it: consistent, but not what was anchored."""
    links = chain_lines(root)
    i = case_event_index(links)
    links[i]["event"]["event"] = "case.note_added"
    for j in range(i, len(links)):
        if j > i:
            links[j]["prev_hash"] = links[j - 1]["hash"]
        if "event" in links[j]:
            links[j]["hash"] = verifier.event_hash(links[j]["prev_hash"], links[j]["event"])
        else:
            links[j]["hash"] = hashlib.sha256(links[j]["hash"].encode()).hexdigest()
    write_chain(root, links)
    manifest = load(root, "manifest.json")
    manifest["custody"]["head_hash"] = links[-1]["hash"]
    dump(root, "manifest.json", manifest)
    reseal(root)


def truncate_custody_log(root):
    links = chain_lines(root)[:-1]
    write_chain(root, links)
    manifest = load(root, "manifest.json")
    manifest["custody"].update(
        head_seq=links[-1]["seq"],
        head_hash=links[-1]["hash"],
        case_events=sum("event" in link for link in links),
        links=len(links),
    )
    dump(root, "manifest.json", manifest)
    reseal(root)


def alter_chain_head_in_manifest(root):
    manifest = load(root, "manifest.json")
    manifest["custody"]["head_hash"] = "f" * 64
    dump(root, "manifest.json", manifest)
    reseal(root)


def alter_anchor_head(root):
    doc = load(root, "custody/anchors.json")
    doc["anchors"][-1]["head_hash"] = "e" * 64
    dump(root, "custody/anchors.json", doc)
    reseal(root)


def alter_anchor_signature(root):
    doc = load(root, "custody/anchors.json")
    sig = bytearray(bytes.fromhex(doc["anchors"][-1]["signature"]))
    sig[5] ^= 0x80
    doc["anchors"][-1]["signature"] = sig.hex()
    dump(root, "custody/anchors.json", doc)
    reseal(root)


def remove_anchors(root):
    doc = load(root, "custody/anchors.json")
    doc["anchors"] = []
    dump(root, "custody/anchors.json", doc)
    reseal(root)


def resign_with_another_key(root):
    reseal(root, private=crypto.generate_signing_key(), anchors_too=True)


def signature_of_another_manifest(root):
    signature = crypto.sign(keys.signing_key(), hashlib.sha256(b"another manifest").digest())
    (root / "signature/manifest.sig").write_bytes(signature)
    doc = load(root, "SIGNATURE")
    doc["signature"] = signature.hex()
    dump(root, "SIGNATURE", doc)


def edit_signature_text(root):
    doc = load(root, "SIGNATURE")
    doc["signature"] = ("0" if doc["signature"][0] != "0" else "1") + doc["signature"][1:]
    dump(root, "SIGNATURE", doc)


def strip_timestamp(root):
    shutil.rmtree(root / "timestamp")


def timestamp_from_another_authority(root):
    (root / "timestamp/tsa-chain.pem").write_bytes(LocalAuthority("Other").chain_pem)


def delete_file(root):
    (root / "files/E002.png").unlink()


def add_file(root):
    (root / "files/E099.png").write_bytes(FAKE_IMAGE)


VARIANTS = {
    "byte in the cover sheet": (flip_in("cover.pdf"), "cover.pdf has been altered"),
    "byte in manifest.csv": (flip_in("manifest.csv"), "manifest.csv has been altered"),
    "byte in a context file": (flip_in("files/E001.png"), "files/E001.png has been altered"),
    "byte in the custody log": (
        flip_in("custody/chain.jsonl"),
        "custody/chain.jsonl has been altered",
    ),
    "byte in the custody table": (
        flip_in("custody/custody.csv"),
        "custody/custody.csv has been altered",
    ),
    "byte in the anchors": (flip_in("custody/anchors.json"), "anchors.json has been altered"),
    "byte in the takedown log": (flip_in("logs/takedowns.json"), "takedowns.json has been altered"),
    "byte in the referrals": (flip_in("logs/referrals.json"), "referrals.json has been altered"),
    "byte in the consents": (flip_in("logs/consents.json"), "consents.json has been altered"),
    "byte in the suspect sheet": (
        flip_in("restricted/suspects.json"),
        "restricted/suspects.json has been altered",
    ),
    "byte in the CASE graph": (flip_in("case.jsonld"), "case.jsonld has been altered"),
    "byte in the VICS set": (
        flip_in("fingerprints.vics.json"),
        "fingerprints.vics.json has been altered",
    ),
    "byte in the instructions": (flip_in("VERIFY.txt"), "VERIFY.txt has been altered"),
    "byte in the shipped key": (
        flip_in("signature/signing-key.pem"),
        "signing-key.pem has been altered",
    ),
    "byte in the manifest": (
        flip_in("manifest.json"),
        "the signature does not match manifest.json",
    ),
    "manifest: an exhibit's hash edited": (
        edit_manifest_exhibit_hash,
        "the signature does not match manifest.json",
    ),
    "manifest: a file's hash edited": (edit_manifest_file_hash, "files/E001.png has been altered"),
    "manifest: an entry removed": (
        drop_manifest_entry,
        "restricted/suspects.json is in the bundle",
    ),
    "a file swapped and everything resealed": (
        swap_file_for_another_and_reseal,
        "exhibit E001: files/E001.png is not the file received at intake",
    ),
    "byte in SIGNATURE": (flip_in("SIGNATURE"), "SIGNATURE is not valid JSON"),
    "SIGNATURE: its signature edited": (
        edit_signature_text,
        "SIGNATURE and signature/manifest.sig hold different signatures",
    ),
    "byte in the raw signature": (
        flip_in("signature/manifest.sig"),
        "the signature does not match manifest.json",
    ),
    "byte in SHA256SUMS": (lambda r: flip(r, "SHA256SUMS", 0.01), "SHA256SUMS line 1"),
    "a file deleted": (delete_file, "files/E002.png is listed in the manifest but missing"),
    "a file added": (add_file, "files/E099.png is in the bundle but not in the manifest"),
    "custody: an event dropped": (drop_custody_event, "custody chain broken before event"),
    "custody: events reordered": (reorder_custody_events, "custody log out of order"),
    "custody: an event edited": (edit_custody_event, "its content no longer matches its hash"),
    "custody: rewritten with fresh hashes": (
        rewrite_custody_log_with_new_hashes,
        "does not have the hash its signed anchor names",
    ),
    "custody: truncated": (truncate_custody_log, "the custody log was truncated"),
    "custody: chain head altered": (
        alter_chain_head_in_manifest,
        "not the chain head named in the manifest",
    ),
    "anchor: head hash altered": (alter_anchor_head, "has an invalid signature"),
    "anchor: signature altered": (alter_anchor_signature, "has an invalid signature"),
    "anchor: removed": (remove_anchors, "no signed anchor covers the custody log"),
    "another key": (resign_with_another_key, "names another signing key"),
    "another signature": (
        signature_of_another_manifest,
        "the signature does not match manifest.json",
    ),
    "timestamp stripped": (strip_timestamp, "it was stripped"),
    "timestamp altered": (
        lambda r: flip(r, "timestamp/manifest.tsr", 0.98),
        "timestamp/manifest.tsr: its signature does not verify",
    ),
    "timestamp authority swapped": (
        timestamp_from_another_authority,
        "timestamp/manifest.tsr: the authority's certificate chain is incomplete",
    ),
}


def test_it_accepts_the_genuine_bundle(genuine):
    report = verifier.verify(genuine, public())
    assert report.ok, report.problems
    assert any("RFC 3161 timestamp over manifest.json verified" in p for p in report.passed)
    assert any("custody chain intact" in p for p in report.passed)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_it_rejects_a_tampered_bundle_naming_why(copy, name):
    tamper, reason = VARIANTS[name]
    tamper(copy)
    report = verifier.verify(copy, public())
    assert not report.ok
    assert any(reason in problem for problem in report.problems), report.problems


def test_there_are_at_least_thirty_tamper_variants():
    assert len(VARIANTS) >= 30


def test_the_tool_runs_alone_and_exits_zero_only_when_all_passes(genuine, copy, tmp_path):
    """One file and `cryptography`: run it from elsewhere, where the project is not importable."""
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(TOOL, alone / "verify_bundle.py")
    pem = genuine / "signature/signing-key.pem"
    run = [sys.executable, "-I", str(alone / "verify_bundle.py")]
    ok = subprocess.run(
        [*run, str(genuine), "--public-key", str(pem)], capture_output=True, text=True, cwd=alone
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "Every check passed." in ok.stdout
    flip(copy, "files/E002.png")
    bad = subprocess.run(
        [*run, str(copy), "--public-key", str(pem)], capture_output=True, text=True, cwd=alone
    )
    assert bad.returncode == 1
    assert "FAIL  files/E002.png has been altered" in bad.stdout


def test_without_a_pinned_key_it_says_which_key_it_trusted(genuine):
    report = verifier.verify(genuine)
    assert report.ok
    assert any(keys.signing_key_id() in note for note in report.notes)


def test_manage_py_verify_bundle_uses_the_same_checks(genuine, copy, capsys):
    call_command("verify_bundle", str(genuine))
    assert "Every check passed." in capsys.readouterr().out
    flip(copy, "case.jsonld")
    with pytest.raises(CommandError, match=r"case\.jsonld has been altered"):
        call_command("verify_bundle", str(copy))


def test_the_openssl_and_sha256sum_recipe_works(genuine, tmp_path):
    """The README's recipe, run as written, without Python."""
    subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=genuine, check=True)
    digest = tmp_path / "manifest.sha256"
    digest.write_bytes(hashlib.sha256((genuine / "manifest.json").read_bytes()).digest())
    verify = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "signature/signing-key.pem",
         "-rawin", "-in", str(digest), "-sigfile", "signature/manifest.sig"],
        cwd=genuine, capture_output=True, text=True,
    )  # fmt: skip
    assert verify.returncode == 0 and "Signature Verified Successfully" in verify.stdout
    ts = subprocess.run(
        ["openssl", "ts", "-verify", "-data", "manifest.json", "-in", "timestamp/manifest.tsr",
         "-CAfile", "timestamp/tsa-chain.pem"],
        cwd=genuine, capture_output=True, text=True,
    )  # fmt: skip
    assert ts.returncode == 0 and "Verification: OK" in ts.stdout, ts.stdout + ts.stderr
