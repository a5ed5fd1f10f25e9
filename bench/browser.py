"""In-browser fingerprinting in headless Chromium: the worker vs the browser's own SHA-256.

The family waits for static/js/fingerprint-worker.js (SHA-256 + MD5, then PDQ for
images) before a file counts as evidence. Timed here on a 200 MiB file, the
streaming path (hash-wasm SHA-256 here, MD5 in a second worker), against the
fastest thing a page can do with the same bytes: ``await file.arrayBuffer()`` then
``crypto.subtle.digest("SHA-256")`` (one digest, whole file in memory). Runs
alternate, median of REPEATS each; the digests are checked against hashlib.

Memory: peak resident memory of Chromium's renderer processes (the page and its
workers live there) above the same processes idle, from /proc (VmHWM after a reset
through clear_refs; sampled VmRSS where that is refused), for each of the two.

Chromium missing is a failure with the install command, never a skipped figure.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from amparo import static_headers

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
FILE_BYTES = int(os.environ.get("BENCH_BROWSER_BYTES", str(200 * MiB)))
REPEATS = 3
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags from the design notes (VERIFIED.md): without the network ones Chromium
# keeps trying to reach the network from this machine.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGE = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bench</title>
<link rel="icon" href="data:,">
<script src="/static/js/fingerprint.js" data-worker-url="/static/js/fingerprint-worker.js"></script>
</head><body><input type="file" id="file"></body></html>"""
WORKER = """async () => {
  const file = document.getElementById("file").files[0];
  const started = performance.now();
  const result = await window.AmparoFingerprint.fingerprint(file);
  return {ms: performance.now() - started, sha256: result.sha256, md5: result.md5};
}"""
WEBCRYPTO = """async () => {
  const file = document.getElementById("file").files[0];
  const started = performance.now();
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  const sha256 = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0"));
  return {ms: performance.now() - started, sha256: sha256.join("")};
}"""


def _page_policy() -> str:
    from django.conf import settings

    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


class _Handler(BaseHTTPRequestHandler):
    """The test page and static/, with the policies WhiteNoise and Django send."""

    page_policy = ""

    def do_GET(self) -> None:
        if self.path == "/":
            return self._send(PAGE, "text/html; charset=utf-8")
        folder, _, name = self.path.removeprefix("/static/").rpartition("/")
        path = ROOT / "static" / folder / name
        served = self.path.startswith("/static/") and folder in {"js", "vendor/hash-wasm"}
        if served and name and path.is_file():
            return self._send(path.read_bytes(), "text/javascript")
        self.send_error(404)

    def _send(self, body: bytes, content_type: str) -> None:
        headers: dict[str, str] = {}
        static_headers.add_headers(headers, self.path, self.path)
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header(
            "Content-Security-Policy", headers.get("Content-Security-Policy", self.page_policy)
        )
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _renderers() -> list[int]:
    """Chromium's renderer processes started by this bench (they host pages and workers)."""
    pids = []
    for pid in _descendants(os.getpid()):
        with contextlib.suppress(OSError):
            if b"--type=renderer" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
    return pids


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


class _PeakMemory:
    """Peak resident memory of the renderers during a block, above their idle size."""

    def __enter__(self):
        self.pids = _renderers()
        if not self.pids:
            raise RuntimeError("no Chromium renderer process found under this bench")
        self.exact = True
        for pid in self.pids:
            try:  # "5" resets VmHWM to the current size (Linux >= 4.0)
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                self.exact = False
        self.idle = sum(_status(pid, "VmRSS") for pid in self.pids)
        self.sampled = self.idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            with contextlib.suppress(OSError):
                self.sampled = max(self.sampled, sum(_status(p, "VmRSS") for p in self.pids))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        high_water = sum(_status(pid, "VmHWM") for pid in self.pids)
        peak = max(high_water, self.sampled) if self.exact else self.sampled
        self.above = (peak - self.idle) / MiB


def _big_file(path: Path) -> tuple[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    block = os.urandom(MiB)
    with path.open("wb") as out:
        for i in range(0, FILE_BYTES, MiB):
            piece = block[: min(MiB, FILE_BYTES - i)]
            piece = (i // MiB).to_bytes(8, "big") + piece[8:]  # no two MiB alike
            sha256.update(piece)
            md5.update(piece)
            out.write(piece)
    return sha256.hexdigest(), md5.hexdigest()


def bench_browser(row, var: Path) -> list[dict]:
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(
            f"bench/browser.py needs Chromium at {CHROMIUM}: apt-get install -y chromium"
        )
    from playwright.sync_api import sync_playwright

    big = var / "browser-bench.bin"
    expected_sha256, expected_md5 = _big_file(big)
    handler = type("Handler", (_Handler,), {"page_policy": _page_policy()})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{httpd.server_port}/"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

            def fresh_page():
                context = browser.new_context()
                page = context.new_page()
                page.goto(base_url)
                page.wait_for_function("() => window.AmparoFingerprint !== undefined")
                page.set_input_files("#file", str(big))
                time.sleep(1)  # let the new renderer settle before "idle" is read
                return context, page

            def peak_above_idle(script: str) -> float:
                context, page = fresh_page()
                try:
                    with _PeakMemory() as memory:
                        page.evaluate(script)
                    return memory.above
                finally:
                    context.close()

            worker_memory = peak_above_idle(WORKER)
            webcrypto_memory = peak_above_idle(WEBCRYPTO)

            context, page = fresh_page()
            worker_ms, webcrypto_ms = [], []
            page.evaluate(WORKER)  # warm up: script and WebAssembly caches
            for _ in range(REPEATS):
                result = page.evaluate(WORKER)
                assert (result["sha256"], result["md5"]) == (expected_sha256, expected_md5)
                worker_ms.append(result["ms"])
                result = page.evaluate(WEBCRYPTO)
                assert result["sha256"] == expected_sha256
                webcrypto_ms.append(result["ms"])
            context.close()
            browser.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
        big.unlink(missing_ok=True)
    size_mib = FILE_BYTES / MiB
    speed = size_mib / (statistics.median(worker_ms) / 1000)
    baseline = size_mib / (statistics.median(webcrypto_ms) / 1000)
    return [
        row(
            f"in-browser SHA-256 + MD5 of a {size_mib:.0f} MiB file (fingerprint worker, "
            "Chromium) vs file.arrayBuffer() + WebCrypto SHA-256",
            speed, "MiB/s", baseline, speed / baseline, ">= 0.5x", speed / baseline >= 0.5,
        ),
        row(
            f"peak renderer memory above idle, fingerprint worker, {size_mib:.0f} MiB file "
            "(baseline: file.arrayBuffer() + WebCrypto)",
            worker_memory, "MiB", webcrypto_memory, worker_memory / webcrypto_memory,
            "< 128 MiB", worker_memory < 128,
        ),
    ]  # fmt: skip
