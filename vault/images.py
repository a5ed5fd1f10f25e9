"""Opening untrusted images and making safe derivatives of them.

Families upload context files (screenshots of chats and threats, profile pages).
Any of them may be hostile, by design or by accident. This module is the only place
that decodes them, and it runs in the worker, never in the web process. It knows
nothing of Django, cases or people: it takes bytes or a binary file object and
returns a Pillow image, a JSON-safe metadata summary, or re-encoded derivatives.

Threats and the choice made against each:

* **Decompression bombs / pixel floods.** A 60-byte PNG can declare 400 megapixels,
  and decoding it would allocate gigabytes. Pillow only *warns* below twice its own
  ``MAX_IMAGE_PIXELS``. We cap pixels far lower (``MAX_PIXELS``, 50 MP), check the
  declared size from the header bytes ourselves for PNG, GIF and WebP (libwebp
  allocates the whole canvas when its decoder is created, so the check must come
  before Pillow), check ``width * height`` again after ``Image.open`` (which only
  reads headers) and before ``load()``, and escalate ``DecompressionBombWarning`` to
  an error inside a ``warnings.catch_warnings()`` block so no global state changes.
  The effective cap is therefore ``min(max_pixels, Image.MAX_IMAGE_PIXELS)``.
* **Animations.** Only the first frame is ever decoded; we never seek. Later frames
  of a GIF, APNG, animated WebP or HEIF sequence are not examined at all, so a
  thousand-frame flood costs no more than its first frame. Derivatives show the
  first frame only.
* **Disguised formats.** An SVG (script), HTML, PDF, PSD or ZIP renamed ``.jpg``
  must never reach a parser. We never look at names or declared content types:
  magic bytes decide (``sniff_format``), anything not on the allow-list is refused
  before Pillow is called, and Pillow is then asked to try *only* the sniffed
  format (``Image.open(fp, formats=[…])``), so the sniffed format and the format
  Pillow decodes are the same.
* **Polyglots.** A valid PNG with HTML appended passes any image parser. We accept
  it as an image (it is one) but only ever show re-encoded derivatives, which are
  built from decoded pixels and so cannot carry the appended bytes. Serving the
  original inline is forbidden elsewhere (attachment, ``nosniff``, CSP sandbox).
* **Metadata leakage.** EXIF (GPS coordinates, camera serials, dates), XMP, IPTC,
  ICC profiles and comments can identify a child or a family. The original is kept
  untouched (encrypted elsewhere) because its metadata can be evidence; the
  derivatives are new images made from pixel data only (``Image.new`` + ``paste``),
  saved with ``exif=b""`` and no ICC profile. EXIF orientation is applied to the
  pixels first, so stripping does not leave the picture on its side.
  ``metadata_summary`` tells staff *that* GPS data exists, never where.
* **Truncated and corrupt files.** ``ImageFile.LOAD_TRUNCATED_IMAGES`` must be off
  (we refuse to run otherwise) so a truncated file is an error, not a half-grey
  image presented as evidence. Every failure inside Pillow becomes
  ``ImageRejected("corrupt")``: callers see one exception type with a code they map
  to a translated message, never a crash.

Colour: derivatives are plain 8-bit sRGB-assumed JPEG; transparency is composited on
white and 16-bit greys are scaled, not clipped. Exact colour is the original's job.

The ``warnings`` filter is process-global while the ``catch_warnings`` block runs;
the worker runs one task per process (prefork), so this is safe there.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageFile, ImageFilter, ImageMath

try:
    import pillow_heif

    # Only the primary image is wanted: skip thumbnails, depth maps and auxiliary
    # images so fewer embedded images are parsed at all.
    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    _HEIF_AVAILABLE = True
except Exception:  # pragma: no cover - depends on the platform's wheels
    _HEIF_AVAILABLE = False

ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "GIF") + (
    ("HEIF",) if _HEIF_AVAILABLE else ()
)
MAX_PIXELS = 50_000_000
MAX_BYTES = 64 * 1024 * 1024

PREVIEW_MAX_SIDE = 2048
PREVIEW_QUALITY = 85
BLUR_SMALL_SIDE = 64
BLUR_SMALL_RADIUS = 3
BLUR_MAX_SIDE = 512
BLUR_LARGE_RADIUS = 8
BLUR_QUALITY = 75
DERIVATIVE_MIME = "image/jpeg"

SUMMARY_TEXT_LIMIT = 100

# How much of the file sniff_format looks at: enough for every magic number and for
# the start of an SVG after an XML declaration or comment.
HEAD_BYTES = 512

REJECTION_CODES = (
    "not-an-image",
    "format-not-allowed",
    "too-many-pixels",
    "corrupt",
    "too-large-file",
)


class ImageRejected(Exception):
    """An upload we will not decode. ``code`` is one of ``REJECTION_CODES``.

    The message never contains file content, so it is safe to log.
    """

    def __init__(self, code: str) -> None:
        if code not in REJECTION_CODES:
            raise ValueError(f"unknown rejection code {code!r}")
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Derivatives:
    """Re-encoded, metadata-free renderings of an image's first frame."""

    preview: bytes
    blurred: bytes
    mime: str
    preview_size: tuple[int, int]
    blurred_size: tuple[int, int]


