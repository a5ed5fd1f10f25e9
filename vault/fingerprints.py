"""Image fingerprints: the server's PDQ pipeline and checks on submitted digests.

Threat: the intimate image itself must never reach the server. Families submit only
fingerprints computed in their browser (static/js/fingerprint-worker.js): SHA-256,
MD5 and PDQ, Meta's perceptual hash used by StopNCII and industry hash-sharing. The
server runs the same PDQ pipeline over context files it does receive, so a hash from
a phone and a hash from a screenshot can be compared.

PDQ results depend on how pixels reach the hash (orientation, transparency,
downscaling), so the pipeline is fixed and named by ``PDQ_PIPELINE_VERSION``, stored
next to every hash. Both sides do exactly this:

1. Decode the image; apply its EXIF Orientation tag (as ``ImageOps.exif_transpose``
   and browsers' ``imageOrientation: "from-image"`` do). Embedded colour profiles
   are ignored on both sides.
2. Convert to 8-bit RGB; transparent and translucent pixels are composited on white
   (``out = round(c * a / 255) + 255 - a``, the browser's canvas arithmetic), so a
   transparent PNG hashes as it looks on a page.
3. Shrink by an integer factor ``k = ceil(longest side / 512)``: the last
   ``side mod k`` columns and rows (at most k - 1 pixels, fewer than 0.2 % of the
   image) are dropped and each k x k block is averaged with Pillow's
   ``Image.reduce`` rounding. Never upscaled. An exact block average is the one
   downscale JavaScript can reproduce to the bit; browser resampling
   (``createImageBitmap`` resize, ``drawImage`` scaling) differs between browsers
   and versions.
4. PDQ (``pdqhash``, the reference C++): 256-bit hash as 64 hex digits in the
   reference's order, and a quality score 0-100 (below ~50 the hash of a flat or
   tiny image is unreliable for matching).

JPEGs are decoded at full size: Pillow's ``draft()`` DCT-domain scaling would be
faster but no browser can reproduce it, and step 3 keeps the whole pipeline within
about 1.2 x of a plain decode.
"""

from __future__ import annotations

import math
import re
from os import PathLike
from typing import BinaryIO

import numpy as np
import pdqhash
from PIL import Image

PDQ_PIPELINE_VERSION = "pdq-1:exif-transpose,rgb,max512-intbox"

# Longest side handed to PDQ. Hashing at full resolution is many times slower and
# gives hashes only a few bits away.
PDQ_MAX_SIDE = 512

# Meta's recommended match threshold for PDQ: at most 31 of 256 bits differ.
SAME_IMAGE_THRESHOLD = 31

# What pdq_fingerprint_file will open; anything else is refused by Pillow.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")

_ORIENTATION_TAG = 0x0112

# EXIF orientation -> the transposition that makes the image upright (the same table
# as ImageOps.exif_transpose), and for each axis of the upright image, which raw
# axis it runs along and whether it runs forwards: (upright x -> raw axis, forwards,
# upright y -> raw axis, forwards), with 0 for the raw x axis and 1 for raw y.
_ORIENTATIONS: dict[int, tuple[Image.Transpose | None, tuple[int, bool, int, bool]]] = {
    1: (None, (0, True, 1, True)),
    2: (Image.Transpose.FLIP_LEFT_RIGHT, (0, False, 1, True)),
    3: (Image.Transpose.ROTATE_180, (0, False, 1, False)),
    4: (Image.Transpose.FLIP_TOP_BOTTOM, (0, True, 1, False)),
    5: (Image.Transpose.TRANSPOSE, (1, True, 0, True)),
    6: (Image.Transpose.ROTATE_270, (1, False, 0, True)),
    7: (Image.Transpose.TRANSVERSE, (1, False, 0, False)),
    8: (Image.Transpose.ROTATE_90, (1, True, 0, False)),
}

_EMPTY_PDQ = "0" * 64
_HEX_RE = {n: re.compile(rf"[0-9a-f]{{{n}}}") for n in (32, 64)}


