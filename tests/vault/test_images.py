"""Untrusted images: pixel floods, disguised formats, polyglots, metadata, damage, blur.

Every input here is made by the test itself: small valid seeds encoded with Pillow,
then patched byte by byte into bombs, disguises and damaged files.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
import struct
import subprocess
import sys
import time
import warnings
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageDraw, ImageFile, ImageFont
from PIL.PngImagePlugin import PngInfo

from tests.metadata_check import strip_check
from vault.images import (
    ALLOWED_FORMATS,
    MAX_PIXELS,
    ImageRejected,
    make_derivatives,
    metadata_summary,
    open_untrusted,
    sniff_format,
)

ROOT = Path(__file__).resolve().parents[2]
FLOOD_MEGAPIXELS = (50, 100, 200, 400)
METADATA_KINDS = ("exif", "gps", "xmp", "iptc", "icc", "comment")
CLEAN_JPEG = {"format": "JPEG", **dict.fromkeys(METADATA_KINDS, False)}


# ---------------------------------------------------------------------------
# Seeds and crafting helpers


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def gradient(size: tuple[int, int]) -> Image.Image:
    """A small picture with some structure, so encoders have real work to do."""
    radial = Image.radial_gradient("L").resize(size)
    linear = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (radial, linear, linear.transpose(Image.Transpose.FLIP_TOP_BOTTOM)))


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def riff_chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)


def png_bomb(width: int, height: int) -> bytes:
    """A valid IHDR declaring the size, then a few bytes of real IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def jpeg_bomb(width: int, height: int, *, progressive: bool = False) -> bytes:
    """A real 16x16 JPEG whose SOF0/SOF2 segment is patched to declare the size."""
    data = bytearray(encode(Image.new("RGB", (16, 16), "red"), "JPEG", progressive=progressive))
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC2):
            data[i + 5 : i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + length
    raise AssertionError("no SOF segment")


def gif_bomb(width: int, height: int, *, where: str) -> bytes:
    """A real 16x16 GIF with the logical screen or the first image descriptor patched."""
    data = bytearray(encode(Image.new("P", (16, 16), 1), "GIF"))
    if where == "screen":
        data[6:10] = struct.pack("<HH", width, height)
        return bytes(data)
    i = 13 + (3 * 2 ** ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while data[i] == 0x21:  # skip extensions up to the first image descriptor
        i += 2
        while data[i]:
            i += 1 + data[i]
        i += 1
    assert data[i] == 0x2C
    data[i + 5 : i + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def _vp8l_16px() -> bytes:
    data = encode(Image.new("RGB", (16, 16), "red"), "WEBP", lossless=True)
    assert data[12:16] == b"VP8L"
    return data


def webp_vp8l_bomb(width: int, height: int) -> bytes:
    """A lossless WebP with the 14-bit width/height fields of its VP8L header patched."""
    data = bytearray(_vp8l_16px())
    bits = struct.unpack("<I", data[21:25])[0] & ~((1 << 28) - 1)
    data[21:25] = struct.pack("<I", bits | (width - 1) | ((height - 1) << 14))
    return bytes(data)


def webp_vp8x_bomb(width: int, height: int) -> bytes:
    """A 16x16 lossless bitstream inside an extended container claiming a huge canvas."""
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + riff_chunk(b"VP8X", b"\x00" * 4 + canvas) + _vp8l_16px()[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def heif_bomb(width: int, height: int) -> bytes:
    """A real HEIC whose image-size (ispe) and clean-aperture (clap) boxes are patched."""
    data = bytearray(encode(gradient((64, 48)), "HEIF", quality=50))
    i = data.find(b"ispe")
    data[i + 8 : i + 16] = struct.pack(">II", width, height)
    i = data.find(b"clap")
    if i >= 0:
        data[i + 4 : i + 36] = struct.pack(">8I", width, 1, height, 1, 0, 1, 0, 1)
    return bytes(data)


def square(megapixels: int) -> tuple[int, int]:
    side = math.isqrt(megapixels * 1_000_000) + 1
    return side, side


def flood_corpus() -> list[tuple[str, bytes]]:
    corpus = []
    for mp in FLOOD_MEGAPIXELS:
        w, h = square(mp)
        corpus += [
            (f"png-ihdr-{mp}mp", png_bomb(w, h)),
            (f"jpeg-sof0-{mp}mp", jpeg_bomb(w, h)),
            (f"jpeg-sof2-{mp}mp", jpeg_bomb(w, h, progressive=True)),
            (f"gif-screen-{mp}mp", gif_bomb(w, h, where="screen")),
            (f"gif-frame-{mp}mp", gif_bomb(w, h, where="frame")),
            (f"webp-vp8x-{mp}mp", webp_vp8x_bomb(w, h)),
            (f"heif-ispe-{mp}mp", heif_bomb(w, h)),
        ]
        if mp * 1_000_000 < 16384 * 16384:  # VP8L fields are 14 bits wide
            corpus.append((f"webp-vp8l-{mp}mp", webp_vp8l_bomb(16384, mp * 1_000_000 // 16384 + 1)))
    return corpus


FLOODS = flood_corpus()


def icc_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
    b' xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Make="Canon"/></rdf:RDF></x:xmpmeta>'
)
GPS_SECONDS = (59.87, 58.77)  # distinctive, so a leak would be easy to spot


def laden_exif(orientation: int = 6) -> Image.Exif:
    """EXIF as a phone writes it: camera, dates, software, orientation, GPS position."""
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x0110] = "Canon EOS 2000D"
    exif[0x0132] = "2023:09:18 10:00:00"
    exif[0x0131] = "Firmware 1.0.0"
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = "2023:09:17 21:14:05"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (38.0, 40.0, GPS_SECONDS[0])
    gps[3], gps[4] = "W", (6.0, 24.0, GPS_SECONDS[1])
    return exif


def with_app13_iptc(jpeg: bytes) -> bytes:
    """Insert a Photoshop APP13 segment holding an IPTC caption right after SOI."""
    iptc = b"\x1c\x02\x78" + struct.pack(">H", 12) + b"Family photo"
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iptc))
    payload = b"Photoshop 3.0\x00" + resource + iptc
    return jpeg[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def laden_jpeg() -> bytes:
    """120x80 stored pixels with a red block top-left, Orientation 6, every metadata kind."""
    img = Image.new("RGB", (120, 80), "white")
    ImageDraw.Draw(img).rectangle((0, 0, 29, 19), fill="red")
    data = encode(
        img,
        "JPEG",
        quality=95,
        exif=laden_exif().tobytes(),
        icc_profile=icc_profile(),
        xmp=XMP,
        comment=b"sent by +34 600 000 000",
    )
    return with_app13_iptc(data)


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (24, 16), colour) for colour in ("red", "blue", "lime")]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def seeds() -> dict[str, bytes]:
    """Valid small files of every allowed format, several carrying metadata to damage."""
    rgba = gradient((24, 16)).convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize((24, 16)))
    info = PngInfo()
    info.add_text("Comment", "a note")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    found = {
        "jpeg-exif": encode(gradient((32, 24)), "JPEG", exif=laden_exif().tobytes(), quality=80),
        "jpeg-progressive": encode(gradient((32, 24)), "JPEG", progressive=True),
        "png-rgba-text": encode(rgba, "PNG", pnginfo=info, exif=laden_exif(3).tobytes()),
        "png-palette": encode(gradient((24, 16)).convert("P"), "PNG", transparency=0),
        "gif-animated": animated("GIF"),
        "webp-lossy": encode(gradient((32, 24)), "WEBP", quality=60, exif=laden_exif().tobytes()),
        "webp-lossless-alpha": encode(rgba, "WEBP", lossless=True),
        "webp-animated": animated("WEBP"),
    }
    if "HEIF" in ALLOWED_FORMATS:
        found["heif"] = encode(gradient((32, 24)), "HEIF", quality=50, exif=laden_exif().tobytes())
    return found


SEEDS = seeds()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


# ---------------------------------------------------------------------------
# Pixel floods


@pytest.mark.parametrize(("name", "data"), FLOODS, ids=[name for name, _ in FLOODS])
def test_it_rejects_tiny_files_declaring_huge_images_quickly(name, data):
    assert len(data) < 2048, "the flood corpus is meant to be tiny files"
    started = time.perf_counter()
    with pytest.raises(ImageRejected) as excinfo:
        open_untrusted(io.BytesIO(data))
    elapsed = time.perf_counter() - started
    assert excinfo.value.code == "too-many-pixels"
    assert elapsed < 0.5


def test_it_rejects_the_whole_flood_corpus_with_little_memory(tmp_path):
    """Run the corpus in a fresh interpreter and read its peak resident memory."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc to reset and read peak memory")
    paths = []
    for name, data in [*SEEDS.items(), *FLOODS]:
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    child = r"""
import json, sys, time
from vault.images import ImageRejected, make_derivatives, open_untrusted

def reset_peak():
    # Linux: writing 5 to clear_refs resets the peak resident set size (VmHWM).
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return peak()

def peak():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

count = int(sys.argv[1])
control = sys.argv[2]
seeds, floods = sys.argv[3 : 3 + count], sys.argv[3 + count :]
for path in seeds:  # warm up every decoder on a legitimate file first
    make_derivatives(open_untrusted(open(path, "rb")))
before = reset_peak()
results = []
for path in floods:
    started = time.perf_counter()
    try:
        open_untrusted(open(path, "rb"))
        outcome = "accepted"
    except ImageRejected as exc:
        outcome = exc.code
    results.append([path, outcome, time.perf_counter() - started])
growth = peak() - before
# Control: a real 24 MP decode must show up, or the meter above proves nothing.
before = reset_peak()
open_untrusted(open(control, "rb"))
print(json.dumps({"growth": growth, "control": peak() - before, "results": results}))
"""
    control = tmp_path / "control-24mp.jpg"
    control.write_bytes(encode(Image.new("RGB", (6000, 4000), "grey"), "JPEG"))
    completed = subprocess.run(
        [sys.executable, "-c", child, str(len(SEEDS)), str(control), *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    report = json.loads(completed.stdout)
    outcomes = Counter(outcome for _, outcome, _ in report["results"])
    slowest = max(seconds for _, _, seconds in report["results"])
    print(
        f"pixel floods: {len(FLOODS)} files declaring 50-400 MP, "
        f"outcomes {dict(outcomes)}, slowest {slowest * 1000:.1f} ms, "
        f"peak memory growth {report['growth'] / 2**20:.1f} MiB "
        f"(control, one real 24 MP decode: {report['control'] / 2**20:.0f} MiB)"
    )
    assert outcomes == {"too-many-pixels": len(FLOODS)}
    assert slowest < 0.5
    assert report["growth"] < 100 * 2**20
    assert report["control"] > 50 * 2**20


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("megapixels", [100, 200])
def test_it_escalates_pillows_own_bomb_check_when_the_cap_is_raised(fmt, megapixels):
    """A cap above Pillow's limit cannot switch Pillow's limit off, and nothing global moves."""
    w, h = square(megapixels)
    data = png_bomb(w, h) if fmt == "PNG" else jpeg_bomb(w, h)
    filters_before = list(warnings.filters)
    limit_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageRejected) as excinfo:
        open_untrusted(data, max_pixels=10**10)
    assert excinfo.value.code == "too-many-pixels"
    assert warnings.filters == filters_before
    assert limit_before == Image.MAX_IMAGE_PIXELS


def test_it_applies_the_pixel_cap_it_is_given():
    data = encode(gradient((100, 100)), "PNG")
    with pytest.raises(ImageRejected) as excinfo:
        open_untrusted(data, max_pixels=9_999)
    assert excinfo.value.code == "too-many-pixels"
    assert open_untrusted(data, max_pixels=10_000).size == (100, 100)
    assert MAX_PIXELS == 50_000_000


def test_it_rejects_files_larger_than_the_byte_limit():
    data = SEEDS["png-rgba-text"]
    with pytest.raises(ImageRejected) as excinfo:
        open_untrusted(data, max_bytes=len(data) - 1)
    assert excinfo.value.code == "too-large-file"

    class Unseekable(io.BytesIO):
        def seekable(self) -> bool:
            return False

    with pytest.raises(ImageRejected) as excinfo:
        open_untrusted(Unseekable(data), max_bytes=len(data) - 1)
    assert excinfo.value.code == "too-large-file"
    assert open_untrusted(Unseekable(data)).format == "PNG"


# ---------------------------------------------------------------------------
# Disguised and disallowed formats


def zip_file() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("photo.jpg", SEEDS["jpeg-exif"])
    return buf.getvalue()


def avif_as_mif1() -> bytes:
    """An AVIF whose major brand is the generic container brand shared with HEIF."""
    data = bytearray(encode(gradient((32, 24)), "AVIF"))
    data[8:12] = b"mif1"
    return bytes(data)


DISGUISES = [
    (
        "svg-with-script",
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
        b"<script>alert(document.cookie)</script></svg>",
        "format-not-allowed",
    ),
    (
        "svg-with-bom-and-comment",
        b'\xef\xbb\xbf  <!-- logo --><svg onload="alert(1)"/>',
        "format-not-allowed",
    ),
    (
        "html-renamed-jpg",
        b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
        "not-an-image",
    ),
    ("zip-renamed-jpg", zip_file(), "not-an-image"),
    ("pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n", "not-an-image"),
    ("windows-executable", b"MZ\x90\x00" + b"\x00" * 60, "not-an-image"),
    (
        "psd-header",
        b"8BPS\x00\x01" + b"\x00" * 6 + b"\x00\x03" + b"\x00" * 16,
        "format-not-allowed",
    ),
    ("bmp", encode(gradient((8, 8)), "BMP"), "format-not-allowed"),
    ("tiff", encode(gradient((8, 8)), "TIFF"), "format-not-allowed"),
    ("tiff-big-endian", b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 16, "format-not-allowed"),
    ("ico", encode(gradient((16, 16)), "ICO"), "format-not-allowed"),
    ("avif", encode(gradient((32, 24)), "AVIF"), "format-not-allowed"),
    ("avif-in-mif1-container", avif_as_mif1(), "format-not-allowed"),
    ("jpeg2000", b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00" * 20, "format-not-allowed"),
    ("empty", b"", "not-an-image"),
    ("three-random-bytes", random.Random(7).randbytes(3), "not-an-image"),
    ("plain-text", b"this is not an image\n", "not-an-image"),
]


@pytest.mark.parametrize(("name", "data", "code"), DISGUISES, ids=[d[0] for d in DISGUISES])
def test_it_rejects_disguised_and_disallowed_files_without_parsing_them(
    monkeypatch, name, data, code
):
    parsed = []
    monkeypatch.setattr(Image, "open", lambda *args, **kwargs: parsed.append(args))
    with pytest.raises(ImageRejected) as excinfo:
        open_untrusted(io.BytesIO(data))
    assert excinfo.value.code == code
    assert parsed == [], "Pillow must not be asked to parse a refused format"


def test_it_rejects_a_file_whose_magic_and_body_disagree():
    png = SEEDS["png-palette"]
    for data in (b"\xff\xd8\xff" + png[3:], b"GIF89a" + png[6:], b"RIFF\0\0\0\0WEBP" + png):
        with pytest.raises(ImageRejected) as excinfo:
            open_untrusted(data)
        assert excinfo.value.code == "corrupt"


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_it_sniffs_the_same_format_pillow_detects(name):
    pillow_format = Image.open(io.BytesIO(SEEDS[name])).format
    assert sniff_format(SEEDS[name][:512]) == pillow_format
    assert open_untrusted(SEEDS[name]).format == pillow_format


def test_it_allows_exactly_the_formats_it_names():
    assert set(ALLOWED_FORMATS) <= {"JPEG", "PNG", "WEBP", "GIF", "HEIF"}
    assert {"JPEG", "PNG", "WEBP", "GIF"} <= set(ALLOWED_FORMATS)
    assert "HEIF" in ALLOWED_FORMATS  # pillow-heif is a project dependency
    with pytest.raises(ValueError, match="unknown rejection code"):
        ImageRejected("server-error")


# ---------------------------------------------------------------------------
# Polyglots


@pytest.mark.parametrize("carrier", ["png-palette", "jpeg-exif"])
def test_it_never_carries_appended_html_into_the_derivatives(carrier):
    payload = b"<html><script>alert(1)</script></html>"
    img = open_untrusted(SEEDS[carrier] + payload)  # it is a valid image, so it opens
    derived = make_derivatives(img)
    for data in (derived.preview, derived.blurred):
        assert payload not in data
        assert b"<script" not in data
        assert b"<html" not in data
        assert data.endswith(b"\xff\xd9")


# ---------------------------------------------------------------------------
# Metadata


def test_it_summarises_metadata_without_revealing_the_position(tmp_path):
    original = laden_jpeg()
    assert strip_check(original) == {"format": "JPEG", **dict.fromkeys(METADATA_KINDS, True)}
    summary = metadata_summary(open_untrusted(original))

    assert summary == {
        "format": "JPEG",
        "width": 120,
        "height": 80,
        "make": "Canon",
        "model": "Canon EOS 2000D",
        "datetime_original": "2023:09:17 21:14:05",
        "datetime": "2023:09:18 10:00:00",
        "software": "Firmware 1.0.0",
        "orientation": 6,
        "exif_present": True,
        "gps_present": True,
        "xmp_present": True,
        "iptc_present": True,
        "icc_present": True,
        "comment_present": True,
    }
    serialised = json.dumps(summary)
    for seconds in GPS_SECONDS:
        assert str(seconds) not in serialised
        assert str(seconds).replace(".", "") not in serialised
    assert "600 000 000" not in serialised  # the comment's content stays out too


def test_it_strips_every_kind_of_metadata_and_leaves_the_original_untouched(tmp_path):
    path = tmp_path / "original.jpg"
    path.write_bytes(laden_jpeg())
    digest_before = hashlib.sha256(path.read_bytes()).hexdigest()

    with path.open("rb") as fp:
        img = open_untrusted(fp)
        metadata_summary(img)
        derived = make_derivatives(img)

    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest_before
    for data in (derived.preview, derived.blurred):
        assert strip_check(data) == CLEAN_JPEG
        assert decode(data).info.keys() <= {
            "jfif",
            "jfif_version",
            "jfif_unit",
            "jfif_density",
            "dpi",
            "progressive",
            "progression",
        }
    assert derived.mime == "image/jpeg"


def test_it_applies_the_orientation_before_stripping_it():
    derived = make_derivatives(open_untrusted(laden_jpeg()))
    assert derived.preview_size == (80, 120)  # stored 120x80, Orientation 6
    preview = decode(derived.preview)
    assert preview.size == (80, 120)
    # Orientation 6 means "rotate 90 degrees clockwise to display": the red block
    # stored top-left must now be top-right.
    red, green, blue = preview.getpixel((75, 5))
    assert red > 200 and green < 60 and blue < 60
    assert preview.getpixel((5, 5)) > (200, 200, 200)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "HEIF"])
def test_it_reports_and_strips_metadata_in_other_formats(fmt):
    if fmt == "PNG":
        info = PngInfo()
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        info.add_text("Comment", "our address")
        params = {"pnginfo": info}
    else:
        params = {"xmp": XMP}
    data = encode(
        gradient((60, 40)), fmt, exif=laden_exif(1).tobytes(), icc_profile=icc_profile(), **params
    )
    summary = metadata_summary(open_untrusted(data))
    assert summary["format"] == fmt
    assert summary["make"] == "Canon"
    assert summary["gps_present"] is True
    assert summary["xmp_present"] is True
    assert summary["icc_present"] is True
    assert summary["comment_present"] is (fmt == "PNG")
    derived = make_derivatives(open_untrusted(data))
    assert strip_check(derived.preview) == CLEAN_JPEG


def test_it_truncates_long_strings_in_the_summary():
    exif = Image.Exif()
    exif[0x010F] = "A" * 5000
    exif[0x0131] = "\x00\x00"
    summary = metadata_summary(open_untrusted(encode(gradient((8, 8)), "JPEG", exif=exif)))
    assert summary["make"] == "A" * 100
    assert summary["software"] is None
    assert summary["gps_present"] is False


# ---------------------------------------------------------------------------
# Truncated and bit-flipped files


def process(data: bytes) -> str:
    """Open, summarise and derive; return the outcome. Any other exception escapes."""
    try:
        img = open_untrusted(data, max_pixels=2_000_000)
        json.dumps(metadata_summary(img))
        make_derivatives(img)
    except ImageRejected as exc:
        return exc.code
    return "ok"


def test_it_rejects_truncated_files_as_corrupt():
    for name in ("png-rgba-text", "jpeg-progressive", "webp-lossy", "heif"):
        data = SEEDS[name]
        assert process(data) == "ok"
        assert process(data[: len(data) // 2]) == "corrupt", name


def test_it_refuses_to_run_when_truncated_images_are_allowed(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        open_untrusted(SEEDS["png-palette"])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_it_survives_every_truncation_of_every_seed():
    """Every prefix of every seed: rejected, or decoded exactly as the whole file.

    A prefix may legitimately decode when all the first frame needs is there (a PNG
    missing only its IEND, a GIF missing only later frames); it must then give the
    same pixels as the complete file, never a half-grey picture.
    """
    tally = Counter()
    for data in SEEDS.values():
        whole = make_derivatives(open_untrusted(data)).preview
        for cut in range(len(data)):
            outcome = process(data[:cut])
            tally[outcome] += 1
            if outcome == "ok":
                assert make_derivatives(open_untrusted(data[:cut])).preview == whole
    tried = sum(tally.values())
    print(f"truncation sweep: {tried} inputs tried, 0 unexpected exceptions; {dict(tally)}")


@st.composite
def damaged_files(draw):
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[name])
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    for position, bit in draw(
        st.lists(st.tuples(st.integers(0, 2**16), st.integers(0, 7)), max_size=8)
    ):
        if data:
            data[position % len(data)] ^= 1 << bit
    return bytes(data)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about damaged EXIF
def test_it_only_ever_decodes_or_rejects_damaged_files():
    tally = Counter()

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(damaged_files())
    def check(data):
        tally[process(data)] += 1

    check()
    print(f"fuzzing: {sum(tally.values())} inputs tried, 0 unexpected exceptions; {dict(tally)}")
    assert sum(tally.values()) >= 200


# ---------------------------------------------------------------------------
# Derivatives


def high_frequency_share(img: Image.Image, cutoff: float = 1 / 16) -> float:
    """Share of spectral energy above ``cutoff`` cycles per pixel.

    Mean removed and a Hann window applied: the FFT treats the picture as periodic,
    and the jump between opposite edges would otherwise count as detail.
    """
    grey = np.asarray(img.convert("L"), dtype=np.float64)
    grey = (grey - grey.mean()) * np.outer(np.hanning(grey.shape[0]), np.hanning(grey.shape[1]))
    spectrum = np.abs(np.fft.fft2(grey)) ** 2
    fy = np.fft.fftfreq(grey.shape[0])[:, None]
    fx = np.fft.fftfreq(grey.shape[1])[None, :]
    high = np.hypot(fx, fy) > cutoff
    return float(spectrum[high].sum() / max(spectrum.sum(), 1e-12))


def checkerboard_with_text(size: tuple[int, int]) -> Image.Image:
    # 4-pixel squares: a period of 8 pixels, well above the 1/16 cycles-per-pixel cutoff.
    board = ((np.indices((size[1], size[0])) // 4).sum(axis=0) % 2 * 255).astype(np.uint8)
    img = Image.fromarray(board).convert("RGB")
    draw = ImageDraw.Draw(img)
    draw.rectangle((40, 40, size[0] - 40, 220), fill="white")
    draw.text((60, 60), "Lucia 14 - Almendralejo", fill="black", font=ImageFont.load_default(96))
    return img


def test_it_makes_a_blurred_derivative_nothing_can_be_read_from():
    original = checkerboard_with_text((1024, 768))
    derived = make_derivatives(open_untrusted(encode(original, "PNG")))
    blurred = decode(derived.blurred)
    assert blurred.size == derived.blurred_size == (512, 384)

    reference = original.resize(blurred.size, Image.Resampling.NEAREST)
    difference = np.abs(
        np.asarray(reference.convert("L"), dtype=np.float64)
        - np.asarray(blurred.convert("L"), dtype=np.float64)
    )
    laplacian = np.abs(np.diff(np.asarray(blurred.convert("L"), dtype=np.float64), 2, axis=1))

    print(
        f"blur: mean abs difference {difference.mean():.1f}, high-frequency share "
        f"{high_frequency_share(reference):.3f} -> {high_frequency_share(blurred):.6f}, "
        f"mean |laplacian| {laplacian.mean():.3f}"
    )
    assert difference.mean() > 90
    assert high_frequency_share(reference) > 0.5
    assert high_frequency_share(blurred) < 0.001
    assert laplacian.mean() < 0.5

    # Where the text was (black strokes on white), only a faint smudge remains.
    x0, y0, x1, y1 = 40, 35, 470, 95
    text_area = np.asarray(blurred.convert("L"), dtype=np.float64)[y0:y1, x0:x1]
    sharp_area = np.asarray(original.convert("L").resize(blurred.size, Image.Resampling.BOX))
    assert sharp_area[y0:y1, x0:x1].std() > 60
    assert text_area.std() < 12
    assert text_area.min() > 150


def test_it_keeps_the_preview_sharp_and_bounded():
    original = checkerboard_with_text((3000, 1500))
    derived = make_derivatives(open_untrusted(encode(original, "PNG")))
    preview = decode(derived.preview)
    assert preview.size == derived.preview_size == (2048, 1024)
    assert derived.blurred_size == (512, 256)
    small = make_derivatives(open_untrusted(encode(checkerboard_with_text((800, 600)), "PNG")))
    assert small.preview_size == (800, 600)  # never upscaled
    assert high_frequency_share(decode(small.preview)) > 0.5


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "I;16"])
def test_it_makes_derivatives_from_every_pixel_mode(mode):
    if mode == "I;16":
        data = encode(Image.new("I;16", (30, 20), 1000), "PNG")
    else:
        img = gradient((30, 20)).convert("RGBA").convert(mode)
        data = encode(img, {"CMYK": "JPEG", "PA": "WEBP"}.get(mode, "PNG"), lossless=True)
    derived = make_derivatives(open_untrusted(data))
    assert decode(derived.preview).mode == "RGB"
    assert derived.preview_size == (30, 20)


@pytest.mark.parametrize("size", [(20_000, 1), (1, 20_000), (1, 1)])
def test_it_makes_derivatives_of_extreme_shapes(size):
    derived = make_derivatives(open_untrusted(encode(Image.new("L", size, 90), "PNG")))
    assert max(derived.preview_size) == min(max(size), 2048)
    assert max(derived.blurred_size) == 512
    assert min(derived.preview_size) >= 1 and min(derived.blurred_size) >= 1


def test_it_composites_transparency_on_white():
    clear = Image.new("RGBA", (40, 30), (255, 0, 0, 0))
    half = Image.new("RGBA", (40, 30), (0, 0, 0, 128))
    for img, expected in ((clear, 255), (half, 127)):
        preview = decode(make_derivatives(open_untrusted(encode(img, "PNG"))).preview)
        r, g, b = preview.getpixel((20, 15))
        assert abs(r - expected) <= 3 and abs(g - expected) <= 3 and abs(b - expected) <= 3
    palette = decode(make_derivatives(open_untrusted(SEEDS["png-palette"])).preview)
    assert palette.mode == "RGB"


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_it_shows_only_the_first_frame_of_an_animation(fmt):
    derived = make_derivatives(open_untrusted(animated(fmt)))
    r, g, b = decode(derived.preview).getpixel((12, 8))
    assert r > 200 and g < 60 and b < 60  # red: frame one, not blue or green


def test_it_scales_sixteen_bit_grey_instead_of_clipping():
    img = Image.new("I;16", (32, 32), 32768)
    data = encode(img, "PNG")
    assert decode(data).mode == "I;16"
    preview = decode(make_derivatives(open_untrusted(data)).preview)
    assert abs(preview.getpixel((16, 16))[0] - 128) <= 3

    grey = np.full((32, 32), 32768, dtype=np.uint16)
    grey[:, :16] = 1000  # left half: the tRNS grey level, so transparent
    img = Image.fromarray(grey)
    preview = decode(
        make_derivatives(open_untrusted(encode(img, "PNG", transparency=1000))).preview
    )
    assert preview.getpixel((4, 16)) >= (250, 250, 250)
    assert abs(preview.getpixel((28, 16))[0] - 128) <= 3


def test_it_decodes_heif_photos():
    img = open_untrusted(SEEDS["heif"])
    assert img.format == "HEIF"
    # Stored 32x24 with Orientation 6: libheif turns it once, and only once.
    assert metadata_summary(img)["orientation"] == 6
    derived = make_derivatives(img)
    assert derived.preview_size == (24, 32)
    assert strip_check(derived.preview) == CLEAN_JPEG


def test_it_checks_originals_for_metadata_too():
    assert strip_check(b"") == {**CLEAN_JPEG, "format": None}
    for name in ("jpeg-exif", "png-rgba-text", "webp-lossy"):
        found = strip_check(SEEDS[name])
        assert found["exif"] is True and found["gps"] is True, name
    assert strip_check(SEEDS["png-rgba-text"])["xmp"] is True
    assert strip_check(SEEDS["png-rgba-text"])["comment"] is True
