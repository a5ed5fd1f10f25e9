"""Faults with the real services (promise 3: nothing lost, nothing twice, no plaintext left).

Threat: the machine misbehaves at the worst moment — the OOM killer takes a worker in
the middle of decrypting and fingerprinting a family's file or of sending a mail,
Redis goes away while a class of families is reporting, PostgreSQL restarts while a
report is being saved, the disk fills during an upload — and a report or file is
lost, half-saved, processed twice, a mail goes out twice as two messages, a family
gets a 500, or plaintext is left on disk.

Every fault is real: workers are `celery worker` processes killed with SIGKILL at
random moments (proof/workers.py), Redis and PostgreSQL are the stack's own servers
stopped and restarted, the full disk is a small tmpfs (when this process may mount
one; otherwise a kernel file-size limit, RLIMIT_FSIZE, and the figure says so).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import resource
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from email import message_from_bytes
from pathlib import Path

from proof import canaries, count, figure, stack, workers, zero

SUITE = "Faults"
ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
PER_FAMILY = 40

BEFORE_FILES = [
    ("who", {"filer_role": "parent", "age_band": "14_15", "contact_preference": "in_app"}),
    ("what", {"categories": ["fake_images"], "narrative": "Una foto falsa en el grupo"}),
    ("where", {"platforms": ["whatsapp"], "urls": "https://t.me/canal_clase/1"}),
]
AFTER_FILES = [
    ("involved", {}),
    ("evidence", {"fingerprints": ""}),
    ("consent", {"takedown": "on", "contact": "on", "assent": "yes"}),
]


class WizardError(Exception):
    pass


class FamilyClient:
    """One family's browser, in process (the Django test client), counting every 5xx."""

    def __init__(self, n: int) -> None:
        from django.test import Client

        self.client = Client(
            raise_request_exception=False,
            REMOTE_ADDR=f"10.{n // 60000}.{n // 250 % 240}.{n % 250 + 1}",
            HTTP_ACCEPT_LANGUAGE="es",
        )
        self.server_errors: list[str] = []

    def call(self, method: str, path: str, data=None, status: int | None = None, **extra):
        response = getattr(self.client, method)(path, data or {}, **extra)
        if response.status_code >= 500:
            self.server_errors.append(f"{method.upper()} {path}: {response.status_code}")
        if status is not None and response.status_code != status:
            raise WizardError(f"{path}: {response.status_code}")
        return response

    def up_to_sending(self, incident_code: str, files=()) -> None:
        self.call("get", f"/i/{incident_code}/", status=302)
        for step, data in BEFORE_FILES:
            self.call("post", f"/report/{step}/", data, status=302)
        for upload in files:
            self.upload(upload, status=200)
        for step, data in AFTER_FILES:
            self.call("post", f"/report/{step}/", data, status=302)

    def upload(self, upload, status: int | None = None):
        return self.call(
            "post",
            "/report/files/",
            {"files": upload},
            status=status,
            HTTP_ACCEPT="application/json",
        )

    def send(self) -> str:
        response = self.call("post", "/report/check/", {"website": ""}, status=302)
        if response.headers.get("Location") != "/receipt/":
            raise WizardError(f"send: to {response.headers.get('Location')}")
        html = self.call("get", "/receipt/", status=200).content.decode()
        return re.search(r"AMP-[0-9A-Z]{8}", html).group(0)


def _incident():
    from proof.world import member
    from support import casework, members
    from support.models import Role
    from vault.audit import Actor

    organisation = members.create_organisation(
        name=f"Colegio {secrets.token_hex(2)}", actor=Actor.system("proof")
    )
    coordinator = member(organisation, Role.COORDINATOR)
    incident = casework.create_incident(actor=coordinator, title="Clase")
    return organisation, coordinator, incident


