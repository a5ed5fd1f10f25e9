"""Plaintext canaries (SECURITY.md promise 2: nothing sensitive in plaintext at rest).

Threat: a family's words, an address they name, a file they send, a staff note,
end up readable outside the vault's encryption — in a database dump or backup,
PostgreSQL's own files and WAL, the evidence store, a temporary upload file, a
Redis value (cache, broker message), or a log line.

The whole flow runs with one distinctive canary in every free text and file: a
family files a report through the wizard (every text field, a context file over
Django's 2.5 MiB spooling threshold), signs in and writes a message; staff write a
note and a reply, fill the takedown facts, prepare a notice, refer the case and
start a police export (proof.world built with the canary). Then everything at
rest is scanned for the canary as typed, upper and lower case, UTF-16 (LE/BE)
and base64 (standard and URL-safe, at the three alignments), and inside every
Redis value that decodes as base64.

A control proves the scanner sees what it should: a second canary is written
plainly to a table, a temporary file, a Redis key and a log line, and must be
found in each place (dump, data directory, temp dir, Redis, logs).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import logging
import os
import secrets
import tempfile
import time
from pathlib import Path

from proof import count, figure, stack, zero

SUITE = "Plaintext canaries"
MiB = 1024 * 1024
MAX_FILE = 256 * MiB  # larger files are read in slices


def canary() -> str:
    # Lowercase letters and digits only: it survives every normaliser (handles are
    # lowercased, URLs keep their path) and never occurs by chance.
    return "qzkanary" + secrets.token_hex(8)


def forms_of(value: str) -> list[bytes]:
    """Every encoding the canary could sit in: as typed, cased, UTF-16, base64."""
    plain = [value, value.upper(), value.capitalize()]
    found = set()
    for text in plain:
        raw = text.encode()
        found |= {raw, text.encode("utf-16-le"), text.encode("utf-16-be")}
        for shift in range(3):
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                encoded = encode(b"\0" * shift + raw)
                # Drop the characters that depend on the bytes around the canary.
                start = (shift * 8 + 5) // 6 + 1
                stop = len(encoded) - 4
                found.add(encoded[start:stop])
    return sorted(found, key=len)


class Scanner:
    def __init__(self, needles: list[bytes]) -> None:
        self.needles = needles
        self.overlap = max(len(n) for n in needles)
        self.bytes = 0

    def hit(self, data: bytes) -> bool:
        self.bytes += len(data)
        return any(n in data for n in self.needles)

    def file(self, path: Path) -> bool:
        """Read in slices with overlap, so a canary across a slice boundary is seen."""
        try:
            with open(path, "rb") as fh:
                tail = b""
                while block := fh.read(8 * MiB):
                    if self.hit(tail + block):
                        return True
                    tail = block[-self.overlap :]
        except OSError:
            pass
        return False

    def tree(self, root: Path, *, since: float | None = None) -> list[str]:
        hits = []
        for folder, _dirs, names in os.walk(root):
            for name in names:
                path = Path(folder) / name
                try:
                    if not path.is_file() or (since and path.stat().st_mtime < since):
                        continue
                except OSError:
                    continue
                if self.file(path):
                    hits.append(str(path))
        return hits


def redis_values(url: str):
    """(db, key, value bytes) for every key of every Redis database, by its type."""
    import redis

    info = redis.Redis.from_url(url).info("keyspace")
    for name in info:
        db = int(name.removeprefix("db"))
        r = redis.Redis.from_url(url, db=db)
        for key in r.scan_iter(count=1000):
            kind = r.type(key).decode()
            if kind == "string":
                values = [r.get(key) or b""]
            elif kind == "list":
                values = r.lrange(key, 0, -1)
            elif kind == "hash":
                values = [b for pair in r.hgetall(key).items() for b in pair]
            elif kind == "set":
                values = list(r.smembers(key))
            elif kind == "zset":
                values = [m for m, _score in r.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":
                values = [b for _id, fields in r.xrange(key) for kv in fields.items() for b in kv]
            else:
                values = [r.dump(key) or b""]
            yield db, key, [key, *values]


def decoded(value: bytes) -> list[bytes]:
    """The value, and what it decodes to if it is base64 (Celery bodies are)."""
    out = [value]
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        with contextlib.suppress(binascii.Error, ValueError):
            out.append(decode(value.strip() + b"==="))
    # JSON documents with base64 inside (a Celery message's "body").
    for piece in value.split(b'"'):
        if len(piece) >= 16:
            with contextlib.suppress(binascii.Error, ValueError):
                out.append(base64.b64decode(piece + b"===", validate=False))
    return out


class LogCapture(logging.Handler):
    """Every record of every logger, at every level, formatted as a log file would be."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.stream = io.StringIO()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        self.loggers: list[tuple[logging.Logger, int]] = []

    def emit(self, record) -> None:
        try:
            self.stream.write(self.format(record) + "\n")
        except Exception:
            self.stream.write(repr(record.__dict__) + "\n")

    def __enter__(self):
        loggers = [logging.getLogger()]
        loggers += [
            lg
            for lg in logging.Logger.manager.loggerDict.values()
            if isinstance(lg, logging.Logger) and not lg.propagate
        ]
        root = logging.getLogger()
        # The console keeps its level: everything is captured, not everything printed.
        self.handlers = [(h, h.level) for h in root.handlers]
        for handler, level in self.handlers:
            handler.setLevel(max(level, root.getEffectiveLevel()))
        for lg in loggers:
            self.loggers.append((lg, lg.level))
            lg.addHandler(self)
        root.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc):
        for lg, level in self.loggers:
            lg.removeHandler(self)
            lg.setLevel(level)
        for handler, level in self.handlers:
            handler.setLevel(level)


