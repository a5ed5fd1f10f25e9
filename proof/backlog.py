"""Backlog: 10 000 queued tasks drained by real Celery workers (promise 3 under volume).

Threat: after an outage, or a burst that outran the workers, the queue holds
thousands of rows; draining them loses some (a broker message dropped, a row never
marked done) or runs some twice (a family mailed twice), or takes so long that
the families' news goes stale.

TASKS outbox rows of a cheap real kind — "there is news on your case" to a family
who chose email (support.notify_family) — are enqueued through the outbox in
batches (each batch one transaction, dispatched to Redis after commit), then two
`celery worker` processes (prefork, two children each) drain them into a real SMTP
server on loopback, which counts each Message-ID (a row's mail carries the row's).
Figures: drain time and tasks/s from the first to the last row done, lost (a row not
done, or its mail never received), duplicated (a Message-ID received twice).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

from proof import count, figure, workers, zero

SUITE = "Backlog"
ROOT = Path(__file__).resolve().parent.parent
TASKS = 10_000
FAMILIES = 20
BATCH = 500


def run(*, short: bool = False) -> list[dict]:
    from django.db import transaction
    from django.db.models import Max, Min

    from proof.faults import _incident, family_cases, smtp_env, smtp_server
    from support import outbox
    from support.models import OutboxMessage

    tasks = 400 if short else TASKS
    workers.purge_queue()
    organisation, _coordinator, incident = _incident()
    cases = family_cases(organisation, incident, 2 if short else FAMILIES)
    first = OutboxMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    started = time.perf_counter()
    for start in range(0, tasks, BATCH):
        with transaction.atomic():
            for n in range(start, min(start + BATCH, tasks)):
                outbox.enqueue("support.notify_family", case=cases[n % len(cases)].uuid)
    enqueue_seconds = time.perf_counter() - started
    rows = OutboxMessage.objects.filter(pk__gt=first, task="support.notify_family")
    expected = {f"<outbox-{u}@amparo.invalid>" for u in rows.values_list("uuid", flat=True)}
    undispatched = rows.filter(dispatched_at=None).count()
    log = ROOT / "var" / f"backlog-{secrets.token_hex(4)}.log"
    with smtp_server(delay=0) as (recorder, port):
        env = smtp_env(port)
        pool = [workers.Worker(env, pool="prefork", concurrency=2, log=log) for _ in range(2)]
        started = time.perf_counter()
        for worker in pool:
            worker.start()
        try:
            drained = workers.drain(
                lambda: not rows.filter(done_at=None).exists(), timeout=120 if short else 900
            )
        finally:
            for worker in pool:
                worker.terminate()
            for worker in pool:
                worker.stop()
        wall = time.perf_counter() - started
        received = list(recorder.ids)
    log.unlink(missing_ok=True)
    span = rows.aggregate(first=Min("done_at"), last=Max("done_at"))
    seconds = (span["last"] - span["first"]).total_seconds() if span["last"] else 0.0
    not_done = rows.filter(done_at=None).count()
    distinct = set(received)
    lost = not_done + len(expected - distinct)
    duplicated = (len(received) - len(distinct)) + len(distinct - expected)
    return [
        count(
            SUITE,
            f"tasks enqueued through the outbox ({enqueue_seconds:.0f} s)",
            len(expected),
            tasks,
        ),
        zero(SUITE, "tasks the broker refused at enqueue", undispatched),
        figure(SUITE, "backlog drained by 2 workers x 2 processes", drained, "True", drained),
        figure(
            SUITE,
            f"drain time, first to last task done ({wall:.0f} s with worker start)",
            f"{seconds:.1f} s",
            "measured",
            True,
        ),
        figure(
            SUITE,
            "tasks/s while draining",
            round(len(expected) / seconds) if seconds else 0,
            "measured",
            True,
        ),
        zero(SUITE, "lost (a task not done, or its mail never received)", lost),
        zero(SUITE, "duplicated (a mail received twice, or not named after its row)", duplicated),
    ]
