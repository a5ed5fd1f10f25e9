"""Celery tasks of the takedowns app: thin adapters over the services (ids only)."""

from celery import shared_task
from django.utils import timezone

# Importing these also registers their outbox tasks with Celery.
from . import clocks, recheck


@shared_task(name="takedowns.tasks.run_clocks")
def run_clocks() -> dict:
    """Beat, every 5 minutes: fill deadlines, send due reminders (takedowns.clocks)."""
    return clocks.run_clocks(now=timezone.now())


@shared_task(name="takedowns.tasks.schedule_rechecks")
def schedule_rechecks() -> int:
    """Beat, hourly: schedule the day's status re-checks of opted-in organisations."""
    return recheck.schedule_rechecks(now=timezone.now())
