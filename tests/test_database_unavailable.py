"""A database outage during a request is a 503 with Retry-After, not a 500.

The outage is real: the view (or the session middleware) uses this process's own
PostgreSQL session after the server terminated it (`pg_terminate_backend`), as a
restart does to every open connection. A real restart in the middle of the report
wizard's final transaction is proof/faults.py `postgres_restart`.
"""

import contextlib
import logging

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.test import Client
from django.urls import path

from amparo import urls as amparo_urls


def _terminate_own_session():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


def _terminate_quietly():
    with contextlib.suppress(OperationalError):
        _terminate_own_session()


def loses_the_database(request):
    _terminate_own_session()  # raises OperationalError: the server ended the session


def queries_after_losing_it(request):
    _terminate_quietly()
    with connection.cursor() as cursor:  # InterfaceError: connection already closed
        cursor.execute("SELECT 1")


def has_a_bug(request):
    raise ValueError("a real bug, with a detail that must not be shown")


urlpatterns = [
    path("test/loses-db/", loses_the_database),
    path("test/after-db/", queries_after_losing_it),
    path("test/bug/", has_a_bug),
    *amparo_urls.urlpatterns,
]
handler500 = amparo_urls.handler500

pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _reconnect_after():
    """The terminated connection is dropped, so the test's teardown opens a fresh one."""
    yield
    connection.close()


def browser(language="es", **extra):
    # As a real server: the exception becomes the error page, it is not re-raised here.
    return Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE=language, **extra)


def test_it_answers_503_with_retry_after_in_spanish():
    response = browser("es").get("/test/loses-db/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert "El servicio no está disponible por un momento" in page
    assert "No se ha guardado nada a medias" in page
    assert '<html lang="es">' in page


def test_it_answers_in_english_to_an_english_browser():
    response = browser("en").get("/test/loses-db/")
    assert response.status_code == 503
    page = response.content.decode()
    assert "The service is briefly unavailable" in page
    assert "Nothing was half-saved. Please try again in a minute." in page
    assert "No se ha guardado" not in page


def test_a_closed_connection_interface_error_is_a_503_too():
    response = browser().get("/test/after-db/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"


def test_the_page_shows_no_traceback_or_database_detail():
    page = browser("en").get("/test/loses-db/").content.decode()
    for detail in ("Traceback", "OperationalError", "terminating", "pg_terminate_backend"):
        assert detail not in page


def test_without_its_template_it_still_answers_503_in_both_languages(settings):
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [], "APP_DIRS": False}]
    response = browser("en").get("/test/loses-db/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert page.index("No se ha guardado nada a medias") < page.index("Nothing was half-saved")


def test_it_is_a_503_when_the_session_cannot_be_loaded_by_middleware():
    # With PostgreSQL down the first query is usually the session's, made by middleware
    # (support.middleware, via request.user) before any view runs.
    client = browser("es")
    client.cookies[settings.SESSION_COOKIE_NAME] = "a" * 32
    _terminate_quietly()
    response = client.get("/")
    assert response.status_code == 503
    assert "No se ha guardado nada a medias" in response.content.decode()
    # The family's session cookie is neither rewritten nor deleted.
    assert settings.SESSION_COOKIE_NAME not in response.cookies


def test_it_logs_one_line_with_the_class_name_only(caplog):
    with caplog.at_level(logging.INFO):
        browser().get("/test/loses-db/")
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in errors] == ["database unavailable: OperationalError"]
    assert errors[0].exc_info is None
    assert not any(r.name == "django.request" for r in caplog.records)


def test_any_other_error_is_still_the_500_page():
    response = browser().get("/test/bug/")
    assert response.status_code == 500
    assert "Retry-After" not in response
    page = response.content.decode()
    assert "Algo ha fallado" in page
    assert "must not be shown" not in page and "Traceback" not in page


def test_healthz_says_the_database_is_down_as_before():
    _terminate_quietly()
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"] == "down"
    assert body["checks"]["redis"] == "ok"
    assert "Retry-After" not in response