def _noise_png(canary: str, n: int, side: int) -> bytes:
    """An image that takes real work to decode, fingerprint and shrink, with the canary
    in a text chunk (so the plaintext is recognisable wherever it might be left)."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", f"{canary} {n}")
    image = Image.frombytes("RGB", (side, side), random.Random(n).randbytes(side * side * 3))
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, compress_level=1)
    return out.getvalue()


def _orphans(root: Path) -> list[str]:
    """Store objects with no row: a worker killed between writing a derivative's
    ciphertext and committing its row. Unreadable: its DEK existed only in memory."""
    from vault.models import Blob

    known = set(Blob.objects.values_list("storage_key", flat=True))
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            key = str((Path(folder) / name).relative_to(root))
            if key not in known:
                found.append(key)
    return found


def _kill_at_random(rows, *, kills: int, env: dict, max_delay: float, rng, log: Path):
    """Start a worker, wait until it holds a row, SIGKILL it after a random delay; repeat.

    Returns (kills made, kills that landed while a task held its row).
    """
    from datetime import timedelta

    from django.utils import timezone

    from support import outbox

    made = inside = 0
    for _ in range(kills):
        if not rows.filter(done_at=None).exists():
            break
        started = timezone.now()
        worker = workers.Worker(env, log=log).start()
        # A lease this worker took ends after started + LEASE_SECONDS; the killed
        # worker's leases (taken before `started`) end before that.
        taken_by_this_worker = rows.filter(
            done_at=None, leased_until__gt=started + timedelta(seconds=workers.LEASE_SECONDS)
        )
        deadline, last_sweep = time.monotonic() + 90, 0.0
        while time.monotonic() < deadline and not taken_by_this_worker.exists():
            if time.monotonic() - last_sweep > 0.5:
                outbox.sweep()  # rows a killed worker held go out again once their lease lapses
                last_sweep = time.monotonic()
            time.sleep(0.02)
        time.sleep(rng.uniform(0, max_delay))
        inside += taken_by_this_worker.exists()
        worker.kill()
        made += 1
    return made, inside


def worker_kills(kills: int, files: int, *, rng) -> list[dict]:
    """(a) SIGKILL during context-file processing (decrypt, MD5, PDQ, derivatives)."""
    from datetime import timedelta

    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db.models import Q
    from django.utils import timezone

    from support.models import Case, ContextFile, OutboxMessage
    from vault import services as vault_services
    from vault.audit import Actor
    from vault.crypto import StreamHasher
    from vault.models import AuditEvent, Blob
    from vault.storage import evidence_store
    from vault.sweep import sweep_store

    label = "worker SIGKILL during file processing"
    canary = canaries.canary()
    _org, _coordinator, incident = _incident()
    uploads = [
        SimpleUploadedFile(f"captura_{n}.png", _noise_png(canary, n, 640), "image/png")
        for n in range(files)
    ]
    cases = []
    for start in range(0, files, PER_FAMILY):  # a case takes at most 50 files
        family = FamilyClient(start)
        family.up_to_sending(incident.intake_code, uploads[start : start + PER_FAMILY])
        cases.append(Case.objects.get(reference=family.send()))
    context_files = ContextFile.objects.filter(case__in=cases)
    blobs = list(Blob.objects.filter(pk__in=context_files.values_list("blob_id", flat=True)))
    rows = OutboxMessage.objects.filter(
        task="support.process_evidence",
        kwargs__file__in=[str(u) for u in context_files.values_list("uuid", flat=True)],
    )
    scratch = Path(tempfile.mkdtemp(prefix="faults-tmp-", dir=ROOT / "var"))
    env = workers.environment(TMPDIR=str(scratch))
    log = scratch.parent / f"{scratch.name}.log"
    try:
        with workers.short_leases():
            made, inside = _kill_at_random(
                rows, kills=kills, env=env, max_delay=0.8, rng=rng, log=log
            )
            with workers.Worker(env, log=log):
                drained = workers.drain(lambda: not rows.filter(done_at=None).exists(), timeout=240)
        lost, twice = [], []
        for blob in Blob.objects.filter(pk__in=[b.pk for b in blobs]):
            hasher = StreamHasher()
            with contextlib.closing(
                vault_services.open_blob(blob, actor=Actor.system("proof"), purpose="open")
            ) as stream:
                for segment in stream:
                    hasher.update(segment)
            sha256, md5 = hasher.hexdigests()
            if sha256 != blob.sha256 or md5 != blob.md5 or blob.processed_at is None:
                lost.append(
                    f"{blob.uuid}: sha256 ok={sha256 == blob.sha256} md5={blob.md5!r} "
                    f"processed={blob.processed_at is not None}"
                )
            kinds = list(blob.derivatives.values_list("kind", flat=True))
            events = AuditEvent.objects.filter(event="blob.processed", object_id=blob.uuid).count()
            if events != 1 or len(kinds) != len(set(kinds)) or len(kinds) not in (0, 2):
                twice.append(f"{blob.uuid}: {events} processed events, derivatives {kinds}")
        scanner = canaries.Scanner(canaries.forms_of(canary))
        control = canaries.Scanner(canaries.forms_of(canary)).hit(uploads[0].file.getvalue())
        plaintext = scanner.tree(Path(settings.EVIDENCE_ROOT)) + scanner.tree(scratch)
        orphans = _orphans(Path(settings.EVIDENCE_ROOT))
        # The beat task's sweep, as it runs a day later (past its grace period): every
        # orphan goes, and every file with a row must still be there.
        swept = sweep_store(now=timezone.now() + timedelta(hours=25))
        left = _orphans(Path(settings.EVIDENCE_ROOT))
        store = evidence_store()
        ids = [b.pk for b in blobs]
        missing = [
            str(blob.uuid)
            for blob in Blob.objects.filter(Q(pk__in=ids) | Q(parent_id__in=ids))
            if not store.exists(blob.storage_key)
        ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(OSError):
            log.unlink()
    rows_out = [
        count(SUITE, f"{label}: SIGKILLs (random moments), {files} images of 1.2 MB", made, kills),
        figure(
            SUITE, f"{label}: kills that landed inside a running task", inside, "measured", True
        ),
        figure(SUITE, f"{label}: queue drained after restart", drained, "True", drained),
        zero(SUITE, f"{label}: files lost (not processed, or not opening whole)", len(lost)),
        zero(SUITE, f"{label}: files processed twice (events or derivatives)", len(twice)),
        zero(
            SUITE,
            f"{label}: plaintext left in the store or temp dir "
            f"({scanner.bytes:,} bytes scanned; control found: {control})",
            len(plaintext) + (not control),
        ),
        figure(
            SUITE,
            f"{label}: ciphertext left without a row ({sum(o.endswith('.part') for o in orphans)}"
            " of them partial writes; the key was never stored: unreadable)",
            len(orphans),
            "measured",
            True,
        ),
        zero(
            SUITE,
            f"{label}: ciphertext left without a row after the sweep "
            f"({swept['orphans_removed'] + swept['partials_removed']} removed)",
            len(left),
        ),
        zero(
            SUITE,
            f"{label}: these files or their derivatives without ciphertext after the sweep",
            len(missing),
        ),
    ]
    rows_out[3]["details"], rows_out[4]["details"], rows_out[5]["details"] = lost, twice, plaintext
    rows_out[7]["details"], rows_out[8]["details"] = left, missing
    return rows_out


SMTP_SECONDS = 0.05


class Recorder:
    """aiosmtpd handler keeping each message's Message-ID."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.ids: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        await asyncio.sleep(self.delay)  # a relay takes a moment to accept a message
        with self.lock:
            self.ids.append(message_from_bytes(envelope.content)["Message-ID"] or "")
        return "250 OK"


