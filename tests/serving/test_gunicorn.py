"""gunicorn.conf.py: it loads, `make run` serves through it, and a real gunicorn serves."""

from __future__ import annotations

import http.client
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from gunicorn.config import Config

from amparo import devserver
from amparo.gunicorn_logging import PrivateAccessLogger, redact_path
from amparo.localservices import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
CONF = ROOT / "gunicorn.conf.py"


def load_config(monkeypatch, **env) -> Config:
    """gunicorn.conf.py read as gunicorn reads it, every value validated by Config.set."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    values = runpy.run_path(str(CONF))
    cfg = Config()
    for name, value in values.items():
        if name in cfg.settings:
            cfg.set(name, value)
    return cfg


def test_config_loads_with_threaded_workers_sized_for_slow_uploads(monkeypatch):
    monkeypatch.delenv("AMPARO_WEB_WORKERS", raising=False)
    monkeypatch.delenv("AMPARO_RELOAD", raising=False)
    cfg = load_config(monkeypatch)
    assert cfg.worker_class_str == "gthread"
    assert 8 <= cfg.threads <= 16
    assert 2 <= cfg.workers <= 8
    assert cfg.timeout >= 30 and cfg.graceful_timeout > 0
    assert cfg.max_requests == 0  # a recycle would cut long uploads
    assert cfg.limit_request_line <= 4094 and cfg.limit_request_fields <= 100
    assert cfg.reload is False
    assert cfg.control_socket_disable is True
    assert cfg.wsgi_app == "amparo.wsgi:application"
    if os.path.isdir("/dev/shm"):
        assert cfg.worker_tmp_dir == "/dev/shm"
    assert cfg.logger_class is PrivateAccessLogger
    assert "%(q)s" not in cfg.access_log_format and "%(r)s" not in cfg.access_log_format
    assert "%(h)s" not in cfg.access_log_format


def test_environment_sets_proxies_workers_and_reload(monkeypatch):
    cfg = load_config(
        monkeypatch,
        FORWARDED_ALLOW_IPS="10.0.0.5",
        AMPARO_WEB_WORKERS="3",
        AMPARO_WEB_THREADS="9",
        AMPARO_RELOAD="true",
        AMPARO_ADDR="127.0.0.1:8123",
    )
    assert cfg.forwarded_allow_ips == ["10.0.0.5"]
    assert (cfg.workers, cfg.threads, cfg.reload) == (3, 9, True)
    assert cfg.bind == ["127.0.0.1:8123"]


def test_incident_codes_are_taken_out_of_logged_paths():
    assert redact_path("/i/K7QP-22ZX/") == "/i/…/"
    assert redact_path("/i/K7QP-22ZX/more") == "/i/…/more"
    assert redact_path("/case/status/") == "/case/status/"


def test_make_run_serves_the_web_through_gunicorn_with_this_config():
    web = devserver.commands("127.0.0.1:8765")["web"]
    assert web[1:3] == ["-m", "gunicorn"]
    assert web[web.index("-c") + 1] == str(CONF)
    assert web[web.index("--bind") + 1] == "127.0.0.1:8765"
    assert set(devserver.commands("x")) == {"web", "worker", "beat"}


def test_procfile_names_web_worker_and_beat():
    lines = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert lines["web"].split()[:3] == ["gunicorn", "-c", "gunicorn.conf.py"]
    assert "worker" in lines["worker"] and "beat" in lines["beat"]


def _get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.django_db
def test_real_gunicorn_serves_healthz_from_the_test_database(settings, tmp_path):
    from django.db import connection

    # The server is another process: point it at the test database pytest-django made.
    db = connection.settings_dict
    url = f"postgresql://{db['USER']}@/{quote(db['NAME'])}?host={db['HOST']}"
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = dict(os.environ, DATABASE_URL=url)
    args = [sys.executable, "-m", "gunicorn", "-c", str(CONF), "--bind", f"127.0.0.1:{port}",
            "--workers", "1", "--threads", "2"]  # fmt: skip
    with log.open("wb") as out:
        server = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=out)
        try:
            deadline = time.monotonic() + 60
            status = None
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    status, body = _get(port, "/healthz")
                    break
                except OSError:
                    time.sleep(0.2)
            assert status == 200, log.read_text()
            assert b'"database": "ok"' in body
            assert _get(port, "/healthz?code=QUERYCANARY")[0] == 200
            _get(port, "/i/PATHCANARY/")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    text = log.read_text()
    assert '"GET /healthz" 200' in text  # the access log is written ...
    assert "QUERYCANARY" not in text and "PATHCANARY" not in text  # ... without codes
    assert "127.0.0.1 -" not in text
