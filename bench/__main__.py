"""`make bench`: performance figures as ratios to baselines measured in the same run.

Each pipeline is timed against a raw baseline over the very same bytes, in the
same process, alternating runs and keeping the median, so the ratios hold from one
machine to another even where the absolute figures do not. Writes var/bench.json
(a list of {name, value, unit, baseline, ratio, goal, met}) and prints a Markdown
table. Needs PostgreSQL and Redis for the custody log: it starts throwaway ones
from pip packages, as the tests do (amparo.localservices), unless DATABASE_URL and
REDIS_URL are set.

1. Upload: a multipart body through Django's WSGIRequest and MultiPartParser into
   the encrypting upload handler (SHA-256 + AMPV1 encryption + filesystem write with
   fsync + the blob row; MD5 is computed later by the worker) vs raw
   ``hashlib.sha256`` + AES-256-GCM over the same data in memory; and, for context,
   vs all the work the pipeline must do (SHA-256, encryption, an fsync'd file) done
   back to back without Django.
2. Memory: peak resident memory of a fresh process while a 500 MB upload streams
   through the same path, above the same process idle (Linux VmHWM after a reset).
   The body is generated as it is read; the 500 MB never exist in memory at once.
3. Download: the streaming decrypt response (``blob_response``) consumed as a WSGI
   server would, vs raw AES-256-GCM decryption of the same segments in memory.
4. PDQ: the server's fingerprint of a 12-megapixel JPEG (safe open + PDQ
   pipeline) vs Pillow's plain decode of the same file.
5. Police export (bench/export.py): write_bundle over 2 GB (BENCH_EXPORT_BYTES) of
   context files, into the AES-256 ZIP as the worker runs it and into a folder, vs raw
   SHA-256 of the same bytes, and the ZIP export's peak memory above idle.
6. Case work (bench/casework.py): PDQ matching against 1 000 000 hashes vs a NumPy
   scan, and the staff pages' p95 at 1 000 and 100 000 cases vs a trivial page.
7. Serving (bench/serving.py): gunicorn with gunicorn.conf.py; p95 of other pages
   while slow uploads (200 MB at 1 MB/s each) stream, vs the same pages with none.
8. In-browser fingerprinting (bench/browser.py): SHA-256 + MD5 of a 200 MiB file in
   headless Chromium through the fingerprint worker vs read + WebCrypto SHA-256, and
   the renderer's peak memory above idle. Needs Chromium (apt-get install chromium).
9. Takedowns (bench/takedowns.py): notice preparation for a case with 50 locations
   (p95, query counts at 5 and 50), and the dispatch of 1 000 queued email notices
   through a real local SMTP server vs raw smtplib sends of the same messages.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import secrets
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
UPLOAD_BYTES = 256 * MiB
MEMORY_UPLOAD_BYTES = 500_000_000
REPEATS = 5
BOUNDARY = "bench" + secrets.token_hex(16)


def _environment(var: Path) -> None:
    """Production-like settings with throwaway secrets, as the test run uses."""
    keys = f"1:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}"
    os.environ.update(
        AMPARO_VAR_DIR=str(var),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        AMPARO_KEYS=keys,
        AMPARO_SIGNING_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        ALLOWED_HOSTS="localhost,testserver",
        SECURE_SSL_REDIRECT="false",
        STATIC_MANIFEST="false",
        EVIDENCE_STORAGE="filesystem",
        EVIDENCE_ROOT=str(var / "evidence"),
        EVIDENCE_MAX_FILE_BYTES=str(1024 * MiB),
        EVIDENCE_MAX_REQUEST_BYTES=str(1024 * MiB),
        DJANGO_SETTINGS_MODULE="amparo.settings",
    )


def _head() -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        'filename="evidence.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()


def _tail() -> bytes:
    return f"\r\n--{BOUNDARY}--\r\n".encode()


def _wsgi_request(stream, length: int):
    from django.core.handlers.wsgi import WSGIRequest

    request = WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/evidence/",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "443",
            "wsgi.url_scheme": "https",
            "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
            "CONTENT_LENGTH": str(length),
            "wsgi.input": stream,
        }
    )
    request._dont_enforce_csrf_checks = True  # no browser here to hold a token
    return request


def _evidence_view():
    """The smallest real evidence view: the decorator, then finish_upload."""
    from vault import services
    from vault.audit import Actor
    from vault.uploads import encrypting_uploads, upload_error

    @encrypting_uploads
    def view(request):
        if upload_error(request) is not None:
            raise RuntimeError(upload_error(request).code)
        return services.finish_upload(request.FILES["file"], actor=Actor.system("bench"))

    return view


def _median_time(fn, cleanup=None) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
        if cleanup is not None:
            cleanup(result)
    return statistics.median(times)


def _destroy(blob) -> None:
    from django.db import transaction

    from vault import services
    from vault.audit import Actor

    with transaction.atomic():
        services.destroy_blob(blob, actor=Actor.system("bench"))


def _row(name, value, unit, baseline, ratio, goal, met) -> dict:
    return {
        "name": name,
        "value": round(value, 1),
        "unit": unit,
        "baseline": round(baseline, 1),
        "ratio": round(ratio, 2),
        "goal": goal,
        "met": met,
    }


def bench_upload() -> list[dict]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    block = os.urandom(4 * MiB)
    body = _head() + block * (UPLOAD_BYTES // len(block)) + _tail()
    data = memoryview(body)[len(_head()) : len(_head()) + UPLOAD_BYTES]
    view = _evidence_view()

    def pipeline():
        return view(_wsgi_request(io.BytesIO(body), len(body)))

    def raw(*, everything: bool = False):
        """SHA-256 + AES-256-GCM in memory; with ``everything``, also an fsync'd file:
        all the work the pipeline must do on the request path, back to back, minus
        Django (MD5 is the worker's, after the upload: vault.services.fill_md5)."""
        sha = hashlib.sha256()
        aead = AESGCM(secrets.token_bytes(32))
        prefix = secrets.token_bytes(7)
        path = Path(os.environ["EVIDENCE_ROOT"]) / "bench-raw.tmp"
        with open(path, "wb", buffering=MiB) if everything else io.BytesIO() as out:
            for counter, offset in enumerate(range(0, UPLOAD_BYTES, 65536)):
                segment = data[offset : offset + 65536]
                sha.update(segment)
                sealed = aead.encrypt(prefix + struct.pack(">IB", counter, 0), segment, None)
                if everything:
                    out.write(sealed)
            if everything:
                out.flush()
                os.fsync(out.fileno())
        path.unlink(missing_ok=True)

    _destroy(pipeline())  # warm up: imports, first connection, directories
    seconds = _median_time(pipeline, cleanup=_destroy)
    raw_seconds = _median_time(raw)
    same_seconds = _median_time(lambda: raw(everything=True))
    mbps, raw_mbps = UPLOAD_BYTES / seconds / 1e6, UPLOAD_BYTES / raw_seconds / 1e6
    same_mbps = UPLOAD_BYTES / same_seconds / 1e6
    return [
        _row(
            "upload pipeline (Django multipart -> hash -> encrypt -> fsync'd file) "
            "vs raw SHA-256 + AES-256-GCM",
            mbps, "MB/s", raw_mbps, mbps / raw_mbps, ">= 0.5x", mbps / raw_mbps >= 0.5,
        ),
        _row(
            "upload pipeline vs the same work back to back without Django "
            "(SHA-256 + AES-256-GCM + write + fsync; MD5 is the worker's)",
            mbps, "MB/s", same_mbps, mbps / same_mbps, "context", None,
        ),
    ]  # fmt: skip


class GeneratedBody:
    """A multipart body of ``size`` file bytes, made as it is read (never held whole)."""

    def __init__(self, size: int) -> None:
        self._parts = [_head(), None, _tail()]
        self._block = os.urandom(MiB)
        self._left = size
        self.length = len(_head()) + size + len(_tail())

    def read(self, n: int = -1) -> bytes:
        if self._parts[0] is not None:
            head, self._parts[0] = self._parts[0], None
            return head
        if self._left > 0:
            n = min(self._left, len(self._block) if n < 0 else n, len(self._block))
            self._left -= n
            return self._block[:n]
        tail, self._parts[2] = self._parts[2], b""
        return tail

    readline = read  # LimitedStream wants one; the multipart parser never calls it


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def memory_child(size: int) -> None:
    """Run in a fresh process: idle RSS, then peak RSS during one streamed upload."""
    import django

    django.setup()
    view = _evidence_view()
    small = GeneratedBody(5 * MiB)
    _destroy(view(_wsgi_request(small, small.length)))  # warm up every code path
    # Reset the high-water mark to the current size (Linux); where that is refused,
    # the peak reported includes start-up and is an upper bound.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    idle = _status("VmRSS")
    body = GeneratedBody(size)
    start = time.perf_counter()
    blob = view(_wsgi_request(body, body.length))
    seconds = time.perf_counter() - start
    peak = _status("VmHWM")
    assert blob.size == size
    _destroy(blob)
    print(json.dumps({"idle": idle, "peak": peak, "seconds": seconds}))


def bench_memory() -> list[dict]:
    result = subprocess.run(  # noqa: S603 - this module, fixed arguments
        [sys.executable, "-m", "bench", "--memory-child", str(MEMORY_UPLOAD_BYTES)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    above = (figures["peak"] - figures["idle"]) / MiB
    idle = figures["idle"] / MiB
    return [
        _row(
            f"peak memory above idle during a {MEMORY_UPLOAD_BYTES // 1_000_000} MB upload "
            f"({MEMORY_UPLOAD_BYTES / figures['seconds'] / 1e6:.0f} MB/s)",
            above, "MiB", idle, above / idle, "< 64 MiB", above < 64,
        )
    ]  # fmt: skip


def bench_download() -> list[dict]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from vault import crypto, keys, storage
    from vault.audit import Actor
    from vault.http import blob_response

    block = os.urandom(4 * MiB)
    body = _head() + block * (UPLOAD_BYTES // len(block)) + _tail()
    blob = _evidence_view()(_wsgi_request(io.BytesIO(body), len(body)))
    del body
    with storage.evidence_store().open(blob.storage_key) as f:
        ciphertext = f.read()
    dek = crypto.unwrap_dek(
        keys.keyring(), blob.kek_version, bytes(blob.wrapped_dek), blob_id=str(blob.uuid)
    )
    header, aad = ciphertext[:16], ciphertext[:16] + str(blob.uuid).encode()
    segments = -(-(len(ciphertext) - 16) // (65536 + 16))

    def pipeline():
        response = blob_response(blob, actor=Actor.system("bench"))
        size = sum(len(piece) for piece in response.streaming_content)
        response.close()
        assert size == UPLOAD_BYTES

    def raw():
        aead, view = AESGCM(dek), memoryview(ciphertext)
        for i in range(segments):
            nonce = header[9:16] + struct.pack(">IB", i, i == segments - 1)
            aead.decrypt(nonce, view[16 + i * 65552 : 16 + (i + 1) * 65552], aad)

    pipeline()
    seconds, raw_seconds = _median_time(pipeline), _median_time(raw)
    _destroy(blob)
    mbps, raw_mbps = UPLOAD_BYTES / seconds / 1e6, UPLOAD_BYTES / raw_seconds / 1e6
    return [
        _row(
            "streaming decrypt response (blob_response) vs raw AES-256-GCM decrypt",
            mbps, "MB/s", raw_mbps, mbps / raw_mbps, ">= 0.5x", mbps / raw_mbps >= 0.5,
        )
    ]  # fmt: skip


def bench_pdq() -> list[dict]:
    from PIL import Image

    from vault import fingerprints, images

    size = (4000, 3000)
    photo = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.effect_noise(size, 24),
            Image.radial_gradient("L").resize(size),
        ),
    )
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=90)
    jpeg = buffer.getvalue()

    def decode():
        with Image.open(io.BytesIO(jpeg)) as image:
            image.load()

    def pdq():
        fingerprints.pdq_fingerprint(images.open_untrusted(jpeg))

    decode(), pdq()
    runs = [(_median_time(decode), _median_time(pdq)) for _ in range(3)]
    decode_ms = statistics.median(r[0] for r in runs) * 1000
    pdq_ms = statistics.median(r[1] for r in runs) * 1000
    return [
        _row(
            "PDQ of a 12 MP JPEG (safe open + versioned pipeline) vs Pillow's plain decode",
            pdq_ms, "ms", decode_ms, pdq_ms / decode_ms, "<= 1.5x", pdq_ms / decode_ms <= 1.5,
        )
    ]  # fmt: skip


def markdown(results: list[dict]) -> str:
    lines = [
        "| benchmark | value | baseline | ratio | goal | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in results:
        met = {True: "yes", False: "**no**", None: "—"}[r["met"]]
        lines.append(
            f"| {r['name']} | {r['value']:,} {r['unit']} | {r['baseline']:,} {r['unit']} "
            f"| {r['ratio']}x | {r['goal']} | {met} |"
        )
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--memory-child":
        memory_child(int(sys.argv[2]))
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--export-memory-child":
        from bench.export import memory_child as export_memory_child

        export_memory_child(sys.argv[2], sys.argv[3])
        return 0
    (ROOT / "var").mkdir(exist_ok=True)
    var = Path(tempfile.mkdtemp(prefix="bench-", dir=ROOT / "var"))
    _environment(var)
    services = None
    started = time.perf_counter()
    try:
        if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
            from amparo.localservices import LocalServices, apply_env

            services = LocalServices(var / "services", ephemeral=True)
            apply_env(services.start())
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        from bench.browser import bench_browser
        from bench.casework import bench_matching, bench_pages
        from bench.export import bench_export
        from bench.serving import bench_serving
        from bench.takedowns import bench_takedowns

        # BENCH_ONLY=casework, =export, =serving, =browser, =takedowns or =upload (upload
        # speed and memory) runs just those figures (quicker, for tuning).
        only = os.environ.get("BENCH_ONLY", "")
        results = []
        if only in {"", "upload"}:
            results += bench_upload() + bench_memory()
        if not only:
            results += bench_download() + bench_pdq()
        if only in {"", "export"}:
            results += bench_export(_row, var)
        if only in {"", "casework"}:
            results += bench_matching(_row) + bench_pages(_row)
        if only in {"", "serving"}:
            results += bench_serving(_row)
        if only in {"", "browser"}:
            results += bench_browser(_row, var)
        if only in {"", "takedowns"}:
            results += bench_takedowns(_row)
    finally:
        if services is not None:
            services.stop()
        shutil.rmtree(var, ignore_errors=True)
    out = ROOT / "var" / "bench.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(markdown(results))
    print(f"\n{len(results)} figures in {time.perf_counter() - started:.0f} s; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
