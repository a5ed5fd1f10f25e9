"""Slow uploads under real serving: gunicorn with gunicorn.conf.py, on loopback.

The trap this measures: families send evidence from phones on slow links, so an
upload can stream its body for minutes. With sync workers, as many slow uploads as
there are workers leave nobody to answer anyone else. Here gunicorn runs with the
repository's config (gthread workers), UPLOADS families each stream one SIZE-MB
context file at RATE MB/s through the real wizard upload view (session, CSRF,
encrypting handler, store), and meanwhile one client fetches /healthz and the family
start page at a steady pace. Figure: p95 of those pages during the uploads vs the
same pages with no upload running (measured before and after, pooled), same run.

`python -m bench.serving` runs the short version (20 MB each); `make bench` runs
200 MB each (BENCH_SERVING_MB). UPLOADS defaults to gunicorn's worker count: the
number of slow uploads that would stall a sync-worker server completely. Every
request goes to 127.0.0.1 only, and every loop is bounded in time.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000
PAGES = ("/healthz", "/")
PAGE_INTERVAL = 0.05  # s between page requests: ~20/s, a busy but not saturated site
QUIET_SECONDS = 8.0  # each of the two no-upload phases
CHUNK = 64 * 1024


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


def _connection(port: int, timeout: float = 30) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def get(port: int, path: str, cookies: dict | None = None) -> tuple[int, dict, bytes]:
    conn = _connection(port)
    try:
        headers = {"Host": "localhost", "Accept-Language": "es"}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        if cookies is not None:
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    cookies[key] = rest.split(";", 1)[0]
        return response.status, dict(response.getheaders()), body
    finally:
        conn.close()


def start_gunicorn(port: int, *, workers: int | None = None, log=None) -> subprocess.Popen:
    """gunicorn with the repository's config on 127.0.0.1:port; waits for /healthz."""
    args = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{port}"]  # fmt: skip
    if workers:
        args += ["--workers", str(workers)]
    server = subprocess.Popen(  # noqa: S603 - fixed module and config
        args, cwd=ROOT, stdout=log or subprocess.DEVNULL, stderr=log or subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            if get(port, "/healthz")[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not answer /healthz in time")


def family_session(port: int) -> dict:
    """A family's cookies (session with a report draft, CSRF) as the wizard leaves them."""
    cookies: dict = {}
    status, headers, _ = get(port, "/report/", cookies)
    location = headers.get("Location", "/report/")
    for _ in range(3):  # report/ → the group or the first step; each renders a form
        if status not in (301, 302):
            break
        status, headers, _ = get(port, location, cookies)
        location = headers.get("Location", location)
    if "csrftoken" not in cookies:
        raise RuntimeError("the wizard set no CSRF cookie")
    return cookies


def slow_upload(port: int, cookies: dict, *, size: int, rate: float, result: dict) -> None:
    """POST one text file of ``size`` bytes to the wizard's upload view at ``rate`` B/s."""
    boundary = "bench" + secrets.token_hex(12)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
        f'filename="chat.txt"\r\nContent-Type: text/plain\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = (b"chat export line, nothing personal\n" * 2000)[:CHUNK]
    conn = _connection(port, timeout=max(60, size / rate * 2))
    started = time.monotonic()
    try:
        conn.putrequest("POST", "/report/files/", skip_host=True)
        for name, value in {
            "Host": "localhost",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(len(head) + size + len(tail)),
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
            "X-CSRFToken": cookies["csrftoken"],
            "Accept": "application/json",
        }.items():
            conn.putheader(name, value)
        conn.endheaders()
        conn.send(head)
        sent = 0
        while sent < size:
            piece = block[: min(CHUNK, size - sent)]
            conn.send(piece)
            sent += len(piece)
            # Paced against the clock from the start, so the average rate holds.
            delay = started + sent / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        conn.send(tail)
        response = conn.getresponse()
        body = response.read()
        result.update(status=response.status, ok=json.loads(body or b"{}").get("ok"))
    except (OSError, ValueError) as exc:
        result.update(status=None, ok=False, error=type(exc).__name__)
    finally:
        result["seconds"] = time.monotonic() - started
        conn.close()


def sample_pages(port: int, until, samples: list[float], errors: list[str]) -> None:
    """Fetch PAGES in turn every PAGE_INTERVAL until ``until()``; latencies in ms."""
    turn = 0
    hard_stop = time.monotonic() + 3600
    while not until() and time.monotonic() < hard_stop:
        path = PAGES[turn % len(PAGES)]
        turn += 1
        started = time.perf_counter()
        try:
            status = get(port, path)[0]
        except OSError as exc:
            errors.append(f"{path}: {type(exc).__name__}")
            continue
        samples.append((time.perf_counter() - started) * 1000)
        if status != 200:
            errors.append(f"{path}: {status}")
        time.sleep(PAGE_INTERVAL)


def _for(seconds: float):
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() >= deadline


def measure(port: int, *, uploads: int, size: int, rate: float) -> dict:
    """Quiet pages, pages during ``uploads`` slow uploads, quiet pages again."""
    quiet: list[float] = []
    busy: list[float] = []
    errors: list[str] = []
    # Warm up every worker (imports, templates, connections) before anything counts.
    sample_pages(port, _for(3.0), [], [])
    sample_pages(port, _for(QUIET_SECONDS), quiet, errors)
    sessions = [family_session(port) for _ in range(uploads)]
    results = [{} for _ in range(uploads)]
    threads = [
        threading.Thread(
            target=slow_upload, args=(port, cookies), kwargs=dict(size=size, rate=rate, result=r)
        )
        for cookies, r in zip(sessions, results, strict=True)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # every upload is streaming before we count
    sample_pages(port, lambda: not any(t.is_alive() for t in threads), busy, errors)
    for thread in threads:
        thread.join()
    sample_pages(port, _for(QUIET_SECONDS), quiet, errors)
    return {
        "quiet_p95": p95(quiet),
        "busy_p95": p95(busy),
        "quiet_n": len(quiet),
        "busy_n": len(busy),
        "errors": errors,
        "uploads": results,
    }


def _workers() -> int:
    import runpy

    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"]


def run(*, size_mb: int, rate_mb: float = 1.0, uploads: int | None = None) -> dict:
    from amparo.localservices import free_port

    uploads = uploads or _workers()
    port = free_port()
    server = start_gunicorn(port)
    try:
        figures = measure(port, uploads=uploads, size=size_mb * MB, rate=rate_mb * MB)
    finally:
        server.terminate()
        server.wait(60)
    figures.update(size_mb=size_mb, rate_mb=rate_mb, upload_count=uploads)
    return figures


def bench_serving(row, *, size_mb: int | None = None) -> list[dict]:
    size_mb = size_mb or int(os.environ.get("BENCH_SERVING_MB", "200"))
    f = run(size_mb=size_mb)
    stored = sum(1 for u in f["uploads"] if u.get("ok"))
    ratio = f["busy_p95"] / f["quiet_p95"]
    met = ratio <= 1.5 and not f["errors"] and stored == f["upload_count"]
    return [
        row(
            f"p95 of /healthz and / during {f['upload_count']} slow uploads "
            f"({size_mb} MB at {f['rate_mb']:g} MB/s each, {stored} stored, "
            f"{len(f['errors'])} page errors, gunicorn gthread) vs no upload",
            f["busy_p95"], "ms", f["quiet_p95"], ratio, "<= 1.5x", met,
        )
    ]  # fmt: skip


def main() -> int:
    """The short version, standalone: throwaway services, 20 MB uploads."""
    import shutil
    import tempfile

    from bench.__main__ import _environment, _row, markdown

    (ROOT / "var").mkdir(exist_ok=True)
    var = Path(tempfile.mkdtemp(prefix="bench-serving-", dir=ROOT / "var"))
    _environment(var)
    from amparo.localservices import LocalServices, apply_env

    services = LocalServices(var / "services", ephemeral=True)
    apply_env(services.start())
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)
        rows = bench_serving(_row, size_mb=int(os.environ.get("BENCH_SERVING_MB", "20")))
    finally:
        services.stop()
        shutil.rmtree(var, ignore_errors=True)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
