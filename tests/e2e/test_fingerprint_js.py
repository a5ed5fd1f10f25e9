"""The browser's fingerprints (static/js/fingerprint*.js) in real Chromium.

The family's phone computes SHA-256, MD5 and PDQ; the server must compute the same
values for the same picture, and the picture must never leave the page. No Django
here: a bare http.server serves static/js/, static/vendor/hash-wasm/ and a test page
under the project's policies: the pages' CSP from settings, and the workers' own
(amparo/static_headers.py, as WhiteNoise sends it).
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from amparo import static_headers
from vault.fingerprints import PDQ_PIPELINE_VERSION, hamming_distance, pdq_fingerprint_file

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
STATIC_DIRS = {"js", "vendor/hash-wasm"}
# The worker's WebCrypto limit (WEBCRYPTO_MAX_BYTES in fingerprint-worker.js).
WEBCRYPTO_MAX_BYTES = 32 * 1024 * 1024
WORKER_SCRIPTS = {
    "/static/js/fingerprint-worker.js",
    "/static/js/fingerprint-md5-worker.js",
    "/static/js/fingerprint-slices.js",
    "/static/vendor/hash-wasm/sha256.umd.min.js",
    "/static/vendor/hash-wasm/md5.umd.min.js",
}
PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fingerprint</title>
<link rel="icon" href="data:,">
<script src="/static/js/fingerprint.js" data-worker-url="/static/js/fingerprint-worker.js"></script>
</head><body><input type="file" id="files" multiple></body></html>"""
# Tries what the workers' policy must allow (WebAssembly) and refuse (any
# connection, eval).
PROBE_WORKER = b"""
importScripts("/static/vendor/hash-wasm/md5.umd.min.js");
self.onmessage = async () => {
  const out = {};
  try { const h = await hashwasm.createMD5(); h.update("abc"); out.md5 = h.digest("hex"); }
  catch (e) { out.md5 = "refused"; }
  try { await fetch("/"); out.fetch = "sent"; } catch (e) { out.fetch = "refused"; }
  try { out.eval = String(self["ev" + "al"]("1 + 1")); } catch (e) { out.eval = "refused"; }
  self.postMessage(out);
};
"""
# Reads a file with fingerprint-slices.js, by its byte stream or (with Blob.stream
# taken away, as where the browser has no byte streams) by copied slices.
SLICES_PROBE = b"""
importScripts("/static/js/fingerprint-slices.js", "/static/vendor/hash-wasm/md5.umd.min.js");
self.onmessage = async (event) => {
  if (event.data.withoutStreams) {
    Blob.prototype.stream = function () { throw new TypeError("no byte streams here"); };
  }
  const md5 = await hashwasm.createMD5();
  const slices = [];
  await eachSlice(event.data.file, (bytes, start, end) => {
    md5.update(bytes);
    slices.push([start, end, bytes.length]);
  });
  self.postMessage({slices: slices, md5: md5.digest("hex")});
};
"""
PROBES = {"/probe-worker.js": PROBE_WORKER, "/slices-probe.js": SLICES_PROBE}
RESULT_KEYS = {
    "type",
    "sha256",
    "md5",
    "pdq",
    "pdqQuality",
    "pdqVersion",
    "pdqError",
    "size",
    "mime",
}

FINGERPRINT_ALL = """async () => {
  const results = [];
  for (const file of document.getElementById("files").files) {
    const progress = [];
    const result = await window.AmparoFingerprint.fingerprint(
      file, (loaded, total) => progress.push([loaded, total]));
    result.progress = progress;
    results.push(result);
  }
  return results;
}"""


# ---------------------------------------------------------------- fixtures


