"""Celery adapters for takedown work: ids in, services do the rest."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="takedowns.deliver_notice", acks_late=True, reject_on_worker_lost=True)
def deliver_notice(*, notice: str, outbox_id: str | None = None) -> str:
    """Deliver one queued notice exactly once (see takedowns.services on dispatch).

    Not `outbox_task`: that wrapper holds its transaction open around the work, so a
    `sending` state could never be committed before the email leaves.
    """
    return services.deliver(notice, outbox_id=outbox_id)