def _png_with_text(text: str) -> bytes:
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text)
    out = io.BytesIO()
    Image.new("RGB", (320, 640), (230, 230, 240)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def family_files_a_report(c: str, organisation) -> tuple[str, str]:
    """The wizard as a family uses it, with the canary in every text field and file."""
    import json
    import re

    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    client = Client()
    if client.get("/report/").get("Location") == "/report/group/":
        client.post("/report/group/", {"group": str(organisation.uuid)})
    steps = {
        "who": {"filer_role": "parent", "age_band": "14_15", "contact_preference": "email",
                "contact": f"{c}@example.org"},
        "what": {"categories": ["fake_images", "sextortion"], "narrative": f"Han hecho {c}"},
        "urgent": {"payments": "ES91 2100 0418 4502 0005 1332",
                   "demanding_platform": "instagram", "demanding_handle": f"@{c}x"},
        "where": {"platforms": ["telegram"], "urls": f"https://t.me/{c}/12",
                  "groups": f"https://chat.whatsapp.com/{c}Ab"},
        "involved": {"platform": "telegram", "handles": f"@{c}y", "phones": "612 34 56 78",
                     "names": f"Nombre {c}"},
        "evidence": {"fingerprints": json.dumps([{"sha256": "a" * 64, "md5": "b" * 32,
                                                  "pdq": "f" * 64, "pdqQuality": 90,
                                                  "pdqVersion": "pdq-1"}])},
        "consent": {"takedown": "on", "hash_sharing": "on", "contact": "on", "police": "on",
                    "assent": "yes"},
    }  # fmt: skip
    # Over 2.5 MiB, so Django's own handlers would have spooled it to a plaintext file.
    line = f"[12/09/23 10:00] Ana: {c} ¿quién ha mandado esto?\n".encode()
    chat = line * 60_000
    for step, data in steps.items():
        if step == "evidence":
            response = client.post(
                "/report/files/",
                {
                    "files": [
                        SimpleUploadedFile(f"chat_{c}.txt", chat, "text/plain"),
                        SimpleUploadedFile(f"captura_{c}.png", _png_with_text(c), "image/png"),
                    ]
                },
                HTTP_ACCEPT="application/json",
            )
            assert response.status_code == 200, response.content[:500]
        response = client.post(f"/report/{step}/", data)
        assert response.status_code == 302, (step, response.content.decode()[:2000])
    response = client.post("/report/check/", {"website": ""})
    assert response.status_code == 302 and response.url == "/receipt/", (
        response.status_code,
        response.get("Location"),
        response.content.decode()[:3000],
    )
    html = client.get("/receipt/").content.decode()
    reference = re.search(r"AMP-[0-9A-Z]{8}", html).group(0)
    code = "".join(re.findall(r'<span class="code-group">([0-9A-Z]{4})</span>', html))
    family = Client()
    response = family.post("/case/", {"reference": reference, "code": code})
    assert response.url == "/case/status/"
    family.post("/case/status/", {"action": "message", "body": f"Gracias {c}"})
    family.post("/case/status/", {"action": "links", "urls": f"https://x.com/{c}/status/1"})
    family.post(
        "/case/files/",
        {"files": [SimpleUploadedFile(f"mas_{c}.txt", line * 100, "text/plain")]},
    )
    return reference, code


def run_worker_tasks() -> tuple[int, int]:
    """Run what the outbox promised, in this process, as the worker would: context
    files processed, the police export built, notices sent to the fake inboxes.
    The messages also went to the broker (Redis), whose values are scanned."""
    from amparo.celery import app
    from support.models import OutboxMessage

    ran = failed = 0
    seen: set[int] = set()
    for _ in range(3):  # tasks may promise further tasks
        pending = list(
            OutboxMessage.objects.filter(done_at=None).exclude(pk__in=seen).order_by("pk")
        )
        for message in pending:
            task = app.tasks.get(message.task)
            if task is None:
                continue
            result = task.apply(kwargs={**message.kwargs, "outbox_id": str(message.uuid)})
            ran += 1
            failed += result.failed()
            seen.add(message.pk)
        if not pending:
            break
    return ran, failed


def plant_control(control: str, scratch: Path) -> None:
    """The same canary, plainly, where each scan looks: it must be found there."""
    from django.core.cache import cache
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS proof_control (t text)")
        cur.execute("INSERT INTO proof_control VALUES (%s)", [control])
    (scratch / "control.txt").write_text(control)
    cache.set("proof-control", control, 600)
    logging.getLogger("proof").warning("control %s", control)


def drop_control() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS proof_control")


def run(*, short: bool = False) -> list[dict]:
    from django.conf import settings
    from django.db import connection

    from proof import world as world_module

    c, control = canary(), canary()
    started = time.time() - 1
    scratch = Path(tempfile.mkdtemp(prefix="proof-canary-"))
    temp_dirs = {Path(tempfile.gettempdir()), scratch}
    if settings.FILE_UPLOAD_TEMP_DIR:
        temp_dirs.add(Path(settings.FILE_UPLOAD_TEMP_DIR))
    from amparo.celery import app

    # As the worker does at start: import every app's tasks (Celery's Django fix-up
    # re-runs django.setup(), which reconfigures logging: so before the capture).
    app.loader.import_default_modules()
    from django.test import override_settings

    # Mail that leaves is the recipient's: the family's address (a canary here) must be
    # in the To: of the notice that they have news, and a takedown notice carries the
    # URLs it asks to remove. Production hands mail to SMTP and keeps no copy, so the
    # run does the same (in memory, as the short version under pytest does); the
    # development backend's folder of .eml files would otherwise be a false hit.
    with (
        LogCapture() as logs,
        override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"),
    ):
        world = world_module.build(canary=c)
        family_files_a_report(c, world.org_x)
        ran, failed = run_worker_tasks()
        plant_control(control, scratch)
    try:
        with connection.cursor() as cur:
            cur.execute("CHECKPOINT")  # table and WAL pages on disk now
        scans: dict[str, tuple[list[str], list[str]]] = {}
        found, seen = Scanner(forms_of(c)), Scanner(forms_of(control))

        def scan(place: str, hits: list[str], control_hits: list[str]) -> None:
            scans[place] = (hits, control_hits)

        dump = stack.pg_dump()
        scan("pg_dump of the database", ["dump"] * found.hit(dump), ["dump"] * seen.hit(dump))
        services = stack.SERVICES
        if services is not None:
            data_dir = Path(services.postgres.data_dir)
            scan("PostgreSQL data directory and WAL", found.tree(data_dir),
                 seen.tree(data_dir, since=started))  # fmt: skip
        evidence = Path(settings.EVIDENCE_ROOT)
        scan("evidence store", found.tree(evidence), [])
        exports = Path(settings.POLICE_EXPORT_ROOT)
        if exports.exists():
            scan("police export folder", found.tree(exports), [])
        temp_hits, temp_control = [], []
        for folder in sorted(temp_dirs):
            temp_hits += found.tree(folder, since=started)
            temp_control += seen.tree(folder, since=started)
        scan("temporary directories", temp_hits, temp_control)
        redis_hits, redis_control, keys = [], [], 0
        for db, key, values in redis_values(settings.REDIS_URL):
            keys += 1
            pieces = [d for v in values for d in decoded(v)]
            if any(found.hit(p) for p in pieces):
                redis_hits.append(f"db{db}:{key!r}")
            if any(seen.hit(p) for p in pieces):
                redis_control.append(f"db{db}:{key!r}")
        scan(f"Redis ({keys} keys, every database, by type)", redis_hits, redis_control)
        log_text = logs.stream.getvalue().encode()
        scan("log output", ["logs"] * found.hit(log_text), ["logs"] * seen.hit(log_text))
    finally:
        drop_control()
    rows = [
        count(SUITE, "worker tasks run on the canary data", ran),
        zero(SUITE, "worker tasks that failed", failed),
        count(SUITE, "bytes scanned", found.bytes, 4 * MiB),
    ]
    hits = [f"{place}: {h}" for place, (found_, _c) in scans.items() for h in found_]
    rows.append(zero(SUITE, "canary hits (" + ", ".join(scans) + ")", len(hits)))
    rows[-1]["details"] = hits
    controlled = [p for p, (_h, ctl) in scans.items() if ctl]
    expected = [p for p in scans if p not in {"evidence store", "police export folder"}]
    rows.append(
        figure(
            SUITE,
            "control canary written plainly: found by the scan",
            f"{len(controlled)}/{len(expected)} places",
            "all",
            set(expected) <= set(controlled),
        )
    )
    rows[-1]["details"] = sorted(set(expected) - set(controlled))
    return rows
