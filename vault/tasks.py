from celery import shared_task

from . import sweep
from .anchors import sign_head


@shared_task(name="vault.tasks.anchor_audit_chain")
def anchor_audit_chain() -> int | None:
    """Beat task: sign the audit chain's head (ids only in and out)."""
    anchor = sign_head()
    return anchor.seq if anchor else None


@shared_task(name="vault.tasks.sweep_store")
def sweep_store() -> dict:
    """Beat task: remove what killed processes left in the evidence store (counts out)."""
    return sweep.sweep_store()
