"""A dispatch worker to be killed: `python -m tests.takedowns.killworker`.

Like Celery's prefork pool, a parent loads Django once and forks one child per
delivery; the test kills children with SIGKILL at random moments. Commands on
stdin, one a line: `deliver <notice uuid> <outbox uuid>` (services.deliver) or
`task …` (the Celery task's body: that notice, then the batch queued behind it); answers on stdout:
`pid <child pid>`, then `exit <wait status>` when the child is gone.

With the argument `celery` it runs a real Celery worker (solo pool) instead.

The configuration comes from the environment the test sets: DATABASE_URL names the
test database; KILLWORKER_SMTP_PORT the local SMTP server; KILLWORKER_API the fake
platform's endpoint; KILLWORKER_PAUSE seconds of pause before and after the channel
call, so kills land at every point of a send, not only before it.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "amparo.settings")

import django
from django.conf import settings

if os.environ.get("KILLWORKER_SMTP_PORT"):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", int(os.environ["KILLWORKER_SMTP_PORT"])
    settings.EMAIL_USE_TLS, settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = False, "", ""
if os.environ.get("KILLWORKER_API"):
    settings.TAKEDOWN_API_ENDPOINTS = {"json_report": os.environ["KILLWORKER_API"]}
django.setup()

from django.db import connections  # noqa: E402

from takedowns import channels, services  # noqa: E402

PAUSE = float(os.environ.get("KILLWORKER_PAUSE", "0"))
CODES = {"sent": 0, "skipped": 10, "busy": 11, "retry": 12, "failed": 13, "lost-claim": 14}


def _slowed(transport, name):
    real = getattr(transport, name)

    def slowed(self, *args):
        time.sleep(PAUSE)  # claimed, committed `sending`, nothing sent yet
        result = real(self, *args)
        time.sleep(PAUSE)  # the server has it; nothing recorded yet
        return result

    setattr(transport, name, slowed)


_slowed(channels.EmailTransport, "send_on")  # both the single and the batch path
_slowed(channels.ApiTransport, "deliver")


def main() -> None:
    for line in sys.stdin:
        command, notice, outbox_id = line.split()
        assert command in ("deliver", "task")
        connections.close_all()  # a child must never share the parent's socket
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                if command == "task":  # the worker's whole task: its notice, then the batch
                    from takedowns.tasks import deliver_notice

                    deliver_notice.run(notice=notice, outbox_id=outbox_id)
                    code = 0
                else:
                    code = CODES.get(services.deliver(notice, outbox_id=outbox_id), 2)
            finally:
                os._exit(code)
        print(f"pid {pid}", flush=True)
        _pid, status = os.waitpid(pid, 0)
        print(f"exit {status}", flush=True)


def celery_worker() -> None:
    from amparo.celery import app

    app.worker_main(
        [
            "worker",
            "-P",
            "solo",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-l",
            "WARNING",
        ]
    )


if __name__ == "__main__":
    celery_worker() if sys.argv[1:] == ["celery"] else main()
