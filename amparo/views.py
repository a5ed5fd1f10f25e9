"""Operational endpoints: health, the server-error page and (development only) the mail folder."""

import logging
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, connection
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views import defaults

logger = logging.getLogger(__name__)

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


# How long a browser (or a proxy) is asked to wait: a PostgreSQL restart or fail-over
# takes seconds, and the page tells the family to try again in a minute.
RETRY_AFTER_SECONDS = 30
# Shown when the 503 template itself cannot be rendered (as templates/500.html: both
# languages, Spanish first, because the translations may be what failed).
UNAVAILABLE_FALLBACK = """<!DOCTYPE html>
<html lang="es"><head><meta charset="utf-8"><title>Amparo</title></head>
<body><main><h1>El servicio no está disponible por un momento / The service is briefly
unavailable</h1>
<p>No se ha guardado nada a medias. Vuelva a intentarlo dentro de un momento.</p>
<p lang="en">Nothing was half-saved. Please try again in a minute.</p></main></body></html>
"""


def server_error(request):
    """handler500: a database that is unreachable or restarting is a 503, anything else a 500.

    Why here and not a middleware's process_exception: that hook sees only exceptions
    raised by views, but with PostgreSQL down the first query of most requests is made
    by middleware (the session and user loaded by support.middleware), which Django
    turns into a 500 without calling any process_exception. Django calls handler500
    for every uncaught exception, from a view or a middleware, inside the `except`
    that caught it, so `sys.exc_info()` names it (with DEBUG on, Django shows its
    technical page instead, as for any 500).

    The page is rendered with no request and no context, so neither the session nor
    the user (both in the database) is touched; the language is the visitor's, which
    LocaleMiddleware took from the cookie or Accept-Language. Every state change is one
    service in one transaction, and the one the error cut was rolled back, so "nothing
    was half-saved" holds. OperationalError also covers the server's other passing
    failures (too many connections, a statement timeout, a deadlock): "try again
    shortly" is the right answer to those too; a bug in SQL is a ProgrammingError.
    """
    exception = sys.exc_info()[1]
    if not isinstance(exception, (OperationalError, InterfaceError)):
        return defaults.server_error(request)
    # The class name only: the message of a database error can carry SQL, parameters
    # or connection details, and the path can carry an access code.
    logger.error("database unavailable: %s", type(exception).__name__)
    try:
        body = render_to_string("503.html")
    except Exception:
        body = UNAVAILABLE_FALLBACK
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # Django logs an uncaught exception's response with its traceback and the path (and
    # mails it to ADMINS) unless the response says it was logged already: the line
    # above is the whole record.
    response._has_been_logged = True
    return response


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
