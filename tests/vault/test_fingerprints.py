"""The server's PDQ pipeline and the digest helpers (vault/fingerprints.py)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from vault.fingerprints import (
    PDQ_PIPELINE_VERSION,
    SAME_IMAGE_THRESHOLD,
    hamming_distance,
    is_same_image,
    pdq_fingerprint,
    pdq_fingerprint_file,
    validate_md5_hex,
    validate_pdq_hex,
    validate_sha256_hex,
)

ROOT = Path(__file__).resolve().parents[2]
ORIENTATION = 0x0112


def photo(width: int, height: int, seed: int) -> Image.Image:
    """A photo-like image: 1/f noise (the spectrum of natural scenes) and a few shapes."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    amplitude = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / max(width, height)) ** 1.1
    channels = []
    for _ in range(3):
        spectrum = amplitude * np.exp(2j * np.pi * rng.random(amplitude.shape))
        field = np.fft.irfft2(spectrum, s=(height, width))
        channels.append((field - field.mean()) / field.std())
    mix = rng.normal(0, 0.3, (3, 3)) + np.eye(3)
    pixels = np.einsum("ij,jhw->hwi", mix, np.array(channels)) * 45 + 128
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = int(rng.integers(0, width * 3 // 4)), int(rng.integers(0, height * 3 // 4))
        size = int(rng.integers(min(width, height) // 8, min(width, height) // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        draw.ellipse([x, y, x + size, y + size], fill=colour)
    return image


def encoded(image: Image.Image, fmt: str = "JPEG", **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    buffer.seek(0)
    return Image.open(buffer)


def reference_pdq(image: Image.Image) -> tuple[str, int]:
    """The pipeline written the obvious (slower) way: transpose, convert, reduce."""
    upright = ImageOps.exif_transpose(image).convert("RGB")
    width, height = upright.size
    k = -(-max(width, height) // 512)
    if k > 1:
        upright = upright.reduce(k, box=(0, 0, width // k * k, height // k * k))
    bits, quality = pdqhash.compute(np.asarray(upright))
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)


@pytest.fixture(scope="module")
def landscape() -> Image.Image:
    return photo(1283, 771, seed=1)


# ---------------------------------------------------------------- pipeline


def test_it_returns_64_lower_case_hex_digits_and_a_quality(landscape):
    pdq, quality = pdq_fingerprint(landscape)
    assert re.fullmatch(r"[0-9a-f]{64}", pdq)
    assert 0 <= quality <= 100
    assert quality >= 50  # a detailed photo is well above PDQ's "usable" line


def test_it_is_deterministic(landscape, tmp_path):
    path = tmp_path / "photo.png"
    landscape.save(path)
    first = pdq_fingerprint(landscape)
    assert pdq_fingerprint(landscape) == first
    assert pdq_fingerprint(landscape.copy()) == first
    assert pdq_fingerprint_file(path) == first
    with path.open("rb") as fileobj:
        assert pdq_fingerprint_file(fileobj) == first


def test_it_follows_the_versioned_pipeline_exactly(landscape):
    assert PDQ_PIPELINE_VERSION == "pdq-1:exif-transpose,rgb,max512-intbox"
    assert pdq_fingerprint(landscape) == reference_pdq(landscape)


def test_it_does_not_upscale_small_images():
    small = photo(200, 120, seed=2)
    bits, quality = pdqhash.compute(np.asarray(small))
    expected = np.packbits(bits.astype(np.uint8)).tobytes().hex()
    assert pdq_fingerprint(small) == (expected, quality)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_it_applies_every_exif_orientation_like_exif_transpose(landscape, orientation):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    tagged = encoded(landscape, "PNG", exif=exif)
    assert tagged.getexif()[ORIENTATION] == orientation
    assert pdq_fingerprint(tagged) == reference_pdq(encoded(landscape, "PNG", exif=exif))


@pytest.mark.parametrize(
    ("orientation", "stored_as"),
    [(6, Image.Transpose.ROTATE_90), (8, Image.Transpose.ROTATE_270)],
)
def test_a_rotated_jpeg_with_its_orientation_tag_hashes_like_the_upright_one(
    orientation, stored_as
):
    # Phones store pixels sideways and tag them; the upright picture is what matters.
    upright = photo(1024, 768, seed=3)
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    sideways = encoded(upright.transpose(stored_as), quality=90, exif=exif)
    assert sideways.size == (768, 1024)
    upright_pdq, _ = pdq_fingerprint(encoded(upright, quality=90))
    assert hamming_distance(pdq_fingerprint(sideways)[0], upright_pdq) <= 6
    untagged = encoded(upright.transpose(stored_as), quality=90)
    assert hamming_distance(pdq_fingerprint(untagged)[0], upright_pdq) > SAME_IMAGE_THRESHOLD


def test_it_composites_transparency_on_white():
    opaque = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(opaque).rectangle([40, 30, 160, 150], fill=(200, 20, 60))
    ImageDraw.Draw(opaque).ellipse([150, 60, 280, 190], fill=(20, 60, 200))
    transparent = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    ImageDraw.Draw(transparent).rectangle([40, 30, 160, 150], fill=(200, 20, 60, 255))
    ImageDraw.Draw(transparent).ellipse([150, 60, 280, 190], fill=(20, 60, 200, 255))
    assert pdq_fingerprint(transparent) == pdq_fingerprint(opaque)
    assert pdq_fingerprint(encoded(transparent, "PNG")) == pdq_fingerprint(opaque)
    gif = encoded(transparent, "GIF")
    assert gif.mode == "P" and "transparency" in gif.info
    assert pdq_fingerprint(gif) == pdq_fingerprint(opaque)


def test_greyscale_and_palette_images_hash_like_their_rgb_versions(landscape):
    grey = landscape.convert("L")
    assert pdq_fingerprint(grey) == pdq_fingerprint(grey.convert("RGB"))
    palette = landscape.convert("P", palette=Image.Palette.ADAPTIVE)
    assert pdq_fingerprint(palette) == pdq_fingerprint(palette.convert("RGB"))


def test_sixteen_bit_greyscale_keeps_the_high_byte():
    high = np.asarray(photo(300, 200, seed=4).convert("L"), dtype=np.uint16)
    sixteen = Image.fromarray(high * 256 + 77)
    assert sixteen.mode.startswith("I;16")
    assert pdq_fingerprint(sixteen) == pdq_fingerprint(Image.fromarray(high.astype(np.uint8)))


def test_images_too_small_to_hash_give_the_empty_hash():
    assert pdq_fingerprint(Image.new("RGB", (4, 40), "red")) == ("0" * 64, 0)
    # 3000 x 3 shrinks by 6 to 500 x 0.
    assert pdq_fingerprint(Image.new("RGB", (3000, 3), "red")) == ("0" * 64, 0)


def test_a_flat_image_has_zero_quality():
    assert pdq_fingerprint(Image.new("RGB", (640, 480), (90, 120, 30)))[1] == 0


def test_it_opens_only_jpeg_png_webp_and_gif(tmp_path, landscape):
    for fmt in ("JPEG", "PNG", "WEBP", "GIF"):
        path = tmp_path / f"image.{fmt.lower()}"
        landscape.save(path, fmt)
        pdq, _ = pdq_fingerprint_file(path)
        assert hamming_distance(pdq, pdq_fingerprint(landscape)[0]) <= SAME_IMAGE_THRESHOLD
    for fmt in ("BMP", "TIFF"):
        path = tmp_path / f"image.{fmt.lower()}"
        landscape.save(path, fmt)
        with pytest.raises(UnidentifiedImageError):
            pdq_fingerprint_file(path)


def test_it_takes_well_under_twice_a_plain_decode(tmp_path):
    # The budget is 1.5 x; measured ~1.0-1.2 x. This is a loose guard against
    # accidental full-size copies, not a benchmark.
    import time

    path = tmp_path / "big.jpg"
    photo(2400, 1800, seed=5).save(path, quality=90)

    def best_of(fn, runs=5):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    def decode():
        with Image.open(path) as image:
            image.load()

    assert best_of(lambda: pdq_fingerprint_file(path)) < 2 * best_of(decode)


# ---------------------------------------------------------------- matching


def test_a_slight_crop_and_recompression_is_the_same_image():
    original = photo(1000, 750, seed=6)
    original_pdq, _ = pdq_fingerprint(original)
    cropped = encoded(original.crop((5, 4, 995, 746)), quality=75)
    smaller = encoded(original.resize((640, 480)), quality=75)
    for variant in (cropped, smaller):
        variant_pdq, _ = pdq_fingerprint(variant)
        assert hamming_distance(original_pdq, variant_pdq) <= SAME_IMAGE_THRESHOLD
        assert is_same_image(original_pdq, variant_pdq)


def test_an_unrelated_image_is_not_the_same_image():
    first, _ = pdq_fingerprint(photo(1000, 750, seed=7))
    for seed in (8, 9, 10):
        other, _ = pdq_fingerprint(photo(1000, 750, seed=seed))
        assert hamming_distance(first, other) > SAME_IMAGE_THRESHOLD
        assert not is_same_image(first, other)


def test_the_threshold_is_inclusive_and_can_be_tightened():
    zero = "0" * 64
    thirty_one = "7fffffff" + "0" * 56
    thirty_two = "ffffffff" + "0" * 56
    assert SAME_IMAGE_THRESHOLD == 31
    assert is_same_image(zero, thirty_one)
    assert not is_same_image(zero, thirty_two)
    assert not is_same_image(zero, thirty_one, threshold=10)


def test_hamming_distance_counts_differing_bits():
    zero = "0" * 64
    assert hamming_distance(zero, zero) == 0
    assert hamming_distance(zero, "f" * 64) == 256
    assert hamming_distance("1" + "0" * 63, "0" * 63 + "1") == 2
    assert hamming_distance("A" * 64, "a" * 64) == 0
    assert hamming_distance("a" * 64, "5" * 64) == 256
    with pytest.raises(ValueError):
        hamming_distance(zero, "0" * 63)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("validate", "length"),
    [(validate_pdq_hex, 64), (validate_sha256_hex, 64), (validate_md5_hex, 32)],
)
def test_hex_validators_lower_case_and_reject_anything_else(validate, length):
    assert validate("AbCdEf01" * (length // 8)) == "abcdef01" * (length // 8)
    bad = [
        "",
        "0" * (length - 1),
        "0" * (length + 1),
        "g" + "0" * (length - 1),
        "0x" + "0" * (length - 2),
        " " + "0" * (length - 1),
        "0" * length + "\n",
        "٣" * length,  # non-ASCII digits
        None,
        b"0" * length,
    ]
    for value in bad:
        with pytest.raises(ValueError):
            validate(value)


def test_the_browser_worker_records_the_same_pipeline_version():
    worker = (ROOT / "static" / "js" / "fingerprint-worker.js").read_text()
    assert f'const PDQ_PIPELINE_VERSION = "{PDQ_PIPELINE_VERSION}";' in worker
