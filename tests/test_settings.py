"""Production settings: `check --deploy` clean, secrets required, static manifest built.

These run manage.py in a subprocess, because settings are read once per process.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from amparo import settings as amparo_settings

ROOT = Path(__file__).resolve().parent.parent


def production_env(tmp_path, **overrides) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DEBUG",
            "SECURE_SSL_REDIRECT",
            "STATIC_MANIFEST",
            "SECRET_KEY_FILE",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    env.update(
        DEBUG="false",
        ALLOWED_HOSTS="amparo.example.org",
        AMPARO_BASE_URL="https://amparo.example.org",
        SECRET_KEY="x" * 20 + "-production-secret-key-with-enough-entropy-0123456789",
        STATIC_ROOT=str(tmp_path / "static"),
        AMPARO_VAR_DIR=str(tmp_path / "var"),
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def manage(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "base_url", ["http://amparo.example.org", None, "https://amparo.example.org/staff/"]
)
def test_check_deploy_requires_an_https_base_url(tmp_path, base_url):
    result = manage("check", "--deploy", env=production_env(tmp_path, AMPARO_BASE_URL=base_url))
    assert result.returncode != 0
    assert "amparo.E001" in result.stderr


def test_the_base_url_defaults_to_the_address_make_run_serves(tmp_path):
    env = production_env(tmp_path, DEBUG="true", AMPARO_BASE_URL=None, AMPARO_ADDR="0.0.0.0:8123")
    code = "from django.conf import settings; print(settings.AMPARO_BASE_URL)"
    result = manage("shell", "-c", code, env=env)
    assert result.stdout.strip().splitlines()[-1] == "http://0.0.0.0:8123", result.stderr


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "AMPARO_KEYS", "AMPARO_SIGNING_KEY", "ALLOWED_HOSTS"]
)
def test_production_refuses_to_start_without_a_secret(tmp_path, missing):
    result = manage("check", env=production_env(tmp_path, **{missing: None}))
    assert result.returncode != 0
    assert missing in result.stderr
    assert "Traceback" in result.stderr or "ImproperlyConfigured" in result.stderr


def test_a_secret_can_come_from_a_file(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(secrets.token_urlsafe(50) + "\n")
    secret_file.chmod(0o600)  # a world-readable key file is a warning (vault.W001)
    env = production_env(tmp_path, SECRET_KEY=None, SECRET_KEY_FILE=str(secret_file))
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stderr
    # and the file is really read: a weak key in it is reported
    secret_file.write_text("weak")
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert "security.W009" in result.stderr


def test_static_files_are_collected_with_hashed_compressed_names(tmp_path):
    env = production_env(tmp_path)
    result = manage("collectstatic", "--noinput", "-v", "0", env=env)
    assert result.returncode == 0, result.stderr
    collected = {p.name for p in (tmp_path / "static" / "js").iterdir()}
    assert any(n.startswith("quick-exit.") and n.endswith(".js.gz") for n in collected)
    assert (tmp_path / "static" / "staticfiles.json").exists()


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), ("off", False), ("", False)]
)
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("SOME_FLAG", raw)
    assert amparo_settings.env_bool("SOME_FLAG", False) is expected


def test_env_bool_refuses_nonsense(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG"):
        amparo_settings.env_bool("SOME_FLAG")


def test_env_int_refuses_nonsense(monkeypatch):
    monkeypatch.setenv("SOME_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="SOME_NUMBER"):
        amparo_settings.env_int("SOME_NUMBER", 3)


def test_it_keeps_every_connection_option_of_the_database_url():
    db = amparo_settings.database_from_url(
        "postgresql://amparo:pw@db.example.org:6432/amparo?sslmode=verify-full"
        "&sslrootcert=/etc/amparo/root.crt&sslcert=/etc/amparo/client.crt"
        "&sslkey=/etc/amparo/client.key&connect_timeout=5&application_name=amparo-web"
    )
    assert (db["HOST"], db["PORT"]) == ("db.example.org", "6432")
    assert db["OPTIONS"] == {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/amparo/root.crt",
        "sslcert": "/etc/amparo/client.crt",
        "sslkey": "/etc/amparo/client.key",
        "connect_timeout": "5",
        "application_name": "amparo-web",
    }


def test_database_url_with_a_socket_host():
    db = amparo_settings.database_from_url("postgresql://amparo:s%40cret@/amparo?host=/run/pg")
    assert (db["NAME"], db["USER"], db["PASSWORD"], db["HOST"]) == (
        "amparo",
        "amparo",
        "s@cret",
        "/run/pg",
    )
    assert db["OPTIONS"] == {}
