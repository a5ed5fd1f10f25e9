#!/usr/bin/env python3
"""Verify an Amparo police case file, offline.

    python verify_bundle.py BUNDLE_DIR [--public-key KEY] [--open-sealed UNIT_KEY]

BUNDLE_DIR is the folder the delivery ZIP was extracted into (7-Zip or any tool
that opens WinZip AES-256, with the one-time passphrase): the entries E001, E002…
get their real names back from the ZIP's encrypted index E000 first.

Needs Python 3.10+ and the ``cryptography`` package, nothing else: copy this one
file next to the bundle. KEY is the support group's Ed25519 public key — a PEM
file, or the base64 text shown in Amparo's admin and README. Without it the key
inside the bundle is used and its id is printed, to be compared with the
published one (a forger can replace a key shipped with the files it signs).

Checks, each failure explained in plain words:
  1. the signature over the manifest's SHA-256 (SIGNATURE, signature/manifest.sig);
  2. every file against the SHA-256 and size in the manifest; missing and extra files;
     SHA256SUMS against the files; each exhibit against the SHA-256 recorded at intake;
  3. the custody log: every link of the hash chain, the case's events recomputed,
     the signed anchors of the chain's head, and that the log ends at a signed head;
  4. the RFC 3161 timestamp over manifest.json, when the bundle has one (or says it should).
Exit status 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

FORMAT = "amparo-police-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "SIGNATURE"
SIGNATURE_BIN = "signature/manifest.sig"
SHA256SUMS = "SHA256SUMS"
TIMESTAMP = "timestamp/manifest.tsr"
TSA_CHAIN = "timestamp/tsa-chain.pem"
UNLISTED = {MANIFEST, SIGNATURE, SIGNATURE_BIN, SHA256SUMS, TIMESTAMP, TSA_CHAIN}
GENESIS = "0" * 64
ANCHOR_CONTEXT = b"amparo-audit-anchor/v1"


class Report:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.passed: list[str] = []
        self.notes: list[str] = []

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, text: str) -> None:
        self.problems.append(text)


def _sha256_file(path: Path) -> tuple[str, int]:
    sha, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def key_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def _b64(text: str) -> bytes:
    text = text.strip().translate(str.maketrans("+/", "-_")).rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_public_key(value: str) -> bytes:
    """A raw 32-byte Ed25519 public key from a PEM file, a file of base64, or base64 text."""
    path = Path(value)
    text = path.read_text() if path.is_file() else value
    if "BEGIN PUBLIC KEY" in text:
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ValueError("the public key is not an Ed25519 key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        raw = _b64(text)
    except (binascii.Error, ValueError):
        raise ValueError("the public key is neither PEM nor base64") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return raw


def _ed25519_ok(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def _read_json(root: Path, rel: str, report: Report):
    try:
        return json.loads((root / rel).read_bytes())
    except FileNotFoundError:
        report.fail(f"{rel} is missing")
    except (ValueError, UnicodeDecodeError):
        report.fail(f"{rel} is not valid JSON (it was damaged or edited)")
    return None


# --- 1. signature ------------------------------------------------------------------


def check_signature(root: Path, manifest: dict, pinned: bytes | None, report: Report) -> bytes:
    """Return the public key the rest of the bundle is checked with."""
    digest = hashlib.sha256((root / MANIFEST).read_bytes()).digest()
    claimed = manifest.get("signing_key", {}).get("public_key", "")
    try:
        bundle_key = _b64(claimed)
    except (binascii.Error, ValueError):
        bundle_key = b""
    public = pinned if pinned is not None else bundle_key
    if pinned is None:
        report.notes.append(
            f"no --public-key given: checked with the key inside the bundle (key id "
            f"{key_id(bundle_key) if bundle_key else '?'}); compare it with the published key id"
        )
    elif bundle_key != pinned:
        named = key_id(bundle_key) if bundle_key else "?"
        report.fail(
            f"the manifest names another signing key (key id {named}) "
            f"than the one you trust (key id {key_id(pinned)}): this bundle was not signed by it"
        )
    signature_doc = _read_json(root, SIGNATURE, report)
    try:
        raw_sig = (root / SIGNATURE_BIN).read_bytes()
    except FileNotFoundError:
        report.fail(f"{SIGNATURE_BIN} is missing")
        raw_sig = b""
    if signature_doc is not None:
        try:
            text_sig = bytes.fromhex(signature_doc.get("signature", ""))
        except ValueError:
            text_sig = b""
        if raw_sig and text_sig != raw_sig:
            report.fail(f"{SIGNATURE} and {SIGNATURE_BIN} hold different signatures")
        if signature_doc.get("manifest_sha256") != digest.hex():
            report.fail(
                f"{SIGNATURE} was made for another manifest (SHA-256 "
                f"{str(signature_doc.get('manifest_sha256'))[:16]}…, this manifest is "
                f"{digest.hex()[:16]}…)"
            )
        if signature_doc.get("public_key") != claimed:
            report.fail(f"{SIGNATURE} names a different public key than manifest.json")
    if len(public) != 32:
        report.fail("no usable Ed25519 public key to check the signature with")
    elif raw_sig and not _ed25519_ok(public, digest, raw_sig):
        report.fail(
            "the signature does not match manifest.json with key id "
            f"{key_id(public)}: the manifest was changed after signing, or another key signed it"
        )
    else:
        report.passed.append(f"signature over manifest.json verified (key id {key_id(public)})")
    return public


# --- 2. files ----------------------------------------------------------------------


def _safe(rel: str) -> bool:
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts


def check_files(root: Path, manifest: dict, report: Report) -> None:
    before = len(report.problems)
    listed = {}
    for entry in manifest.get("files", []):
        rel = entry.get("path", "")
        if not _safe(rel) or rel in UNLISTED:
            report.fail(f"the manifest lists an unsafe or reserved path: {rel!r}")
            continue
        listed[rel] = entry
        path = root / rel
        if not path.is_file():
            report.fail(f"{rel} is listed in the manifest but missing from the bundle")
            continue
        digest, size = _sha256_file(path)
        if digest != entry.get("sha256"):
            report.fail(
                f"{rel} has been altered: its SHA-256 is {digest[:16]}…, the manifest says "
                f"{str(entry.get('sha256'))[:16]}…"
            )
        elif size != entry.get("size"):
            report.fail(f"{rel} has {size} bytes, the manifest says {entry.get('size')}")
    present = {
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()
    }
    for rel in sorted(present - set(listed) - UNLISTED):
        report.fail(f"{rel} is in the bundle but not in the manifest (an extra file)")
    for entry in manifest.get("exhibits", []):
        rel = entry.get("path")
        if rel and rel in listed and listed[rel].get("sha256") != entry.get("sha256"):
            report.fail(
                f"exhibit {entry.get('exhibit')}: {rel} is not the file received at intake "
                "(its SHA-256 differs from the one recorded then)"
            )
        elif rel and rel not in listed:
            report.fail(
                f"exhibit {entry.get('exhibit')} names {rel}, which the manifest does not list"
            )
    if len(report.problems) == before:
        report.passed.append(f"{len(listed)} files match the manifest")
    check_sums(root, set(listed), report)


def check_sums(root: Path, listed: set[str], report: Report) -> None:
    try:
        text = (root / SHA256SUMS).read_text("utf-8")
    except FileNotFoundError:
        report.fail(f"{SHA256SUMS} is missing")
        return
    except UnicodeDecodeError:
        report.fail(f"{SHA256SUMS} is damaged (not text)")
        return
    seen = set()
    for number, line in enumerate(text.splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or not _safe(rel):
            report.fail(f"{SHA256SUMS} line {number} is not in sha256sum format")
            continue
        seen.add(rel)
        path = root / rel
        if path.is_file() and _sha256_file(path)[0] != digest:
            report.fail(f"{SHA256SUMS} line {number}: the SHA-256 of {rel} does not match")
    expected = listed | {MANIFEST}
    if seen != expected:
        missing, extra = sorted(expected - seen), sorted(seen - expected)
        report.fail(
            f"{SHA256SUMS} does not list exactly the manifest's files"
            + (f" (missing: {', '.join(missing)})" if missing else "")
            + (f" (not in the manifest: {', '.join(extra)})" if extra else "")
        )


# --- 3. custody chain and anchors -----------------------------------------------------------


def event_hash(prev_hash: str, fields: dict) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(prev_hash.encode() + b"\n" + canonical).hexdigest()


def anchor_message(seq: int, head_hash: str, signed_at: str) -> bytes:
    return b"\n".join([ANCHOR_CONTEXT, str(seq).encode(), head_hash.encode(), signed_at.encode()])


def check_custody(root: Path, manifest: dict, public: bytes, report: Report) -> None:
    rel = "custody/chain.jsonl"
    before = len(report.problems)
    summary = manifest.get("custody", {})
    links = []
    try:
        with open(root / rel, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    links.append(json.loads(raw))
                except ValueError:
                    report.fail(f"{rel} line {number} is not valid JSON")
                    return
    except FileNotFoundError:
        report.fail(f"{rel} (the custody log) is missing")
        return
    if not links:
        report.fail(f"{rel} (the custody log) is empty")
        return
    by_seq = {}
    prev = None
    for link in links:
        seq = link.get("seq")
        if not isinstance(seq, int):
            report.fail(f"{rel}: a link has no sequence number")
            return
        if prev is not None:
            if seq <= prev["seq"]:
                report.fail(
                    f"custody log out of order: event {seq} comes after event {prev['seq']}"
                )
            elif link.get("prev_hash") != prev.get("hash"):
                report.fail(
                    f"custody chain broken before event {seq}: its previous-event hash does not "
                    f"match event {prev['seq']} (an event was removed, inserted or reordered)"
                )
        if "event" in link and event_hash(link.get("prev_hash", ""), link["event"]) != link.get(
            "hash"
        ):
            report.fail(
                f"custody event {seq} ({link['event'].get('event', '?')}) was altered: "
                "its content no longer matches its hash"
            )
        by_seq[seq] = link
        prev = link
    first, last = links[0], links[-1]
    span, claimed = (
        (first.get("seq"), last.get("seq")),
        (
            summary.get("first_seq"),
            summary.get("head_seq"),
        ),
    )
    if span != claimed:
        report.fail(
            f"the custody log runs from event {span[0]} to {span[1]}, the manifest says "
            f"{claimed[0]} to {claimed[1]} (events cut off or added)"
        )
    if last.get("hash") != summary.get("head_hash"):
        report.fail("the custody log's last hash is not the chain head named in the manifest")
    if sum("event" in link for link in links) != summary.get("case_events"):
        report.fail("the number of case events in the custody log differs from the manifest")

    doc = _read_json(root, "custody/anchors.json", report)
    if doc is None:
        return
    if doc.get("public_key") and _b64_or_none(doc["public_key"]) != public:
        report.fail("custody/anchors.json names another signing key than the bundle's signature")
    anchors = doc.get("anchors", [])
    if not anchors:
        report.fail("no signed anchor covers the custody log (custody/anchors.json is empty)")
        return
    good = []
    for anchor in anchors:
        seq, head = anchor.get("seq"), anchor.get("head_hash", "")
        try:
            signature = bytes.fromhex(anchor.get("signature", ""))
        except ValueError:
            signature = b""
        if not _ed25519_ok(
            public, anchor_message(seq, head, anchor.get("signed_at", "")), signature
        ):
            report.fail(f"the anchor of event {seq} has an invalid signature (altered or forged)")
            continue
        if seq in by_seq:
            if by_seq[seq].get("hash") != head:
                report.fail(
                    f"event {seq} does not have the hash its signed anchor names: the custody "
                    "log was rewritten after the anchor was signed"
                )
        elif first["seq"] <= seq <= last["seq"]:
            report.fail(f"event {seq}, named by a signed anchor, is missing from the custody log")
        good.append(anchor)
    if good:
        top = max(good, key=lambda a: a.get("seq", -1))
        if top.get("seq", -1) > last["seq"]:
            report.fail(
                f"a signed anchor names event {top['seq']}, after the log's last event "
                f"{last['seq']}: the custody log was truncated"
            )
        elif top.get("seq") != last["seq"]:
            report.fail(
                f"the custody log goes past its last signed anchor (event {top.get('seq')}): "
                f"events up to {last['seq']} are not covered by a signature"
            )
    if len(report.problems) == before:
        report.passed.append(
            f"custody chain intact: {len(links)} links, {summary.get('case_events')} case "
            f"events, {len(good)} signed anchors, ending at the signed head {last['seq']}"
        )


def _b64_or_none(text: str) -> bytes | None:
    try:
        return _b64(text)
    except (binascii.Error, ValueError):
        return None


# --- 4. RFC 3161 timestamp --------------------------------------------------------------------
# A minimal DER reader: the verifier must need nothing but `cryptography`, which
# cannot parse CMS SignedData itself.


def _tlv(data: bytes, pos: int) -> tuple[int, int, int, int]:
    """(tag, content start, content end, element end) of the DER element at ``pos``."""
    tag = data[pos]
    length = data[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, start, end, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """Each child as (tag, content start, content end, element start)."""
    out, pos = [], start
    while pos < end:
        tag, cstart, cend, nxt = _tlv(data, pos)
        out.append((tag, cstart, cend, pos))
        pos = nxt
    return out


def _oid(data: bytes) -> str:
    first = data[0]
    parts, value = [first // 40 if first < 80 else 2, first % 40 if first < 80 else first - 80], 0
    for byte in data[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


HASH_OIDS = {
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
OID_TSTINFO = "1.2.840.113549.1.9.16.1.4"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"


def _parse_time(text: str) -> dt.datetime:
    text = text.rstrip("Z")
    main, _, fraction = text.partition(".")
    moment = dt.datetime.strptime(main, "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    return moment + dt.timedelta(microseconds=int((fraction or "0")[:6].ljust(6, "0")))


def _verify_with(cert: x509.Certificate, signature: bytes, data: bytes, digest_cls) -> bool:
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), digest_cls())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(digest_cls()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def check_timestamp(root: Path, manifest: dict, report: Report) -> None:
    requested = manifest.get("timestamp", {}).get("requested", False)
    path = root / TIMESTAMP
    if not path.is_file():
        if requested:
            report.fail(
                f"the manifest says an RFC 3161 timestamp was taken, but {TIMESTAMP} is missing "
                "(it was stripped)"
            )
        else:
            report.notes.append("no RFC 3161 timestamp (no timestamp authority was configured)")
        return
    if not requested:
        report.fail(f"{TIMESTAMP} is present although the manifest says no timestamp was taken")
    try:
        chain = x509.load_pem_x509_certificates((root / TSA_CHAIN).read_bytes())
    except FileNotFoundError:
        report.fail(f"{TSA_CHAIN} (the timestamp authority's certificates) is missing")
        return
    except ValueError:
        report.fail(f"{TSA_CHAIN} is damaged: it does not hold PEM certificates")
        return
    try:
        problem, gen_time, root_cert = _check_token(
            path.read_bytes(), (root / MANIFEST).read_bytes(), chain
        )
    except (ValueError, IndexError):
        problem, gen_time, root_cert = "it is damaged (not a valid RFC 3161 response)", None, None
    if problem:
        report.fail(f"{TIMESTAMP}: {problem}")
    else:
        fingerprint = root_cert.fingerprint(hashes.SHA256()).hex()
        report.passed.append(
            f"RFC 3161 timestamp over manifest.json verified: {gen_time.isoformat()} "
            f"(authority root SHA-256 {fingerprint[:16]}…)"
        )


def _check_token(der: bytes, manifest: bytes, chain: list[x509.Certificate]):
    _, s, e, _ = _tlv(der, 0)
    resp = _children(der, s, e)
    status = _children(der, resp[0][1], resp[0][2])
    code = int.from_bytes(der[status[0][1] : status[0][2]], "big")
    if code not in (0, 1) or len(resp) < 2:
        return f"the authority did not grant it (status {code})", None, None
    content_info = _children(der, resp[1][1], resp[1][2])
    if _oid(der[content_info[0][1] : content_info[0][2]]) != OID_SIGNED_DATA:
        return "it does not hold signed data", None, None
    explicit = _children(der, content_info[1][1], content_info[1][2])[0]
    signed = _children(der, explicit[1], explicit[2])
    encap = _children(der, signed[2][1], signed[2][2])
    if _oid(der[encap[0][1] : encap[0][2]]) != OID_TSTINFO:
        return "its signed content is not a timestamp", None, None
    octets = _children(der, encap[1][1], encap[1][2])[0]
    tst = tst_content = der[octets[1] : octets[2]]  # the TSTInfo DER, as signed
    tst_fields = _children(tst, *_tlv(tst, 0)[1:3])
    imprint = _children(tst, tst_fields[2][1], tst_fields[2][2])
    algorithm = _children(tst, imprint[0][1], imprint[0][2])
    hash_cls = HASH_OIDS.get(_oid(tst[algorithm[0][1] : algorithm[0][2]]))
    if hash_cls is None:
        return "it uses an unsupported hash", None, None
    hashed = hashes.Hash(hash_cls())
    hashed.update(manifest)
    if not hmac.compare_digest(hashed.finalize(), tst[imprint[1][1] : imprint[1][2]]):
        return "it was issued for other data than this manifest.json", None, None
    gen_time = _parse_time(tst[tst_fields[4][1] : tst_fields[4][2]].decode("ascii"))
    certificates = list(chain)
    signer_infos = None
    for tag, cs, ce, _ in signed[3:]:
        if tag == 0xA0:  # certificates [0] IMPLICIT
            for _, _, cend, cstart in _children(der, cs, ce):
                certificates.append(x509.load_der_x509_certificate(der[cstart:cend]))
        elif tag == 0x31:
            signer_infos = _children(der, cs, ce)
    if not signer_infos:
        return "it has no signer", None, None
    info = _children(der, signer_infos[0][1], signer_infos[0][2])
    digest_alg = _children(der, info[2][1], info[2][2])
    digest_cls = HASH_OIDS.get(_oid(der[digest_alg[0][1] : digest_alg[0][2]]))
    signed_attrs = next((c for c in info if c[0] == 0xA0), None)
    signature = (
        der[info[-1][1] : info[-1][2]] if info[-1][0] == 0x04 else der[info[-2][1] : info[-2][2]]
    )
    if digest_cls is None or signed_attrs is None:
        return "its signature format is not supported", None, None
    expected = hashes.Hash(digest_cls())
    expected.update(tst_content)
    expected_digest = expected.finalize()
    found_digest = found_type = False
    for _, a_s, a_e, _ in _children(der, signed_attrs[1], signed_attrs[2]):
        attr = _children(der, a_s, a_e)
        oid = _oid(der[attr[0][1] : attr[0][2]])
        value = _children(der, attr[1][1], attr[1][2])[0]
        if oid == OID_MESSAGE_DIGEST:
            found_digest = der[value[1] : value[2]] == expected_digest
        elif oid == OID_CONTENT_TYPE:
            found_type = _oid(der[value[1] : value[2]]) == OID_TSTINFO
    if not (found_digest and found_type):
        return "its signed attributes do not match the timestamp it carries", None, None
    # The signature covers the attributes re-tagged as a SET (RFC 5652 §5.4).
    to_verify = b"\x31" + der[signed_attrs[3] + 1 : signed_attrs[2]]
    signer = next(
        (c for c in certificates if _verify_with(c, signature, to_verify, digest_cls)), None
    )
    if signer is None:
        return "its signature does not verify with the authority's certificates", None, None
    try:
        usages = signer.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = []
    if ExtendedKeyUsageOID.TIME_STAMPING not in usages:
        return "the signing certificate is not a timestamping certificate", None, None
    # Walk up to a self-signed root in the bundled chain, each valid at genTime.
    current, seen = signer, 0
    while True:
        if not current.not_valid_before_utc <= gen_time <= current.not_valid_after_utc:
            return (
                f"certificate {current.subject.rfc4514_string()} was not valid at {gen_time}",
                None,
                None,
            )
        if current.issuer == current.subject:
            try:
                current.verify_directly_issued_by(current)
            except (InvalidSignature, ValueError, TypeError):
                return "the authority's root certificate is not properly self-signed", None, None
            if current not in chain:
                return "the authority's root is not in the bundled chain", None, None
            return "", gen_time, current
        issuer = next((c for c in chain if c.subject == current.issuer), None)
        if issuer is None or seen > 8:
            return "the authority's certificate chain is incomplete", None, None
        try:
            current.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError):
            return (
                f"certificate {current.subject.rfc4514_string()} was not issued by its CA",
                None,
                None,
            )
        current, seen = issuer, seen + 1


# --- driver ---------------------------------------------------------------------------------


INDEX_ENTRY = "E000"


def restore_names(root: Path, report: Report) -> None:
    """Give the files of an unzipped export their real paths back.

    The delivery ZIP names its entries E001, E002… (ZIP names can be read without
    the password); the encrypted entry E000 maps each one to its path in the
    bundle. Done only for a folder holding E000 and no manifest.json; paths that
    leave the folder are refused. A lying index cannot hide anything: every file is
    then checked against the signed manifest like any other."""
    index = root / INDEX_ENTRY
    if not index.is_file() or (root / MANIFEST).exists():
        return
    import csv

    try:
        rows = list(csv.DictReader(index.read_text(encoding="utf-8").splitlines()))
    except (UnicodeDecodeError, csv.Error):
        report.fail("E000 (the ZIP's index of file names) is damaged")
        return
    moves = []
    for row in rows:
        entry, rel = row.get("entry") or "", row.get("path") or ""
        parts = Path(rel).parts
        if (
            not entry.startswith("E")
            or not entry[1:].isdigit()
            or not rel
            or Path(rel).is_absolute()
            or "\\" in rel
            or any(p in {"", ".", ".."} for p in parts)
        ):
            report.fail(f"E000 names an unsafe or malformed path for {entry or '?'}: {rel!r}")
            return
        if not (root / entry).is_file():
            report.fail(f"{entry} (listed in E000 as {rel}) is missing from the folder")
            return
        moves.append((entry, rel))
    for entry, rel in moves:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(root / entry, target)
    index.unlink()
    report.notes.append(
        f"restored the names of {len(moves)} files from the ZIP's index E000 "
        "(the ZIP names its entries E001, E002… so that no name is readable without the "
        "password)"
    )


def verify(root: str | os.PathLike, public_key: bytes | None = None) -> Report:
    root = Path(root)
    report = Report()
    if not root.is_dir():
        report.fail(f"{root} is not a directory")
        return report
    restore_names(root, report)
    if not report.ok:
        return report
    manifest = _read_json(root, MANIFEST, report)
    if manifest is None:
        return report
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        report.fail(f"{MANIFEST} is not an Amparo police bundle manifest ({FORMAT})")
        return report
    public = check_signature(root, manifest, public_key, report)
    check_files(root, manifest, report)
    check_custody(root, manifest, public, report)
    check_timestamp(root, manifest, report)
    return report


def render(report: Report) -> str:
    lines = [f"ok    {text}" for text in report.passed]
    lines += [f"note  {text}" for text in report.notes]
    lines += [f"FAIL  {text}" for text in report.problems]
    if report.ok:
        lines.append("Every check passed.")
    else:
        lines.append(f"{len(report.problems)} check(s) failed: do not rely on this bundle.")
    return "\n".join(lines)


# --- sealed originals -----------------------------------------------------------------
# The unit opens sealed/originals.ampsealed with its own X25519 private key. The same
# constructions as the vault (vault/crypto.py: seal_dek, the AMPV1 stream), restated
# here so that this file still needs nothing but `cryptography`.

SEALED_MAGIC = b"AMPSEALED1\n"
SEALED_FORMAT = "amparo-sealed-originals/1"
_SEAL_INFO = b"amparo/seal/v1|"
_AMPV_MAGIC = b"AMPV"
_AMPV_HEADER = 16
_SEGMENT = 65536
_TAG = 16


class SealedError(Exception):
    """The sealed package cannot be opened; the message says why, in plain words."""


def _load_unit_key(pem: bytes, password: bytes | None):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        raise SealedError(f"cannot read the unit's private key ({exc})") from None
    if not isinstance(key, X25519PrivateKey):
        raise SealedError("the unit's private key is not an X25519 key")
    return key


def _open_dek(private, sealed: bytes, blob_id: str) -> bytes:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if len(sealed) != 92:
        raise SealedError("a sealed key has the wrong length (the package was damaged)")
    eph = sealed[:32]
    mine = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(eph))
        key = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=eph + mine,
            info=_SEAL_INFO + blob_id.encode(),
        ).derive(shared)
        return AESGCM(key).decrypt(sealed[32:44], sealed[44:], _SEAL_INFO + blob_id.encode())
    except (InvalidTag, ValueError):
        raise SealedError(
            "the sealed key does not open with this private key: the package was sealed "
            "to another unit's key, or it was altered"
        ) from None  # fmt: skip


def _ampv_segments(read, dek: bytes, blob_id: str, exhibit: str):
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = read(_AMPV_HEADER)
    if (
        len(header) != _AMPV_HEADER
        or header[:4] != _AMPV_MAGIC
        or header[4] != 1
        or int.from_bytes(header[5:9], "big") != _SEGMENT
    ):
        raise SealedError(f"{exhibit}: the encrypted file's header was altered")
    prefix, aad, aead = header[9:], header + blob_id.encode(), AESGCM(dek)
    full = _SEGMENT + _TAG
    pending = read(full + 1)
    counter = 0
    while True:
        last = len(pending) <= full
        segment, pending = (pending, b"") if last else (pending[:full], pending[full:])
        nonce = prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
        try:
            yield aead.decrypt(nonce, segment, aad)
        except (InvalidTag, ValueError):
            raise SealedError(
                f"{exhibit}: part {counter + 1} of the encrypted file does not authenticate "
                "(altered, reordered or cut short)"
            ) from None
        counter += 1
        if last:
            return
        pending += read(full + 1 - len(pending))


def open_sealed(
    package: str | os.PathLike, private_key_pem: bytes, out_dir: str | os.PathLike,
    *, password: bytes | None = None,
) -> list[tuple[str, Path, str]]:  # fmt: skip
    """Open sealed/originals.ampsealed with the unit's private key into ``out_dir``.

    Returns (exhibit, path, sha256) per original. Each file is written to a temporary
    name and kept only once every segment authenticated and its SHA-256 and size
    match the header; on any failure nothing of that file is left and SealedError
    says why. Refuses to overwrite existing files.
    """
    private = _load_unit_key(private_key_pem, password)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    opened: list[tuple[str, Path, str]] = []
    with open(package, "rb") as f:
        if f.read(len(SEALED_MAGIC)) != SEALED_MAGIC:
            raise SealedError("this is not an Amparo sealed-originals package")
        length = int.from_bytes(f.read(4), "big")
        try:
            header = json.loads(f.read(length))
            entries = header["entries"] if header["format"] == SEALED_FORMAT else None
        except (ValueError, KeyError, TypeError):
            entries = None
        if not isinstance(entries, list):
            raise SealedError("the package's header is damaged")
        for entry in entries:
            try:
                exhibit = str(entry["exhibit"])
                blob_id, size = str(entry["blob_id"]), int(entry["ciphertext_size"])
                sealed_dek = base64.b64decode(entry["sealed_dek"], validate=True)
                ext = str(entry.get("extension", ".bin"))
            except (KeyError, TypeError, ValueError, binascii.Error):
                raise SealedError("the package's header is damaged") from None
            if not exhibit.isalnum() or not (ext == "" or ext[1:].isalnum()):
                raise SealedError("the package's header names an unsafe file")
            dek = _open_dek(private, sealed_dek, blob_id)
            left = size

            def read(n: int, _f=f) -> bytes:
                nonlocal left
                data = _f.read(min(n, left))
                left -= len(data)
                return data

            target = out / f"{exhibit}{ext}"
            temp = out / f".{exhibit}.part"
            if target.exists():
                raise SealedError(f"{target} already exists")
            sha, written = hashlib.sha256(), 0
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as sink:
                    for plain in _ampv_segments(read, dek, blob_id, exhibit):
                        sha.update(plain)
                        sink.write(plain)
                        written += len(plain)
                if left:
                    raise SealedError(f"{exhibit}: the encrypted file has bytes after its end")
                if not hmac.compare_digest(sha.hexdigest(), str(entry.get("sha256", ""))) or (
                    written != entry.get("size")
                ):
                    raise SealedError(
                        f"{exhibit}: the opened file does not match the SHA-256 and size "
                        "recorded at intake"
                    )
                os.rename(temp, target)
            except BaseException:
                temp.unlink(missing_ok=True)
                raise
            opened.append((exhibit, target, sha.hexdigest()))
        if f.read(1):
            raise SealedError("the package has bytes after its last file (it was altered)")
    return opened


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an Amparo police case file offline.")
    parser.add_argument("bundle", help="the bundle's directory")
    parser.add_argument("--public-key", help="the trusted Ed25519 public key (PEM file or base64)")
    parser.add_argument(
        "--open-sealed",
        metavar="UNIT_KEY",
        help="after verifying, open sealed/originals.ampsealed with the unit's X25519 "
        "private key (PEM; a password is asked for with --key-password)",
    )
    parser.add_argument("--key-password", action="store_true", help="the unit key is encrypted")
    parser.add_argument("--out", help="where --open-sealed writes the originals")
    args = parser.parse_args(argv)
    try:
        pinned = load_public_key(args.public_key) if args.public_key else None
    except (OSError, ValueError) as exc:
        print(f"FAIL  cannot read the public key: {exc}")
        return 2
    report = verify(args.bundle, pinned)
    print(render(report))
    if not report.ok:
        return 1
    if args.open_sealed:
        import getpass

        password = getpass.getpass("Unit key password: ").encode() if args.key_password else None
        out = Path(args.out or Path(args.bundle) / "sealed-opened")
        try:
            opened = open_sealed(
                Path(args.bundle) / "sealed" / "originals.ampsealed",
                Path(args.open_sealed).read_bytes(),
                out,
                password=password,
            )
        except (OSError, SealedError) as exc:
            print(f"FAIL  sealed originals: {exc}")
            return 1
        for exhibit, path, digest in opened:
            print(f"ok    sealed original {exhibit} opened to {path} (SHA-256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
