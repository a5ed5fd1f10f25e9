"""Operational endpoints: health and (development only) the mail folder."""

import time
from email import message_from_bytes, policy
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import render

HEARTBEAT_KEY = "worker-heartbeat"
HEARTBEAT_MAX_AGE = 120


def healthz(request):
    """Liveness of the database, Redis and a Celery worker; no secrets, no counts."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "down"
    try:
        beat = cache.get(HEARTBEAT_KEY)
        checks["redis"] = "ok"
        checks["worker"] = "ok" if beat and time.time() - beat < HEARTBEAT_MAX_AGE else "stale"
    except Exception:
        checks["redis"] = "down"
        checks["worker"] = "unknown"
    healthy = checks["database"] == "ok" and checks["redis"] == "ok"
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks},
        status=200 if healthy else 503,
    )


def _mail_files() -> list[Path]:
    folder = Path(settings.EMAIL_FILE_PATH)
    return sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True)[:100]


@login_required
def dev_mail(request):
    """The development mail folder in the browser (absent when DEBUG is off).

    It holds every organisation's mail, invitation links included, so only an active
    superuser (a developer) sees it; anyone else gets the same 404 as production.
    """
    user = request.user
    if not (settings.DEBUG and user.is_active and user.is_superuser):
        raise Http404
    if not hasattr(settings, "EMAIL_FILE_PATH"):
        raise Http404
    mails = []
    for path in _mail_files():
        # The file backend writes messages separated by a line of dashes.
        for raw in path.read_bytes().split(b"-" * 79):
            if raw.strip():
                msg = message_from_bytes(raw.strip(), policy=policy.default)
                body = msg.get_body(preferencelist=("plain",))
                mails.append(
                    {
                        "to": msg["To"],
                        "subject": msg["Subject"],
                        "date": msg["Date"],
                        "body": body.get_content() if body else "",
                    }
                )
    return render(request, "dev_mail.html", {"mails": mails})