class _Handler(BaseHTTPRequestHandler):
    """Serves the test page and static/js/; records every request it sees."""

    seen: list[tuple[str, str, int]]

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.seen.append((self.command, self.path, length))

    def do_GET(self) -> None:
        self._record()
        if self.path == "/":
            self._send(200, "text/html; charset=utf-8", PAGE)
            return
        if self.path in PROBES:
            self._send(
                200, "text/javascript", PROBES[self.path], static_headers.FINGERPRINT_WORKER_CSP
            )
            return
        folder, _, name = self.path.removeprefix("/static/").rpartition("/")
        if self.path.startswith("/static/") and folder in STATIC_DIRS:
            path = STATIC / folder / name
            if name and path.is_file():
                self._send(200, "text/javascript", path.read_bytes())
                return
        self._send(404, "text/plain", b"not found")

    def do_POST(self) -> None:
        self._record()
        self._send(405, "text/plain", b"no")

    do_PUT = do_PATCH = do_DELETE = do_POST

    def _send(self, status: int, content_type: str, body: bytes, policy: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", policy or _policy(self.path))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


def _policy(url: str) -> str:
    """The workers' own policy where WhiteNoise sends it, else the pages' policy."""
    from django.conf import settings

    headers: dict[str, str] = {}
    static_headers.add_headers(headers, url, url)
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    page = "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())
    return headers.get("Content-Security-Policy", page)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list]]:
    seen: list[tuple[str, str, int]] = []
    handler = type("Handler", (_Handler,), {"seen": seen})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", seen
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def page(browser, server):
    base_url, _ = server
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base_url + "/")
    page.wait_for_function("() => window.AmparoFingerprint !== undefined")
    yield page
    context.close()
    assert errors == []


def fingerprint_in_browser(page, paths: list[Path]) -> list[dict]:
    page.set_input_files("#files", [str(p) for p in paths])
    return page.evaluate(FINGERPRINT_ALL)


# ---------------------------------------------------------------- corpus


