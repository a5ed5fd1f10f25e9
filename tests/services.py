"""pytest plugin: real PostgreSQL and Redis for the test run (`-p tests.services`).

Started before pytest-django reads the settings, torn down at the end. With
DATABASE_URL and REDIS_URL already set (CI with its own servers, a developer's
machine), those are used instead and nothing is started.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from amparo.localservices import LocalServices, apply_env

ROOT = Path(__file__).resolve().parent.parent
_services: LocalServices | None = None


def _test_keys() -> str:
    return ",".join(
        f"{v}:{base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}" for v in (1, 2)
    )


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global _services
    (ROOT / "var").mkdir(exist_ok=True)
    var = Path(tempfile.mkdtemp(prefix="test-", dir=ROOT / "var"))
    os.environ["AMPARO_VAR_DIR"] = str(var)
    # Test runs use production-like settings (DEBUG off), with throwaway secrets.
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("AMPARO_KEYS", _test_keys())
    os.environ.setdefault(
        "AMPARO_SIGNING_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    # Hashed static names need collectstatic; test_deploy.py covers that path.
    os.environ.setdefault("STATIC_MANIFEST", "false")
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        _services = LocalServices(var / "services", ephemeral=True)
        apply_env(_services.start())
    return (yield)


def pytest_unconfigure(config):
    if _services is not None:
        _services.stop()
    shutil.rmtree(os.environ["AMPARO_VAR_DIR"], ignore_errors=True)


@pytest.fixture(scope="session")
def local_services() -> LocalServices:
    """The embedded servers, for tests that stop and restart them on purpose."""
    if _services is None:
        reason = "servers come from DATABASE_URL/REDIS_URL; this test must restart its own"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return _services
