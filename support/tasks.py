import time

from celery import shared_task
from django.core.cache import cache

from amparo.views import HEARTBEAT_KEY

from . import outbox
from .casework import run_retention
from .emails import notify_family, send_invitation_email, warn_retention  # noqa: F401
from .matching import match_case  # noqa: F401 - registers the task


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
