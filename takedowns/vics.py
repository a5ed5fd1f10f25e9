"""Project VIC VICS 2.0 JSON hash sets: fingerprints for hotline and police tools.

VICS 2.0 is the OData v4 "ProjectVicDataModel 2.0". A hash set is the `#Media`
collection: a flat `value` list, one Media per image, keyed by MD5. Amparo holds no
image, so there are no media bytes, file paths or SHA1 (the family's browser computes
SHA-256, MD5 and PDQ only); SHA-256 and PDQ travel as `AlternativeHashes`. `Category`
stays empty: category numbering is regional (Project VIC US, CAID) and is not ours to
assign; `IsPrecategorized` is therefore false.

Pure functions over plain values, so the takedown hash-list export and the police
bundle write the same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

CONTEXT_BASE = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/CUSTOM/$metadata"
MEDIA_CONTEXT = CONTEXT_BASE + "#Media"
CASES_CONTEXT = CONTEXT_BASE + "#Cases"

_HEX = {"MD5": 32, "SHA256": 64, "PDQ": 64}


@dataclass(frozen=True)
class HashEntry:
    """One fingerprinted image: lower-case hex digests; PDQ and its quality optional."""

    media_id: str
    md5: str
    sha256: str
    pdq: str = ""
    pdq_quality: int | None = None
    comment: str = ""


def _check(name: str, value: str) -> str:
    value = value.lower()
    if not re.fullmatch(rf"[0-9a-f]{{{_HEX[name]}}}", value):
        raise ValueError(f"{name} is not {_HEX[name]} hex digits")
    return value


def media(entry: HashEntry) -> dict:
    """The VICS Media object for one entry."""
    alternatives = [{"HashName": "SHA256", "HashValue": _check("SHA256", entry.sha256)}]
    if entry.pdq:
        alternatives.append({"HashName": "PDQ", "HashValue": _check("PDQ", entry.pdq)})
    item = {
        "MediaID": entry.media_id,
        "MD5": _check("MD5", entry.md5),
        "Category": None,
        "IsPrecategorized": False,
        "AlternativeHashes": alternatives,
    }
    comments = [entry.comment] if entry.comment else []
    if entry.pdq and entry.pdq_quality is not None:
        comments.append(f"PDQ quality {entry.pdq_quality}")
    if comments:
        item["Comments"] = "; ".join(comments)
    return item


def media_set(entries: Iterable[HashEntry]) -> dict:
    """A `#Media` hash set (what hotlines ingest)."""
    return {"@odata.context": MEDIA_CONTEXT, "value": [media(entry) for entry in entries]}


def case_set(
    *,
    case_id: str,
    case_number: str,
    entries: Iterable[HashEntry],
    organisation: str = "",
    application_version: str = "",
) -> dict:
    """A `#Cases` document: one Case holding its Media (what police tools ingest)."""
    items = [media(entry) for entry in entries]
    case = {
        "CaseID": case_id,
        "CaseNumber": case_number,
        "ContactOrganization": organisation,
        "SourceApplicationName": "Amparo",
        "SourceApplicationVersion": application_version,
        "TotalMediaFiles": len(items),
        "TotalPrecategorized": 0,
        "Media": items,
    }
    return {"@odata.context": CASES_CONTEXT, "value": [case]}


def dumps(document: dict) -> bytes:
    """UTF-8 JSON without a BOM (parsers strip one, but none is needed)."""
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True).encode()


def parse(data: bytes) -> list[HashEntry]:
    """Read a VICS 2.0 `#Media` or `#Cases` document back into entries.

    Accepts a leading UTF-8 BOM, as other exporters write one. Raises ValueError on
    anything that is not a VICS document with valid digests.
    """
    text = data.decode("utf-8-sig")
    document = json.loads(text)
    context = document.get("@odata.context", "") if isinstance(document, dict) else ""
    if not isinstance(context, str) or not context.endswith(("#Media", "#Cases")):
        raise ValueError("not a VICS 2.0 Media or Cases document")
    values = document.get("value")
    if not isinstance(values, list):
        raise ValueError("a VICS document has a value list")
    media_items = values
    if context.endswith("#Cases"):
        media_items = [item for case in values for item in case.get("Media", [])]
    entries = []
    for item in media_items:
        alternatives = {
            alt.get("HashName"): alt.get("HashValue") for alt in item.get("AlternativeHashes", [])
        }
        quality = None
        match = re.search(r"PDQ quality (\d+)", item.get("Comments", "") or "")
        if match:
            quality = int(match.group(1))
        entries.append(
            HashEntry(
                media_id=str(item["MediaID"]),
                md5=_check("MD5", item["MD5"]),
                sha256=_check("SHA256", alternatives.get("SHA256", "")),
                pdq=_check("PDQ", alternatives["PDQ"]) if alternatives.get("PDQ") else "",
                pdq_quality=quality,
            )
        )
    return entries
