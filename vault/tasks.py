from celery import shared_task

from .anchors import sign_head


@shared_task(name="vault.tasks.anchor_audit_chain")
def anchor_audit_chain() -> int | None:
    """Beat task: sign the audit chain's head (ids only in and out)."""
    anchor = sign_head()
    return anchor.seq if anchor else None