@contextlib.contextmanager
def smtp_server(delay: float = SMTP_SECONDS):
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # a line per SMTP command
    recorder = Recorder(delay)
    port = workers_free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def workers_free_port() -> int:
    from amparo.localservices import free_port

    return free_port()


def smtp_env(port: int, **extra) -> dict:
    return workers.environment(
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        EMAIL_USE_TLS="false",
        EMAIL_HOST_USER="",
        EMAIL_HOST_PASSWORD="unused-no-login",  # noqa: S106 - required when DEBUG is off; no login
        **extra,
    )


def family_cases(organisation, incident, n: int) -> list:
    """Cases of families who asked to be told of news by email."""
    from proof.world import answers
    from reporting.forms import submission
    from support import intake

    made = []
    for i in range(n):
        data = answers()
        data["who"]["contact"] = f"familia{i}.{secrets.token_hex(3)}@example.org"
        case, _code = intake.submit_report(
            organisation=organisation, incident=incident, submission=submission(data)
        )
        made.append(case)
    return made


def mail_kills(kills: int, families: int, replies: int, invitations: int, *, rng) -> list[dict]:
    """(b) SIGKILL while the outbox sends family news and staff invitations by SMTP."""
    from django.db import transaction

    from proof.world import member
    from support import casework
    from support.members import invite_member
    from support.models import OutboxMessage, Role

    label = "worker SIGKILL during mail dispatch"
    organisation, coordinator, incident = _incident()
    admin = member(organisation, Role.ORG_ADMIN)
    first = OutboxMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for case in family_cases(organisation, incident, families):
        for r in range(replies):
            with transaction.atomic():
                casework.reply_to_family(actor=coordinator, case=case, body=f"Novedad {r}")
    for i in range(invitations):
        invite_member(
            actor=admin, email=f"equipo{i}.{secrets.token_hex(3)}@example.org", role=Role.CASEWORKER
        )
    rows = OutboxMessage.objects.filter(
        pk__gt=first, task__in=["support.notify_family", "support.send_invitation_email"]
    )
    expected = {f"<outbox-{u}@amparo.invalid>" for u in rows.values_list("uuid", flat=True)}
    log = ROOT / "var" / f"faults-mail-{secrets.token_hex(4)}.log"
    with smtp_server() as (recorder, port), workers.short_leases():
        env = smtp_env(port)
        made, inside = _kill_at_random(rows, kills=kills, env=env, max_delay=0.4, rng=rng, log=log)
        with workers.Worker(env, log=log):
            drained = workers.drain(lambda: not rows.filter(done_at=None).exists(), timeout=120)
        received = list(recorder.ids)
    with contextlib.suppress(OSError):
        log.unlink()
    distinct = set(received)
    lost = sorted(expected - distinct)
    strays = sorted(distinct - expected)
    again = len(received) - len(distinct)
    rows_out = [
        count(
            SUITE,
            f"{label}: SIGKILLs (random moments), {len(expected)} mails "
            f"({families * replies} family news, {invitations} invitations)",
            made,
            kills,
        ),
        figure(
            SUITE, f"{label}: kills that landed inside a running task", inside, "measured", True
        ),
        figure(SUITE, f"{label}: queue drained after restart", drained, "True", drained),
        zero(
            SUITE, f"{label}: mails lost (a notification whose Message-ID never arrived)", len(lost)
        ),
        zero(
            SUITE,
            f"{label}: mails sent twice as different messages (a Message-ID not the row's)",
            len(strays),
        ),
        figure(
            SUITE,
            f"{label}: the same Message-ID delivered again (killed between the "
            "server's 250 and the row marked done; shown once)",
            again,
            "measured",
            True,
        ),
    ]
    rows_out[3]["details"], rows_out[4]["details"] = lost, strays
    return rows_out


