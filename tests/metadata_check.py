"""Test helper: which metadata an encoded image file carries, read structurally.

Kept out of vault/images.py because production never needs it: the tests use it to
check that every derivative the vault makes is clean, and to check the checker
against originals that do carry metadata.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator


def strip_check(data: bytes) -> dict[str, bool | str | None]:
    """Which metadata an encoded file carries: EXIF, GPS, XMP, IPTC, ICC, comments.

    Walks JPEG segments (APP1 ``Exif``/XMP, APP2 ``ICC_PROFILE``, APP13 Photoshop
    IPTC, COM), PNG chunks (eXIf, iCCP, text) and WebP chunks (EXIF, XMP, ICCP)
    structurally, then scans the raw bytes of any file for the usual identifiers, so
    a marker hidden anywhere still counts. Derivatives are JPEG; the other formats
    are there to check the checker against originals.
    """
    found: dict[str, bool | str | None] = {
        "format": None,
        "exif": False,
        "gps": False,
        "xmp": False,
        "iptc": False,
        "icc": False,
        "comment": False,
    }
    if data.startswith(b"\xff\xd8"):
        found["format"] = "JPEG"
        for marker, payload in _jpeg_segments(data):
            if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
                found["exif"] = True
                found["gps"] = found["gps"] or _tiff_has_gps(payload[6:])
            elif marker == 0xE1 and payload.startswith(b"http://ns.adobe.com/"):
                found["xmp"] = True
            elif marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
                found["icc"] = True
            elif marker == 0xED and payload.startswith(b"Photoshop 3.0\x00"):
                found["iptc"] = True
            elif marker == 0xFE:
                found["comment"] = True
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        found["format"] = "PNG"
        for chunk_type, payload in _png_chunks(data):
            if chunk_type == b"eXIf":
                found["exif"] = True
                found["gps"] = found["gps"] or _tiff_has_gps(payload)
            elif chunk_type == b"iCCP":
                found["icc"] = True
            elif chunk_type in (b"tEXt", b"zTXt", b"iTXt"):
                if payload.startswith(b"XML:com.adobe.xmp\x00"):
                    found["xmp"] = True
                else:
                    found["comment"] = True
    elif data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        found["format"] = "WEBP"
        for chunk_type, payload in _riff_chunks(data):
            if chunk_type == b"EXIF":
                found["exif"] = True
                tiff = payload[6:] if payload.startswith(b"Exif\x00\x00") else payload
                found["gps"] = found["gps"] or _tiff_has_gps(tiff)
            elif chunk_type == b"XMP ":
                found["xmp"] = True
            elif chunk_type == b"ICCP":
                found["icc"] = True
    for key, needles in _RAW_MARKERS.items():
        if any(needle in data for needle in needles):
            found[key] = True
    return found


_RAW_MARKERS = {
    "exif": (b"Exif\x00\x00",),
    "xmp": (b"http://ns.adobe.com/xap/1.0/", b"<x:xmpmeta", b"XML:com.adobe.xmp"),
    "icc": (b"ICC_PROFILE\x00",),
    "iptc": (b"Photoshop 3.0\x00",),
    "gps": (b"GPSLatitude",),
}


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield (marker, payload) for every marker segment, skipping entropy-coded data."""
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            # Inside entropy-coded data: find the next real marker.
            i = data.find(b"\xff", i)
            if i < 0:
                return
            continue
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
        elif marker == 0x00 or 0xD0 <= marker <= 0xD8 or marker == 0x01:
            i += 2
        elif marker == 0xD9:
            return
        else:
            length = int.from_bytes(data[i + 2 : i + 4], "big")
            if length < 2:
                return
            yield marker, data[i + 4 : i + 2 + length]
            i += 2 + length


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    i = 8
    while i + 8 <= len(data):
        length = int.from_bytes(data[i : i + 4], "big")
        chunk_type = data[i + 4 : i + 8]
        yield chunk_type, data[i + 8 : i + 8 + length]
        if chunk_type == b"IEND":
            return
        i += 12 + length


def _riff_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    i = 12
    while i + 8 <= len(data):
        chunk_type = data[i : i + 4]
        length = int.from_bytes(data[i + 4 : i + 8], "little")
        yield chunk_type, data[i + 8 : i + 8 + length]
        i += 8 + length + (length & 1)


def _tiff_has_gps(tiff: bytes) -> bool:
    """Whether IFD0 of a TIFF-structured EXIF block has a GPS IFD pointer (0x8825)."""
    if tiff[:4] == b"II*\x00":
        order = "<"
    elif tiff[:4] == b"MM\x00*":
        order = ">"
    else:
        return False
    try:
        (offset,) = struct.unpack(order + "I", tiff[4:8])
        (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
        for k in range(count):
            entry = offset + 2 + 12 * k
            (tag,) = struct.unpack(order + "H", tiff[entry : entry + 2])
            if tag == 0x8825:
                return True
    except struct.error:
        return False
    return False
