import time

from celery import shared_task
from django.core.cache import cache

from amparo.views import HEARTBEAT_KEY
from vault import services as vault_services

from . import outbox
from .casework import run_retention
from .emails import notify_family, send_invitation_email, warn_retention  # noqa: F401
from .matching import match_case  # noqa: F401 - registers the task
from .models import ContextFile
from .outbox import outbox_task


@shared_task(name="support.tasks.sweep_outbox")
def sweep_outbox() -> int:
    return outbox.sweep()


@shared_task(name="support.tasks.heartbeat")
def heartbeat() -> None:
    """Proves to /healthz that a worker is consuming the queue."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=600)


@shared_task(name="support.tasks.retention")
def retention() -> dict:
    return run_retention()


@outbox_task("support.process_evidence")
def process_evidence(*, file: str) -> None:
    """MD5 of one context file; decode, fingerprint and make its image derivatives."""
    found = ContextFile.objects.filter(uuid=file).select_related("blob").first()
    if found is not None:
        # MD5 first (every file, image or not: uploads leave it to the worker), then
        # the image work; both are idempotent, so a redelivered task repeats nothing.
        vault_services.fill_md5(found.blob.uuid)
        vault_services.process_image(found.blob.uuid)
