"""Celery adapters for the police app: ids in, the work in police.exports."""

from celery import shared_task

from . import exports


@shared_task(name="police.build_export")
def build_export(*, export: str, outbox_id: str | None = None) -> None:
    """Fed by the outbox (support.outbox.enqueue). Not wrapped in `outbox_task`: that
    holds one transaction for the whole call, and a build that takes minutes must not
    hold the audit chain's lock; `exports.build_export` marks the outbox row itself."""
    exports.build_export(export_uuid=export, outbox_id=outbox_id)


@shared_task(name="police.expire_exports")
def expire_exports() -> int:
    return exports.expire_exports()