def _photo(rng, width: int, height: int) -> Image.Image:
    """Smooth colour gradients with blobs and sensor-like noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x /= width
    y /= height
    channels = []
    for _ in range(3):
        a, b, c, d = rng.uniform(0.5, 4.0, 4)
        p, q = rng.uniform(0, 2 * np.pi, 2)
        channels.append(
            np.sin(a * np.pi * x + p) * np.cos(b * np.pi * y + q) + 0.5 * np.sin(c * x * d * y * 6)
        )
    pixels = np.stack(channels, axis=-1) * 70 + 128
    pixels += rng.normal(0, 6, (height, width, 3)).astype(np.float32)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 6))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(0.05, 0.25) * min(width, height)
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    return image


def _screenshot(rng, width: int, height: int) -> Image.Image:
    """A chat-app-like screenshot: bars, bubbles and lines of text."""
    image = Image.new("RGB", (width, height), (245, 245, 245))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(10, height // 45))
    bar = max(20, height // 14)
    draw.rectangle([0, 0, width, bar], fill=tuple(int(v) for v in rng.integers(0, 160, 3)))
    draw.text((bar // 2, bar // 4), "Chat 12:04", fill="white", font=font)
    y = bar + 10
    while y < height - bar * 2:
        left = bool(rng.integers(0, 2))
        w = int(rng.uniform(0.3, 0.7) * width)
        h = int(rng.uniform(1.0, 2.5) * bar)
        x0 = 10 if left else width - w - 10
        fill = (255, 255, 255) if left else (220, 248, 198)
        draw.rounded_rectangle([x0, y, x0 + w, y + h], radius=bar // 3, fill=fill)
        words = " ".join(str(int(v)) for v in rng.integers(100, 99999, 6))
        draw.text((x0 + 8, y + 6), "msg " + words, fill=(20, 20, 20), font=font)
        y += h + bar // 2
    draw.rectangle([0, height - bar, width, height], fill=(230, 230, 230))
    return image


def _graphic(rng, width: int, height: int) -> Image.Image:
    """Flat colours and hard edges, like a logo or a meme template."""
    image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(3, 8))):
        x0, x1 = sorted(rng.integers(0, width, 2))
        y0, y1 = sorted(rng.integers(0, height, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.integers(0, 2):
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        else:
            draw.ellipse([x0, y0, x1 + 1, y1 + 1], fill=colour)
    return image


def _with_orientation(image: Image.Image, orientation: int) -> tuple[Image.Image, Image.Exif]:
    """Pixels stored sideways plus the tag that makes them upright, as phones do."""
    stored = image.transpose(
        {6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
    )
    exif = Image.Exif()
    exif[0x0112] = orientation
    return stored, exif


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[Path]:
    rng = np.random.default_rng(20240611)
    out = tmp_path_factory.mktemp("corpus")
    paths: list[Path] = []

    def save(image: Image.Image, name: str, **options) -> None:
        path = out / name
        image.save(path, **options)
        paths.append(path)

    # Photo-like: landscape and portrait, tiny to 6 megapixels, JPEG/PNG/WebP.
    for i, (w, h) in enumerate([(3000, 2000), (2000, 3000), (1600, 1200), (1283, 771)]):
        save(_photo(rng, w, h), f"photo{i}.jpg", quality=int(rng.integers(70, 95)))
    save(_photo(rng, 1080, 1350), "photo-progressive.jpg", quality=85, progressive=True)
    save(_photo(rng, 900, 600), "photo-444.jpg", quality=92, subsampling=0)
    save(_photo(rng, 640, 480), "photo-low-quality.jpg", quality=35)
    save(_photo(rng, 800, 533), "photo.png")
    save(_photo(rng, 1024, 768), "photo-lossy.webp", quality=80)
    save(_photo(rng, 700, 1000), "photo-lossless.webp", lossless=True)
    save(_photo(rng, 1500, 1000).convert("L"), "photo-grey.jpg", quality=88)
    save(_photo(rng, 120, 80), "photo-small.jpg", quality=90)
    save(_photo(rng, 64, 64), "photo-64.png")
    save(_photo(rng, 50, 30), "photo-tiny.png")
    save(_photo(rng, 513, 300), "photo-513.png")
    # Phone photos stored sideways with an EXIF Orientation tag.
    for i, orientation in enumerate((6, 8, 6, 8)):
        stored, exif = _with_orientation(_photo(rng, 1600 - 200 * i, 1200), orientation)
        save(stored, f"photo-orientation{orientation}-{i}.jpg", quality=90, exif=exif)
    # Screenshots.
    save(_screenshot(rng, 1170, 2532), "screenshot-phone.png")
    save(_screenshot(rng, 1280, 800), "screenshot-desktop.png")
    save(_screenshot(rng, 828, 1792), "screenshot-phone.jpg", quality=80)
    save(_screenshot(rng, 750, 1334), "screenshot.webp", quality=90)
    save(_screenshot(rng, 360, 640), "screenshot-small.png")
    # Flat graphics, including palette and transparency.
    save(_graphic(rng, 400, 400), "graphic.png")
    save(_graphic(rng, 600, 300), "graphic.gif")
    save(_graphic(rng, 500, 500), "graphic-lossless.webp", lossless=True)
    save(_graphic(rng, 2048, 1536), "graphic-large.png")
    rgba = _photo(rng, 640, 480).convert("RGBA")
    pixels = np.asarray(rgba).copy()
    pixels[..., 3] = np.linspace(0, 255, 640, dtype=np.float32)[None, :].astype(np.uint8)
    save(Image.fromarray(pixels), "photo-alpha.png")
    logo = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    ImageDraw.Draw(logo).ellipse([30, 30, 270, 270], fill=(200, 30, 90, 255))
    ImageDraw.Draw(logo).rectangle([100, 120, 260, 180], fill=(30, 30, 200, 128))
    save(logo, "logo-alpha.png")
    save(logo, "logo-alpha.webp", lossless=True)
    save(logo, "logo-transparent.gif")
    return paths


# ---------------------------------------------------------------- tests


def test_it_matches_the_server_on_every_image(page, corpus):
    assert len(corpus) >= 30
    results = fingerprint_in_browser(page, corpus)

    distances = {}
    for path, result in zip(corpus, results, strict=True):
        data = path.read_bytes()
        assert result["sha256"] == hashlib.sha256(data).hexdigest(), path.name
        assert result["md5"] == hashlib.md5(data).hexdigest(), path.name  # noqa: S324
        assert result["size"] == len(data)
        assert result["pdqVersion"] == PDQ_PIPELINE_VERSION
        assert result["pdqError"] is None, path.name
        server_pdq, server_quality = pdq_fingerprint_file(path)
        distances[path.name] = hamming_distance(result["pdq"], server_pdq)
        assert abs(result["pdqQuality"] - server_quality) <= 5, path.name
        if path.suffix == ".png" and "alpha" not in path.name:
            # Lossless and opaque: same pixels, and the PDQ port is bit-exact.
            assert distances[path.name] == 0, path.name

    print("\nPDQ Hamming distance browser vs server:", json.dumps(distances))
    assert max(distances.values()) <= 10, distances
    assert statistics.median(distances.values()) <= 4, distances


def test_it_reports_the_mime_type_from_the_file_contents(page, corpus, tmp_path):
    renamed = tmp_path / "holiday.txt"
    renamed.write_bytes(next(p for p in corpus if p.suffix == ".webp").read_bytes())
    (result,) = fingerprint_in_browser(page, [renamed])
    assert result["mime"] == "image/webp"
    assert result["pdq"] is not None


def test_a_file_that_is_not_an_image_gets_digests_and_no_pdq(page, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(50_000))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(5_000))
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    results = fingerprint_in_browser(page, [video, broken, empty])
    for path, result in zip([video, broken, empty], results, strict=True):
        assert result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert result["md5"] == hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324
        assert result["pdq"] is None
        assert result["pdqQuality"] is None
    assert [r["pdqError"] for r in results] == ["not-an-image", "decode-failed", "not-an-image"]
    assert results[2]["progress"] == [[0, 0]]


def test_the_worker_answers_a_message_without_a_file_with_an_error(page):
    message = page.evaluate(
        """() => new Promise((resolve) => {
          const worker = new Worker("/static/js/fingerprint-worker.js");
          worker.onmessage = (event) => { worker.terminate(); resolve(event.data); };
          worker.postMessage({file: "not a file"});
        })"""
    )
    assert message == {"type": "error", "code": "no-file"}


def test_the_file_never_leaves_the_page(page, server, corpus):
    base_url, seen = server
    seen.clear()
    requests = []
    page.context.on("request", lambda request: requests.append(request))
    image = next(p for p in corpus if p.name == "photo0.jpg")
    data = image.read_bytes()

    # Talk to the worker directly so that every message it posts is inspected.
    page.set_input_files("#files", str(image))
    messages = page.evaluate(
        """() => new Promise((resolve) => {
          const messages = [];
          const worker = new Worker("/static/js/fingerprint-worker.js");
          worker.onmessage = (event) => {
            messages.push(event.data);
            if (event.data.type !== "progress") { worker.terminate(); resolve(messages); }
          };
          worker.postMessage({file: document.getElementById("files").files[0]});
        })"""
    )
    (helper_result,) = page.evaluate(FINGERPRINT_ALL)

    done = messages[-1]
    assert done["type"] == "done"
    assert set(done) == RESULT_KEYS
    assert done["sha256"] == hashlib.sha256(data).hexdigest()
    for message in messages:
        for value in message.values():
            # Only short strings and numbers: no pixels, no bytes.
            assert value is None or isinstance(value, int | float | str)
            assert not isinstance(value, str) or len(value) <= 64
    assert {m["type"] for m in messages[:-1]} == {"progress"}
    assert helper_result["sha256"] == done["sha256"]

    # The worker's own scripts are the only things fetched while fingerprinting.
    for request in requests:
        assert request.method == "GET", request.url
        assert request.post_data_buffer is None, request.url
        assert request.url.removeprefix(base_url) in WORKER_SCRIPTS, request.url
    assert seen and all(
        (method, length) == ("GET", 0) and path in WORKER_SCRIPTS for method, path, length in seen
    ), seen
    assert all(data[:4096] not in (r.post_data_buffer or b"") for r in requests)


def _random_file(path: Path, size: int) -> tuple[str, str]:
    """Writes ``size`` random bytes; returns hashlib's SHA-256 and MD5 of them."""
    digest_sha256 = hashlib.sha256()
    digest_md5 = hashlib.md5()  # noqa: S324
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            digest_sha256.update(chunk)
            digest_md5.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest_sha256.hexdigest(), digest_md5.hexdigest()


