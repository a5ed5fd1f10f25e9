"""Celery adapters for takedown work: ids in, services do the rest."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

# clocks and recheck also register their outbox tasks with Celery on import.
from . import clocks, recheck, services


@shared_task(name="takedowns.deliver_notice", acks_late=True, reject_on_worker_lost=True)
def deliver_notice(*, notice: str, outbox_id: str | None = None) -> str:
    """Deliver one queued notice exactly once (see takedowns.services on dispatch).

    Not `outbox_task`: that wrapper holds its transaction open around the work, so a
    `sending` state could never be committed before the email leaves.
    """
    if outbox_id and services.outbox_row_done(outbox_id):
        return "done"  # a batch delivered it (or an earlier run): one query, nothing else
    # Its notice, if a queued email, goes first in a batch with the others waiting
    # (one SMTP session, shared writes); their own tasks then find their rows done.
    outcome = services.deliver_queued_email(first=notice)["first"]
    if outcome is None:  # not the batch's to send (API, sending, another worker's…)
        outcome = services.deliver(notice, outbox_id=outbox_id)
    return outcome


@shared_task(name="takedowns.tasks.run_clocks")
def run_clocks() -> dict:
    """Beat, every 5 minutes: fill deadlines, send due reminders (takedowns.clocks),
    and resolve notices left `sending` by a worker that died."""
    now = timezone.now()
    done = clocks.run_clocks(now=now)
    done["stuck_sends"] = services.resolve_stuck_sends(now=now)
    return done


@shared_task(name="takedowns.tasks.schedule_rechecks")
def schedule_rechecks() -> int:
    """Beat, hourly: schedule the day's status re-checks of opted-in organisations."""
    return recheck.schedule_rechecks(now=timezone.now())
