import time

from celery import shared_task
from django.core.cache import cache

from amparo.views import HEARTBEAT_KEY

from . import outbox
from .emails import send_invitation_email  # noqa: F401 - registers the task
from .matching import match_case  # noqa: F401 - registers the task


@shared_task(name="support.tasks.sweep_outbox")
def sweep_outbox() -> int:
    return outbox.sweep()


@shared_task(name="support.tasks.heartbeat")
def heartbeat() -> None:
    """Proves to /healthz that a worker is consuming the queue."""
    cache.set(HEARTBEAT_KEY, time.time(), timeout=600)