def redis_down(reports: int) -> list[dict]:
    """(c) Redis stopped for the middle third of a class's reports."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from support.models import Case, OutboxMessage

    label = "Redis stopped during intake"
    _org, _coordinator, incident = _incident()
    first = OutboxMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    receipts, errors, server_errors, during = [], [], [], 0
    redis = stack.SERVICES.redis
    stop_at, start_at = reports // 3, 2 * reports // 3
    try:
        for n in range(reports):
            if n == stop_at:
                redis.stop()
            if n == start_at:
                redis.start()
            family = FamilyClient(n)
            chat = SimpleUploadedFile(
                f"chat_{n}.txt", f"[10:0{n % 10}] mensaje {n}\n".encode() * 500, "text/plain"
            )
            try:
                family.up_to_sending(incident.intake_code, [chat])
                receipts.append(family.send())
                during += stop_at <= n < start_at
            except Exception as exc:
                errors.append(f"family {n}: {type(exc).__name__}: {exc}")
            server_errors += family.server_errors
    finally:
        if redis.process is None:
            redis.start()
    cases = Case.objects.filter(reference__in=receipts, incident=incident)
    found = set(cases.filter(files__isnull=False).values_list("reference", flat=True))
    lost = [r for r in receipts if r not in found]
    rows = OutboxMessage.objects.filter(pk__gt=first)
    undispatched = rows.filter(dispatched_at=None).count()
    log = ROOT / "var" / f"faults-redis-{secrets.token_hex(4)}.log"
    with workers.short_leases(), workers.Worker(workers.environment(), log=log):
        workers.drain(lambda: not rows.filter(done_at=None).exists(), timeout=180)
    with contextlib.suppress(OSError):
        log.unlink()
    left = rows.filter(done_at=None).count()
    out = [
        count(
            SUITE,
            f"{label}: reports with a file, {reports} families, "
            f"{start_at - stop_at} while Redis was down",
            len(receipts),
            reports,
        ),
        count(SUITE, f"{label}: reports received while Redis was down", during, start_at - stop_at),
        zero(SUITE, f"{label}: 500s", len(server_errors)),
        zero(
            SUITE,
            f"{label}: reports lost (a receipt without its case and file)",
            len(lost) + len(errors),
        ),
        figure(
            SUITE,
            f"{label}: outbox rows the broker refused (kept, sent by the sweeper)",
            undispatched,
            "measured",
            True,
        ),
        zero(
            SUITE, f"{label}: queued work not done after Redis returned ({rows.count()} rows)", left
        ),
    ]
    out[2]["details"], out[3]["details"] = server_errors, errors + lost
    return out


def _counts() -> dict[str, int]:
    from support.models import Case, ContextFile, Identifier, Location, OutboxMessage, ReportDraft
    from vault.models import AuditEvent, Blob

    models = (Case, ReportDraft, ContextFile, Blob, Location, Identifier, OutboxMessage, AuditEvent)
    return {m.__name__: m.objects.count() for m in models}


def postgres_restart() -> list[dict]:
    """(d) PostgreSQL restarted while a report is being saved."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from support import intake

    label = "PostgreSQL restarted mid-request"
    _org, _coordinator, incident = _incident()
    family = FamilyClient(7)
    chat = SimpleUploadedFile("chat.txt", b"[09:12] mensaje del grupo\n" * 100, "text/plain")
    family.up_to_sending(incident.intake_code, [chat])
    before = _counts()
    original = intake._record_consents
    restarted = []

    def restart_then_continue(*args, **kwargs):
        # Inside submit_report's transaction: the case, its locations and
        # identifiers are written; the server restarts before the rest is.
        if not restarted:
            stack.restart_postgres()
            restarted.append(True)
        return original(*args, **kwargs)

    intake._record_consents = restart_then_continue
    try:
        response = family.call("post", "/report/check/", {"website": ""})
    finally:
        intake._record_consents = original
    from django.db import connection

    connection.close()  # the restart cut this process's session too
    after = _counts()
    changed = {k: after[k] - before[k] for k in before if after[k] != before[k]}
    told_received = response.headers.get("Location") == "/receipt/"
    # A lost database is a 503 with Retry-After (amparo.views.server_error), whose page
    # (templates/503.html) tells the family, in Spanish, that nothing was half-saved.
    error_page = (
        response.status_code == 503
        and response.headers.get("Retry-After", "").isdigit()
        and "No se ha guardado nada a medias" in response.content.decode(errors="replace")
    )
    retry_ok, detail = True, ""
    try:
        reference = family.send()
        retried = _counts()
        retry_ok = retried["Case"] == before["Case"] + 1 and retried["ReportDraft"] == (
            before["ReportDraft"] - 1
        )
        detail = reference
    except Exception as exc:
        retry_ok, detail = False, f"{type(exc).__name__}: {exc}"
    rows = [
        figure(
            SUITE,
            f"{label}: the interrupted send's answer",
            response.status_code,
            "503, Retry-After, the 'nothing was half-saved, try again' page, not a receipt",
            bool(restarted) and not told_received and error_page,
        ),
        zero(
            SUITE,
            f"{label}: rows half-saved ({', '.join(before)})",
            sum(abs(v) for v in changed.values()),
        ),
        figure(SUITE, f"{label}: the family's next try is saved whole", retry_ok, "True", retry_ok),
    ]
    rows[1]["details"] = [f"{k}: {v:+d}" for k, v in changed.items()]
    rows[2]["details"] = [detail]
    return rows


