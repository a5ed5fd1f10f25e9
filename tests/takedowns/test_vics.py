"""VICS 2.0 hash sets: MD5 as key, SHA-256 and PDQ as alternative hashes, no media."""

from __future__ import annotations

import hashlib
import json

import pytest

from takedowns import vics


def _entry(n: int, *, pdq: bool = True) -> vics.HashEntry:
    data = f"image {n}".encode()
    return vics.HashEntry(
        media_id=f"F{n:03d}",
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        pdq=hashlib.sha256(b"pdq" + data).hexdigest() if pdq else "",
        pdq_quality=90 if pdq else None,
    )


def test_it_writes_a_media_hash_set_with_alternative_hashes():
    document = json.loads(vics.dumps(vics.media_set([_entry(1), _entry(2, pdq=False)])))
    assert document["@odata.context"].endswith("$metadata#Media")
    first, second = document["value"]
    assert first["MD5"] == _entry(1).md5
    assert {a["HashName"]: a["HashValue"] for a in first["AlternativeHashes"]} == {
        "SHA256": _entry(1).sha256,
        "PDQ": _entry(1).pdq,
    }
    assert [a["HashName"] for a in second["AlternativeHashes"]] == ["SHA256"]
    assert first["IsPrecategorized"] is False and first["Category"] is None


def test_it_round_trips_media_and_cases_documents():
    entries = [_entry(n) for n in range(5)] + [_entry(9, pdq=False)]
    assert vics.parse(vics.dumps(vics.media_set(entries))) == entries
    cases = vics.case_set(
        case_id="0f8fad5b-d9cb-469f-a165-70867728950e", case_number="AMP-1", entries=entries
    )
    assert cases["value"][0]["TotalMediaFiles"] == 6
    assert vics.parse(vics.dumps(cases)) == entries


def test_it_reads_a_document_with_a_bom():
    data = b"\xef\xbb\xbf" + vics.dumps(vics.media_set([_entry(1)]))
    assert vics.parse(data) == [_entry(1)]


def test_it_carries_no_media_bytes_or_paths():
    text = vics.dumps(vics.media_set([_entry(1)])).decode()
    for field in ("RelativeFilePath", "MediaFiles", "FilePath", "Exifs"):
        assert field not in text


@pytest.mark.parametrize(
    "bad",
    [
        b"{}",
        b'{"@odata.context": "x#Other", "value": []}',
        b'{"@odata.context": "x#Media", "value": [{"MediaID": "1", "MD5": "zz"}]}',
    ],
)
def test_it_refuses_what_is_not_vics(bad):
    with pytest.raises((ValueError, KeyError)):
        vics.parse(bad)


def test_it_refuses_a_malformed_digest():
    with pytest.raises(ValueError, match="MD5"):
        vics.media(vics.HashEntry(media_id="1", md5="abc", sha256="0" * 64))