# HEIF brands pillow_heif opens; AVIF brands are recognised but not allowed.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_CONTAINER_BRANDS = {b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def sniff_format(head: bytes) -> str | None:
    """Name the image format from the file's first bytes, without parsing it.

    Returns a Pillow format name for allowed formats, an informative name for image
    formats we recognise but refuse (``"BMP"``, ``"TIFF"``, ``"PSD"``, ``"SVG"``,
    ``"AVIF"``, ``"ICO"``, ``"JPEG2000"``, ``"JPEGXL"``), and ``None`` for
    everything else (HTML, PDF, ZIP, text, empty or random bytes).
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head[4:8] == b"ftyp":
        return _sniff_isobmff(head)
    if head.startswith(b"BM"):
        return "BMP"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "TIFF"
    if head.startswith(b"8BPS"):
        return "PSD"
    if head.startswith(b"\x00\x00\x01\x00"):
        return "ICO"
    if head.startswith((b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51")):
        return "JPEG2000"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL ")):
        return "JPEGXL"
    if _looks_like_svg(head):
        return "SVG"
    return None


def _sniff_isobmff(head: bytes) -> str | None:
    """HEIF or AVIF from an ISO-BMFF ``ftyp`` box (major and compatible brands)."""
    major = head[8:12]
    box_size = int.from_bytes(head[0:4], "big")
    compatible = {head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
    if major in _AVIF_BRANDS:
        return "AVIF"
    if major in _HEIF_BRANDS:
        return "HEIF"
    if major in _HEIF_CONTAINER_BRANDS:
        # A generic container: AVIF if it only claims AV1 brands.
        if compatible & _AVIF_BRANDS and not compatible & _HEIF_BRANDS:
            return "AVIF"
        return "HEIF"
    return None


def _looks_like_svg(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith(b"<") and b"<svg" in text


def _declared_size(fmt: str, head: bytes) -> tuple[int, int] | None:
    """Width and height as declared in the first bytes, for formats where that is cheap.

    JPEG and HEIF declare their size after variable-length segments; Pillow reads
    those headers without allocating pixels, so the post-open check covers them.
    """
    if fmt == "PNG" and head[12:16] == b"IHDR" and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if fmt == "GIF" and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if fmt == "WEBP" and len(head) >= 30:
        chunk = head[12:16]
        if chunk == b"VP8X":
            return (
                1 + int.from_bytes(head[24:27], "little"),
                1 + int.from_bytes(head[27:30], "little"),
            )
        if chunk == b"VP8L" and head[20] == 0x2F:
            bits = int.from_bytes(head[21:25], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
            return (
                int.from_bytes(head[26:28], "little") & 0x3FFF,
                int.from_bytes(head[28:30], "little") & 0x3FFF,
            )
    return None


def _as_seekable(fp: BinaryIO | bytes, max_bytes: int) -> BinaryIO:
    """A seekable file positioned at 0, refusing anything larger than ``max_bytes``."""
    if isinstance(fp, (bytes, bytearray, memoryview)):
        fp = io.BytesIO(bytes(fp))
    elif not (hasattr(fp, "seekable") and fp.seekable()):
        data = fp.read(max_bytes + 1)
        fp = io.BytesIO(data)
    fp.seek(0, io.SEEK_END)
    size = fp.tell()
    fp.seek(0)
    if size > max_bytes:
        raise ImageRejected("too-large-file")
    return fp


def open_untrusted(
    fp: BinaryIO | bytes, *, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES
) -> Image.Image:
    """Open and fully decode the first frame of an untrusted image, or raise ImageRejected.

    ``fp`` is read from its beginning and is not closed. Order of checks, cheapest
    first: file size; magic bytes against the allow-list; header-declared size
    (PNG, GIF, WebP); Pillow's header parse restricted to the sniffed format, with
    its bomb warning escalated; ``width * height`` against ``max_pixels``; then the
    decode itself. Raises ``RuntimeError`` if ``LOAD_TRUNCATED_IMAGES`` has been
    switched on, because truncated evidence would then decode silently.
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES must stay False")
    fp = _as_seekable(fp, max_bytes)
    head = fp.read(HEAD_BYTES)
    fp.seek(0)

    fmt = sniff_format(head)
    if fmt is None:
        raise ImageRejected("not-an-image")
    if fmt not in ALLOWED_FORMATS:
        raise ImageRejected("format-not-allowed")
    declared = _declared_size(fmt, head)
    if declared is not None and declared[0] * declared[1] > max_pixels:
        raise ImageRejected("too-many-pixels")

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(fp, formats=[fmt])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("too-many-pixels") from exc
        except Exception as exc:  # every parser failure is the file's fault
            raise ImageRejected("corrupt") from exc

        # A JPEG carrying a multi-picture index opens as MPO; it is still a JPEG.
        detected = "JPEG" if img.format == "MPO" else img.format
        if detected != fmt:
            raise ImageRejected("corrupt")
        width, height = img.size
        if width < 1 or height < 1:
            raise ImageRejected("corrupt")
        if width * height > max_pixels:
            raise ImageRejected("too-many-pixels")

        try:
            img.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected("too-many-pixels") from exc
        except MemoryError as exc:
            raise ImageRejected("too-many-pixels") from exc
        except Exception as exc:
            raise ImageRejected("corrupt") from exc
    return img


