"""`make run`: the whole stack on one machine, supervised by one process.

Starts PostgreSQL and Redis (data kept under var/), migrates, seeds the demo,
then runs the web server, a Celery worker and Celery beat. Ctrl-C (or any child
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
        commands = {
            "web": [PY, "manage.py", "runserver", host_port, "--noreload"],
            "worker": [PY, "-m", "celery", "-A", "amparo", "worker", "-l", "warning",
                       "--concurrency", "2"],
            "beat": [PY, "-m", "celery", "-A", "amparo", "beat", "-l", "warning"],
        }  # fmt: skip
        for args in commands.values():
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