def test_a_file_beyond_the_webcrypto_limit_streams_with_md5_in_a_second_worker(
    page, server, tmp_path
):
    _, seen = server
    big = tmp_path / "video.bin"
    size = 2 * WEBCRYPTO_MAX_BYTES
    sha256, md5 = _random_file(big, size)
    seen.clear()

    (result,) = fingerprint_in_browser(page, [big])

    assert result["sha256"] == sha256
    assert result["md5"] == md5
    assert result["size"] == size
    assert result["pdq"] is None
    # Read in 4 MiB slices, reported as it goes: each figure once, the slower of
    # the two workers, ending at the size.
    loaded = [loaded for loaded, total in result["progress"]]
    assert loaded == [min(size, (i + 1) * 4 * 1024 * 1024) for i in range(16)]
    assert {total for _, total in result["progress"]} == {size}
    assert ("GET", "/static/js/fingerprint-md5-worker.js", 0) in seen


def test_files_at_and_just_over_the_webcrypto_limit_match_hashlib(page, server, tmp_path):
    _, seen = server
    at_limit, over_limit = tmp_path / "at.bin", tmp_path / "over.bin"
    expected = [
        _random_file(at_limit, WEBCRYPTO_MAX_BYTES),
        _random_file(over_limit, WEBCRYPTO_MAX_BYTES + 1),
    ]
    seen.clear()
    (at_result,) = fingerprint_in_browser(page, [at_limit])
    # WebCrypto's SHA-256 in memory, MD5 alongside: no second worker for this size.
    assert not any(path.endswith("md5-worker.js") for _, path, _ in seen), seen
    (over_result,) = fingerprint_in_browser(page, [over_limit])

    assert [(r["sha256"], r["md5"]) for r in (at_result, over_result)] == expected
    assert at_result["progress"][-1] == [WEBCRYPTO_MAX_BYTES, WEBCRYPTO_MAX_BYTES]
    assert over_result["progress"][-1] == [WEBCRYPTO_MAX_BYTES + 1] * 2
    assert ("GET", "/static/js/fingerprint-md5-worker.js", 0) in seen