def metadata_summary(img: Image.Image) -> dict[str, str | int | bool | None]:
    """A JSON-safe summary of what the original carries, for staff to see.

    Reports *whether* GPS, XMP, IPTC, ICC or comments are present, never their
    content; camera make/model, dates and software are short strings (at most
    ``SUMMARY_TEXT_LIMIT`` characters). Malformed metadata yields ``None`` fields,
    never an exception. Width and height are as stored, except for HEIF, where
    libheif has already applied the rotation (``orientation`` still says what the
    file asked for).
    """
    info = img.info
    exif = _safe_exif(img)
    exif_ifd = _safe_ifd(exif, 0x8769)
    gps_ifd = _safe_ifd(exif, 0x8825)
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp") or b""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", "replace")

    orientation = info.get("original_orientation")  # HEIF: pillow_heif moved it here
    if orientation is None and exif is not None:
        orientation = _safe_get(exif, 0x0112)
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = None

    png_text = getattr(img, "text", None) if img.format == "PNG" else None
    comments = [k for k in (png_text or {}) if k != "XML:com.adobe.xmp"]
    return {
        "format": "JPEG" if img.format == "MPO" else img.format,
        "width": img.width,
        "height": img.height,
        "make": _short_text(_safe_get(exif, 0x010F)),
        "model": _short_text(_safe_get(exif, 0x0110)),
        "datetime_original": _short_text(_safe_get(exif_ifd, 0x9003)),
        "datetime": _short_text(_safe_get(exif, 0x0132)),
        "software": _short_text(_safe_get(exif, 0x0131)),
        "orientation": orientation,
        "exif_present": bool(info.get("exif")) or bool(exif),
        "gps_present": bool(gps_ifd)
        or (exif is not None and _safe_get(exif, 0x8825) is not None)
        or b"GPSLatitude" in xmp,
        "xmp_present": bool(xmp),
        "iptc_present": bool(info.get("photoshop")),
        "icc_present": bool(info.get("icc_profile")),
        "comment_present": bool(info.get("comment")) or bool(comments),
    }


