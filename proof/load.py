"""Load: many families filing reports with context files at once (promise 3: nothing lost).

Threat: under a burst — a school class told the same morning to report through
their incident's link — requests time out, a report is half-saved, or a family is
told "received" for a report that is not there.

FAMILIES threads, each a family with its own cookies, walk the wizard through the
incident link (who, what, where, consent), upload a context file, send the report
and read the receipt, against a real HTTP server on loopback (gunicorn with threaded
workers for `make proof`; the test run's live server for the short version). Then
every receipt is checked against the database: the case exists with its file.
Figures: submissions, errors, lost, and request latency p50/p95/p99.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from proof import count, figure, zero

SUITE = "Load"
ROOT = Path(__file__).resolve().parent.parent
FAMILIES = 50
UPLOAD_BYTES = 1024 * 1024


class Family:
    """One family's browser: its cookies (sent over plain HTTP on loopback although the
    production settings mark them Secure), the CSRF token, and its request timings."""

    def __init__(self, base: str, timings: list[float], lock: threading.Lock) -> None:
        import requests

        self.base = base
        self.http = requests.Session()
        self.timings, self.lock = timings, lock

    def _cookie_header(self) -> dict:
        return {"Cookie": "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)}

    def request(self, method: str, path: str, **kwargs):
        headers = {**self._cookie_header(), **kwargs.pop("headers", {})}
        if method == "POST":
            token = next((c.value for c in self.http.cookies if "csrf" in c.name.lower()), "")
            headers["X-CSRFToken"] = token
        started = time.perf_counter()
        response = self.http.request(
            method, self.base + path, headers=headers, allow_redirects=False, timeout=120,
            **kwargs,
        )  # fmt: skip
        with self.lock:
            self.timings.append(time.perf_counter() - started)
        return response

    def file_a_report(self, incident_code: str, n: int) -> str:
        """Walk the wizard; return the case reference from the receipt."""

        def expect(response, status, where):
            if response.status_code != status:
                raise RuntimeError(f"{where}: {response.status_code}")
            return response

        expect(self.request("GET", f"/i/{incident_code}/"), 302, "incident link")
        expect(self.request("GET", "/report/who/"), 200, "who page")  # sets the CSRF cookie
        steps = [
            ("who", {"filer_role": "parent", "age_band": "14_15",
                     "contact_preference": "in_app"}),
            ("what", {"categories": ["fake_images"], "narrative": f"Familia {n} de la clase"}),
            ("where", {"platforms": ["whatsapp"], "urls": f"https://t.me/canal_{n}/1"}),
        ]  # fmt: skip
        for step, data in steps:
            expect(self.request("POST", f"/report/{step}/", data=data), 302, step)
        chat = (f"[10:0{n % 10}] mensaje de la familia {n}\n".encode() * 40_000)[:UPLOAD_BYTES]
        response = self.request(
            "POST", "/report/files/", files={"files": (f"chat_{n}.txt", chat, "text/plain")},
            headers={"Accept": "application/json"},
        )  # fmt: skip
        expect(response, 200, "upload")
        steps = [("involved", {}), ("evidence", {"fingerprints": ""}),
                 ("consent", {"takedown": "on", "contact": "on", "assent": "yes"})]  # fmt: skip
        for step, data in steps:
            expect(self.request("POST", f"/report/{step}/", data=data), 302, step)
        response = expect(self.request("POST", "/report/check/", data={"website": ""}), 302, "send")
        if response.headers.get("Location") != "/receipt/":
            raise RuntimeError(f"send: to {response.headers.get('Location')}")
        html = expect(self.request("GET", "/receipt/"), 200, "receipt").text
        return re.search(r"AMP-[0-9A-Z]{8}", html).group(0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn on loopback, threaded workers, the same settings and servers as ours."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.process = None

    def __enter__(self) -> str:
        command = [
            sys.executable, "-m", "gunicorn", "amparo.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--worker-class", "gthread",
            "--workers", "2", "--threads", "16", "--timeout", "120", "--log-level", "warning",
        ]  # fmt: skip
        if (ROOT / "gunicorn.conf.py").exists():
            command[4:4] = ["--config", str(ROOT / "gunicorn.conf.py")]
        self.process = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy())  # noqa: S603
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return f"http://127.0.0.1:{self.port}"
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def run(*, short: bool = False, base_url: str | None = None) -> list[dict]:
    from support import casework, members
    from support.models import Case, ContextFile, Role
    from vault.audit import Actor

    families = 8 if short else FAMILIES
    organisation = members.create_organisation(name="Colegio", actor=Actor.system("proof"))
    from proof.world import member

    coordinator = member(organisation, Role.COORDINATOR)
    incident = casework.create_incident(actor=coordinator, title=f"Clase {secrets.token_hex(2)}")
    timings: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def one(n: int):
        try:
            return Family(base, timings, lock).file_a_report(incident.intake_code, n)
        except Exception as exc:
            with lock:
                errors.append(f"family {n}: {exc}")
            return None

    server = Gunicorn() if base_url is None else None
    base = server.__enter__() if server else base_url
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=families) as pool:
            receipts = [r for r in pool.map(one, range(families)) if r]
    finally:
        if server:
            server.__exit__(None, None, None)
    seconds = time.perf_counter() - started
    found = set(
        Case.objects.filter(reference__in=receipts, incident=incident).values_list(
            "reference", flat=True
        )
    )
    with_file = set(
        ContextFile.objects.filter(case__reference__in=receipts).values_list(
            "case__reference", flat=True
        )
    )
    lost = [r for r in receipts if r not in found or r not in with_file]
    ms = [t * 1000 for t in timings]
    rows = [
        count(
            SUITE,
            f"families filing at once, each with a {UPLOAD_BYTES // 1024} KiB file",
            len(receipts),
            families,
        ),
        zero(SUITE, "errors (a family not told their report was received)", len(errors)),
        zero(SUITE, "lost (a receipt without its case and file)", len(lost)),
    ]
    rows[1]["details"], rows[2]["details"] = errors, lost
    for q in (50, 95, 99):
        rows.append(
            figure(
                SUITE,
                f"request latency p{q} ({len(ms):,} requests in {seconds:.0f} s)",
                f"{_percentile(ms, q):,.0f} ms",
                "measured",
                True,
            )
        )
    return rows
