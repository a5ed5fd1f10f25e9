"""The transactional outbox: every side effect goes through here.

Threat: a report is saved but its follow-up work (an email, a takedown, a
derivative) is lost because the broker was down or dropped the message, or
it runs twice. Choice: the intent is a row written in the same transaction
as the change; Celery is told after commit; a beat sweeper re-sends rows not
done in time; the task wrapper leases the row, runs the task outside any
transaction and skips rows already done or leased.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import re
import uuid
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .models import OutboxMessage

log = logging.getLogger(__name__)

# Broker messages carry ids and codes only: never names, text, URLs or keys.
_SAFE_STR = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# The outbox row whose task is running in this context. A task whose side effect
# cannot be taken back (a mail) names it after the row, so that the redelivery after
# a worker died between the effect and the row marked done repeats it recognisably
# (the same Message-ID, which mail clients and servers collapse), never as a second,
# different message.
current_outbox_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "outbox_id", default=None
)


def _check_kwargs(kwargs: dict) -> dict:
    clean = {}
    for key, value in kwargs.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and _SAFE_STR.match(value))
        ):
            raise ValueError(f"outbox argument {key!r} must be an id, not free content")
        clean[key] = value
    return clean


def enqueue(task: str, **kwargs) -> OutboxMessage:
    """Promise `task(**kwargs)` as part of the current transaction."""
    message = OutboxMessage.objects.create(task=task, kwargs=_check_kwargs(kwargs))
    transaction.on_commit(lambda: dispatch(message.pk))
    return message


def dispatch(message_id: int) -> bool:
    """Hand one row to the broker. A dead broker is logged, not raised: the sweeper retries."""
    from amparo.celery import app

    message = OutboxMessage.objects.filter(pk=message_id, done_at=None).first()
    if message is None:
        return False
    try:
        app.send_task(
            message.task,
            kwargs={**message.kwargs, "outbox_id": str(message.uuid)},
            task_id=f"{message.uuid}-{message.dispatch_count + 1}",
        )
    except Exception as exc:
        log.warning("outbox dispatch failed id=%s error=%s", message.uuid, type(exc).__name__)
        return False
    OutboxMessage.objects.filter(pk=message.pk).update(
        dispatched_at=timezone.now(), dispatch_count=message.dispatch_count + 1
    )
    return True


def sweep(*, now=None) -> int:
    """Re-send rows never dispatched, or dispatched long ago and still not done."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.OUTBOX_REDISPATCH_AFTER)
    pending = (
        OutboxMessage.objects.filter(done_at=None)
        .filter(Q(dispatched_at=None) | Q(dispatched_at__lt=stale))
        .exclude(leased_until__gt=now)
    )
    sent = 0
    for pk in pending.order_by("pk").values_list("pk", flat=True)[:1000]:
        sent += dispatch(pk)
    return sent


def _claim(outbox_id: str) -> bool:
    """Take the row's lease in a short transaction of its own.

    Threat: a slow task (decoding and fingerprinting an image, sending mail)
    holding a transaction open, and with it the row lock and any lock taken
    inside — the audit chain's global advisory lock above all — so every audited
    write on the site waits for it. Choice: the row is leased (`leased_until`),
    the task runs outside any transaction and writes its own short ones, and the
    row is marked done afterwards. A second delivery sees the lease and skips; a
    worker that dies lets the lease lapse and the sweeper sends the task again.
    """
    now = timezone.now()
    with transaction.atomic(durable=True):
        return bool(
            OutboxMessage.objects.filter(uuid=outbox_id, done_at=None)
            .filter(Q(leased_until=None) | Q(leased_until__lt=now))
            .update(leased_until=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS))
        )


def outbox_task(name: str, **task_options):
    """Declare a Celery task fed by the outbox: skipped if its row is done or leased.

    The task body runs outside any transaction; calling it inside one (nested in a
    request's or another task's transaction) is refused, as that would bring back
    the long transaction the lease avoids.
    """

    def decorator(fn):
        @shared_task(name=name, **task_options)
        @functools.wraps(fn)
        def run(outbox_id: str | None = None, **kwargs):
            if outbox_id is None:
                with transaction.atomic(durable=True):
                    pass  # refuses to run nested
                return fn(**kwargs)
            if not _claim(outbox_id):
                return None  # done already, or another worker holds the lease
            token = current_outbox_id.set(outbox_id)
            try:
                result = fn(**kwargs)
            except BaseException:
                OutboxMessage.objects.filter(uuid=outbox_id).update(leased_until=None)
                raise
            finally:
                current_outbox_id.reset(token)
            OutboxMessage.objects.filter(uuid=outbox_id).update(
                done_at=timezone.now(), leased_until=None
            )
            return result

        return run

    return decorator