def test_the_workers_policy_allows_webassembly_and_no_connection(browser, server):
    """A probe worker served under the workers' own policy, in a real browser."""
    base_url, seen = server
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(base_url + "/")
        seen.clear()
        outcome = page.evaluate(
            """() => new Promise((resolve) => {
              const worker = new Worker("/probe-worker.js");
              worker.onmessage = (event) => { worker.terminate(); resolve(event.data); };
              worker.onerror = () => resolve({loaded: false});
              worker.postMessage(null);
            })"""
        )
    finally:
        context.close()
    assert outcome == {
        "md5": hashlib.md5(b"abc").hexdigest(),  # noqa: S324
        "fetch": "refused",
        "eval": "refused",
    }
    assert [path for _, path, _ in seen] == [
        "/probe-worker.js",
        "/static/vendor/hash-wasm/md5.umd.min.js",
    ]
    assert "'wasm-unsafe-eval'" not in _policy("/")


@pytest.mark.parametrize("without_streams", [False, True], ids=["byte stream", "copied slices"])
def test_both_ways_of_reading_give_the_same_4_mib_slices(page, tmp_path, without_streams):
    slice_bytes = 4 * 1024 * 1024
    sizes = [0, 1, slice_bytes, slice_bytes + 1, 3 * slice_bytes - 5]
    paths = []
    for size in sizes:
        paths.append(tmp_path / f"{size}.bin")
        _random_file(paths[-1], size)
    page.set_input_files("#files", [str(p) for p in paths])
    results = page.evaluate(
        """(withoutStreams) => Promise.all(Array.from(document.getElementById("files").files,
          (file) => new Promise((resolve) => {
            const worker = new Worker("/slices-probe.js");
            worker.onmessage = (event) => { worker.terminate(); resolve(event.data); };
            worker.postMessage({file: file, withoutStreams: withoutStreams});
          })))""",
        without_streams,
    )
    for path, size, result in zip(paths, sizes, results, strict=True):
        assert result["md5"] == hashlib.md5(path.read_bytes()).hexdigest()  # noqa: S324
        starts = list(range(0, size, slice_bytes)) or [0]
        assert result["slices"] == [
            [start, min(size, start + slice_bytes), min(size, start + slice_bytes) - start]
            for start in starts
        ]
