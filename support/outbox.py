"""The transactional outbox: every side effect goes through here.

Threat: a report is saved but its follow-up work (an email, a takedown, a
derivative) is lost because the broker was down or dropped the message, or
it runs twice. Choice: the intent is a row written in the same transaction
as the change; Celery is told after commit; a beat sweeper re-sends rows not
done in time; the task wrapper skips rows already done.
"""

from __future__ import annotations

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
    pending = OutboxMessage.objects.filter(done_at=None).filter(
        Q(dispatched_at=None) | Q(dispatched_at__lt=stale)
    )
    sent = 0
    for pk in pending.order_by("pk").values_list("pk", flat=True)[:1000]:
        sent += dispatch(pk)
    return sent


def outbox_task(name: str, **task_options):
    """Declare a Celery task fed by the outbox: skipped if its row is already done."""

    def decorator(fn):
        @shared_task(name=name, **task_options)
        @functools.wraps(fn)
        def run(outbox_id: str | None = None, **kwargs):
            if outbox_id is None:
                return fn(**kwargs)
            with transaction.atomic():
                row = (
                    OutboxMessage.objects.select_for_update(skip_locked=True)
                    .filter(uuid=outbox_id, done_at=None)
                    .first()
                )
                if row is None:
                    return None  # done already, or another worker holds it
                result = fn(**kwargs)
                row.done_at = timezone.now()
                row.save(update_fields=["done_at"])
                return result

        return run

    return decorator
