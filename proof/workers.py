"""Real Celery workers for the fault and backlog suites.

Each `Worker` is `celery -A amparo worker` in a process (group) of its own, on the
same database, broker and evidence store as the suite, so that a suite can SIGKILL
it at any moment, as the kernel's OOM killer or a pulled plug would. The suite
itself plays the beat's part: it calls `outbox.sweep()`, which sends again the rows
a dead worker left (short lease and re-dispatch times, set for both sides).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode

from django.test import override_settings

ROOT = Path(__file__).resolve().parent.parent
# A killed worker's row is taken again once its lease lapses; the sweeper sends rows
# again that were sent this long ago and are still not done.
LEASE_SECONDS = 5
REDISPATCH_AFTER = 3


def database_url() -> str:
    """The database Django is using now (the test run's test database, too)."""
    from django.db import connection

    db = connection.settings_dict
    query = {"host": db["HOST"]} if db["HOST"] else {}
    if db["PORT"]:
        query["port"] = str(db["PORT"])
    auth = quote(db["USER"] or "postgres") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgresql://{auth}@/{quote(db['NAME'])}?{urlencode(query)}"


def environment(**extra: str) -> dict[str, str]:
    from django.conf import settings

    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "EVIDENCE_ROOT": str(settings.EVIDENCE_ROOT),
        "OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
        "OUTBOX_REDISPATCH_AFTER": str(REDISPATCH_AFTER),
        **extra,
    }


def short_leases():
    """The suite's side of the same lease and re-dispatch times."""
    return override_settings(
        OUTBOX_LEASE_SECONDS=LEASE_SECONDS, OUTBOX_REDISPATCH_AFTER=REDISPATCH_AFTER
    )


def purge_queue() -> None:
    """Drop broker messages earlier tests left (their rows are gone: they would be skipped)."""
    import redis
    from django.conf import settings

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery", "unacked", "unacked_index")


class Worker:
    """`celery worker` in its own process group; `kill()` is SIGKILL, `stop()` a warm stop."""

    count = 0

    def __init__(self, env: dict[str, str], *, pool: str = "solo", concurrency: int = 1,
                 log: Path | None = None) -> None:  # fmt: skip
        Worker.count += 1
        self.env, self.log = env, log
        self.command = [
            sys.executable, "-m", "celery", "-A", "amparo", "worker",
            "--pool", pool, "--concurrency", str(concurrency),
            "--without-heartbeat", "--without-gossip", "--without-mingle",
            "--loglevel", "warning", "--hostname", f"proof{Worker.count}-{os.getpid()}@%h",
        ]  # fmt: skip
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            self.command, cwd=ROOT, env=self.env, stdout=out, stderr=out, start_new_session=True
        )
        if self.log:
            out.close()
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def terminate(self) -> None:
        """Ask for a warm stop (finish the task at hand); `stop()` waits for it."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Worker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def drain(done: Callable[[], bool], *, timeout: float, every: float = 1.0) -> bool:
    """Sweep the outbox (the beat's job) until `done()`; False if the time ran out."""
    from support import outbox

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        outbox.sweep()
        time.sleep(every)
    return done()