@contextlib.contextmanager
def full_disk(limit: int):
    """A storage root that fills at `limit` bytes: a tmpfs if we may mount one, else
    this process's RLIMIT_FSIZE (the kernel refuses writes past it: EFBIG)."""
    root = Path(tempfile.mkdtemp(prefix="faults-disk-", dir=ROOT / "var"))
    mount, umount = shutil.which("mount"), shutil.which("umount")
    mounted = (
        bool(mount and umount)
        and subprocess.run(  # noqa: S603 - fixed arguments
            [mount, "-t", "tmpfs", "-o", f"size={limit},mode=0700", "tmpfs", str(root)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        if mounted:
            yield root, f"tmpfs of {limit // 1024} KiB (ENOSPC)"
        else:
            previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
            try:
                yield root, f"RLIMIT_FSIZE of {limit // 1024} KiB (EFBIG; no tmpfs: not root)"
            finally:
                resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
                signal.signal(signal.SIGXFSZ, previous)
    finally:
        if mounted:
            subprocess.run([umount, str(root)], check=False)  # noqa: S603
        shutil.rmtree(root, ignore_errors=True)


def disk_full() -> list[dict]:
    """(e) The evidence store's disk fills during a family's upload."""
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import override_settings
    from django.utils import translation

    from vault.uploads import UploadError

    label = "disk full during an upload"
    canary = canaries.canary()
    _org, _coordinator, incident = _incident()
    family = FamilyClient(9)
    family.up_to_sending(incident.intake_code)
    video = (canary.encode() + os.urandom(4096)) * (3 * MiB // 4100)
    scratch = Path(tempfile.mkdtemp(prefix="faults-tmp-", dir=ROOT / "var"))
    previous_tmp = tempfile.tempdir
    with full_disk(1 * MiB) as (root, how), override_settings(EVIDENCE_ROOT=root):
        tempfile.tempdir = str(scratch)
        try:
            before = _counts()
            response = family.upload(SimpleUploadedFile("video.mp4", video, "video/mp4"))
            after = _counts()
            scanner = canaries.Scanner(canaries.forms_of(canary))
            left = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
            plaintext = scanner.tree(root) + scanner.tree(scratch)
            small = family.upload(SimpleUploadedFile("captura.txt", b"hola " * 1000, "text/plain"))
        finally:
            tempfile.tempdir = previous_tmp
            shutil.rmtree(scratch, ignore_errors=True)
    try:
        body = response.json()
    except ValueError:
        body = {}
    with translation.override("en"):
        english = str(UploadError("store-failed").message)
    with translation.override("es"):
        spanish = str(UploadError("store-failed").message)
    message = body.get("message", "")
    # The wizard's upload answers 400 with the reason, in the family's language.
    translated = (
        response.status_code == 400 and body.get("ok") is False and (message == spanish != english)
    )
    changed = {k: after[k] - before[k] for k in before if after[k] != before[k]}
    rows = [
        figure(
            SUITE,
            f"{label} ({how}): the family's answer",
            response.status_code,
            "400, 'could not be stored, nothing kept' in Spanish",
            translated,
        ),
        zero(SUITE, f"{label}: rows half-saved", sum(abs(v) for v in changed.values())),
        zero(SUITE, f"{label}: files left on the full disk (partial ciphertext)", len(left)),
        zero(SUITE, f"{label}: plaintext left (store and temp dir)", len(plaintext)),
        figure(
            SUITE,
            f"{label}: a file that fits is stored right after",
            small.status_code,
            "200",
            small.status_code == 200,
        ),
    ]
    rows[1]["details"] = [f"{k}: {v:+d}" for k, v in changed.items()]
    rows[2]["details"], rows[3]["details"] = left, plaintext
    return rows


def run(*, short: bool = False) -> list[dict]:
    rng = random.Random(int.from_bytes(os.urandom(4)))
    workers.purge_queue()
    rows = []
    # Ten files a kill, so the workers, each killed within a second of taking one, do
    # not finish them all first (8 ran out after 2 kills and 80 after 18 on a quiet
    # machine, failing the kill count).
    rows += worker_kills(3 if short else 20, 30 if short else 200, rng=rng)
    # Likewise enough mail that every kill finds a worker sending (about 15 a kill).
    rows += mail_kills(3 if short else 20, 3 if short else 20, 5, 30 if short else 200, rng=rng)
    rows += redis_down(10 if short else 50)
    rows += postgres_restart()
    rows += disk_full()
    return rows