def _safe_exif(img: Image.Image) -> Image.Exif | None:
    try:
        exif = img.getexif()
    except Exception:
        return None
    return exif or None


def _safe_ifd(exif: Image.Exif | None, tag: int) -> dict | None:
    if exif is None:
        return None
    try:
        return exif.get_ifd(tag) or None
    except Exception:
        return None


def _safe_get(mapping: Mapping[int, object] | None, tag: int) -> object:
    try:
        return mapping.get(tag) if mapping is not None else None
    except Exception:
        return None


def _short_text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value[:SUMMARY_TEXT_LIMIT] or None


# The same mapping as ImageOps.exif_transpose, applied to pixels only, so that a
# malformed EXIF block cannot stop a derivative from being made.
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_WIDE_GREY_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


def make_derivatives(img: Image.Image) -> Derivatives:
    """Preview and blurred JPEGs of the first frame, carrying pixels and nothing else.

    The preview is full quality, longest side at most ``PREVIEW_MAX_SIDE``. The
    blurred one is shrunk to ``BLUR_SMALL_SIDE`` pixels, blurred, enlarged to at most
    ``BLUR_MAX_SIDE`` and blurred again: shapes and colours survive, faces and text
    do not. Both are encoded from a new image, so no EXIF, XMP, ICC profile, comment
    or trailing bytes of the original can carry over. Pillow errors on odd pixel
    data become ``ImageRejected`` like everything else.
    """
    try:
        return _make_derivatives(img)
    except MemoryError as exc:
        raise ImageRejected("too-many-pixels") from exc
    except (OSError, ValueError) as exc:
        raise ImageRejected("corrupt") from exc


def _make_derivatives(img: Image.Image) -> Derivatives:
    clean = _pixels_only(img)
    transpose = _ORIENTATION_TRANSPOSE.get(_orientation_of(img))
    if transpose is not None:
        clean = clean.transpose(transpose)

    preview = clean
    preview.thumbnail((PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE), Image.Resampling.LANCZOS)

    small = preview.copy()
    small.thumbnail((BLUR_SMALL_SIDE, BLUR_SMALL_SIDE), Image.Resampling.BOX)
    small = small.filter(ImageFilter.GaussianBlur(BLUR_SMALL_RADIUS))
    scale = BLUR_MAX_SIDE / max(small.size)
    blurred_size = (max(1, round(small.width * scale)), max(1, round(small.height * scale)))
    blurred = small.resize(blurred_size, Image.Resampling.BICUBIC)
    blurred = blurred.filter(ImageFilter.GaussianBlur(BLUR_LARGE_RADIUS))

    return Derivatives(
        preview=_encode_jpeg(preview, PREVIEW_QUALITY),
        blurred=_encode_jpeg(blurred, BLUR_QUALITY),
        mime=DERIVATIVE_MIME,
        preview_size=preview.size,
        blurred_size=blurred.size,
    )


def _orientation_of(img: Image.Image) -> int:
    # pillow_heif has already applied HEIF transforms and reset the EXIF tag to 1.
    value = _safe_get(_safe_exif(img), 0x0112)
    return value if isinstance(value, int) else 1


def _pixels_only(img: Image.Image) -> Image.Image:
    """A new RGB image holding only the decoded pixels; alpha composited on white."""
    mask = None
    if img.mode in _WIDE_GREY_MODES:
        # 16/32-bit grey: scale to 8 bits rather than clip everything above 255.
        wide = img.convert("I")
        src = wide.point(lambda v: v * (1 / 256)).convert("L")
        key = img.info.get("transparency")
        if isinstance(key, int):  # a tRNS grey level marks transparent pixels
            mask = ImageMath.lambda_eval(lambda a: (a["wide"] != key) * 255, wide=wide)
            mask = mask.convert("L")
    elif img.mode in _ALPHA_MODES or "transparency" in img.info:
        src = img.convert("RGBA")
        mask = src.getchannel("A")
    else:
        src = img if img.mode == "RGB" else img.convert("RGB")
    clean = Image.new("RGB", src.size, "white")
    clean.paste(src, (0, 0), mask)
    return clean


def _encode_jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=True, exif=b"")
    return buf.getvalue()
