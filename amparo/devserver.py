"""`make run`: the whole stack on one machine, supervised by one process.

Starts PostgreSQL and Redis (data kept under var/), migrates, seeds the demo,
then runs the web server (gunicorn with gunicorn.conf.py, the production server;
AMPARO_RELOAD=true restarts its workers on code changes), a Celery worker and
Celery beat — the same three commands as the Procfile. Ctrl-C (or any child
dying) stops everything cleanly; running it again resumes with the same data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from amparo.localservices import LocalServices

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PY = sys.executable


def commands(host_port: str) -> dict[str, list[str]]:
    """The supervised processes: the Procfile's web, worker and beat, on this machine."""
    return {
        # Two workers is plenty on a developer's machine (24 threads); the rest of
        # gunicorn.conf.py is as in production, so slow uploads behave the same.
        "web": [PY, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
                "--bind", host_port,
                "--workers", os.environ.get("AMPARO_WEB_WORKERS", "2")],
        "worker": [PY, "-m", "celery", "-A", "amparo", "worker", "-l", "warning",
                   "--concurrency", "2"],
        "beat": [PY, "-m", "celery", "-A", "amparo", "beat", "-l", "warning"],
    }  # fmt: skip


def main() -> int:
    host_port = os.environ.get("AMPARO_ADDR", "127.0.0.1:8000")
    services = LocalServices(
        VAR / "services", ephemeral=False, redis_port=int(os.environ.get("AMPARO_REDIS_PORT", 6391))
    )
    env = dict(os.environ)
    env.setdefault("DEBUG", "true")
    env.setdefault("PYTHONUNBUFFERED", "1")
    print("Starting PostgreSQL and Redis under var/services …", flush=True)
    env.update(services.start())
    children: list[subprocess.Popen] = []

    def manage(*args: str) -> None:
        subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True)  # noqa: S603

    try:
        manage("migrate", "--noinput", "-v", "0")
        manage("seed_demo")
        for args in commands(host_port).values():
            children.append(subprocess.Popen(args, cwd=ROOT, env=env))  # noqa: S603
        print(
            f"\nAmparo is running at http://{host_port}/  (staff: http://{host_port}/staff/, "
            f"mail: http://{host_port}/dev/mail/)\nPress Ctrl-C to stop.\n",
            flush=True,
        )
        stop = {"now": False}

        def on_signal(signum, frame):
            stop["now"] = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        while not stop["now"]:
            if any(child.poll() is not None for child in children):
                print("A process stopped unexpectedly; shutting down.", file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        print("Stopping …", flush=True)
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
        services.stop()
        print("Stopped. Data is kept under var/.", flush=True)


if __name__ == "__main__":
    sys.exit(main())
