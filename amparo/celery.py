import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "amparo.settings")

app = Celery("amparo")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _anchor_interval() -> float:
    # This module is imported before Django's settings exist (amparo/__init__.py), so
    # the interval is read from the environment with the same default as settings.py.
    return float(os.environ.get("AMPARO_ANCHOR_INTERVAL") or 600)


app.conf.beat_schedule = {
    "outbox-sweep": {"task": "support.tasks.sweep_outbox", "schedule": 60.0},
    "worker-heartbeat": {"task": "support.tasks.heartbeat", "schedule": 30.0},
    "retention": {"task": "support.tasks.retention", "schedule": 6 * 3600.0},
    "takedown-clocks": {"task": "takedowns.tasks.run_clocks", "schedule": 300.0},
    "takedown-rechecks": {"task": "takedowns.tasks.schedule_rechecks", "schedule": 3600.0},
    "police-export-expiry": {"task": "police.expire_exports", "schedule": 15 * 60.0},
    # Ciphertext and unfinished writes a killed process left without a row (vault/sweep.py).
    "evidence-store-sweep": {"task": "vault.tasks.sweep_store", "schedule": 6 * 3600.0},
    # Signed anchors of the audit chain's head (vault/anchors.py).
    "audit-anchor": {
        "task": "vault.tasks.anchor_audit_chain",
        "schedule": _anchor_interval(),
    },
}