def pdq_fingerprint(image: Image.Image) -> tuple[str, int]:
    """PDQ hash (64 lower-case hex digits) and quality (0-100) of ``image``.

    Follows the pipeline in the module docstring, ``PDQ_PIPELINE_VERSION``. Images
    too small to hash (a side under 5 pixels after reduction) give the all-zero
    hash with quality 0, as the reference does.
    """
    orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    transpose, axes = _ORIENTATIONS.get(orientation, _ORIENTATIONS[1])
    raw_size = image.size
    upright_size = (raw_size[axes[0]], raw_size[axes[2]])
    k = max(1, math.ceil(max(raw_size) / PDQ_MAX_SIDE))
    if upright_size[0] // k == 0 or upright_size[1] // k == 0:
        return _EMPTY_PDQ, 0

    # The upright image keeps its top-left (w // k * k) x (h // k * k) pixels. Find
    # that rectangle in the raw image, average its blocks there and transpose only
    # the small result: block averages do not care about the order of pixels in a
    # block, so this equals transposing first, without a full-size copy.
    box = [0, 0, raw_size[0], raw_size[1]]
    for upright_axis in (0, 1):
        raw_axis, forwards = axes[2 * upright_axis], axes[2 * upright_axis + 1]
        dropped = upright_size[upright_axis] % k
        if forwards:
            box[raw_axis + 2] -= dropped
        else:
            box[raw_axis] += dropped

    rgb = _rgb_on_white(image)
    reduced = rgb.reduce(k, box=tuple(box)) if k > 1 else rgb
    if transpose is not None:
        reduced = reduced.transpose(transpose)
    if reduced.mode != "RGB":
        reduced = reduced.convert("RGB")

    bits, quality = pdqhash.compute(np.asarray(reduced))
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)


def pdq_fingerprint_file(file: str | PathLike[str] | BinaryIO) -> tuple[str, int]:
    """Opens a JPEG, PNG, WebP or GIF (first frame) and returns ``pdq_fingerprint``.

    Only decodes; limits on pixel counts and decompression bombs belong to the
    caller's safe-image opener.
    """
    with Image.open(file, formats=IMAGE_FORMATS) as image:
        return pdq_fingerprint(image)


def _rgb_on_white(image: Image.Image) -> Image.Image:
    """The image as L or RGB (both reduce to the same RGB), transparency on white."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or ("transparency" in image.info)
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.uint16)
        alpha = rgba[..., 3:4]
        # The browser draws onto a white canvas: premultiply with rounding, add white.
        out = (rgba[..., :3] * alpha + 127) // 255 + (255 - alpha)
        return Image.fromarray(out.astype(np.uint8), "RGB")
    if image.mode in ("L", "RGB"):
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        # 16-bit greyscale PNG: keep the high byte, as decoders do for 8-bit output.
        grey = np.asarray(image).astype(np.int64)
        grey = np.clip(grey, 0, 65535) >> 8
        return Image.fromarray(grey.astype(np.uint8), "L")
    return image.convert("RGB")


def hamming_distance(a_hex: str, b_hex: str) -> int:
    """Number of differing bits between two PDQ hashes given as hex."""
    a = int(validate_pdq_hex(a_hex), 16)
    b = int(validate_pdq_hex(b_hex), 16)
    return (a ^ b).bit_count()


def is_same_image(a_hex: str, b_hex: str, threshold: int = SAME_IMAGE_THRESHOLD) -> bool:
    """Whether two PDQ hashes are within ``threshold`` bits: likely the same picture,
    allowing for recompression, resizing, small crops and overlays."""
    return hamming_distance(a_hex, b_hex) <= threshold


def validate_pdq_hex(value: str) -> str:
    """A PDQ hash as 64 lower-case hex digits; ``ValueError`` otherwise."""
    return _validate_hex(value, 64, "PDQ hash")


def validate_sha256_hex(value: str) -> str:
    """A SHA-256 digest as 64 lower-case hex digits; ``ValueError`` otherwise."""
    return _validate_hex(value, 64, "SHA-256 digest")


def validate_md5_hex(value: str) -> str:
    """An MD5 digest as 32 lower-case hex digits; ``ValueError`` otherwise."""
    return _validate_hex(value, 32, "MD5 digest")


def _validate_hex(value: str, length: int, name: str) -> str:
    # The value comes from a browser and is stored verbatim: no whitespace, no 0x.
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    value = value.lower()
    if not _HEX_RE[length].fullmatch(value):
        raise ValueError(f"{name} must be {length} hexadecimal digits")
    return value
