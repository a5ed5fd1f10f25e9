import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

PUBLIC_PAGES = ["reporting:start", "reporting:staying-safe", "reporting:help"]


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_pages_are_spanish_by_default(name):
    response = Client().get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="es" dir="ltr">' in html
    assert "Salir de esta página" in html


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_pages_switch_to_english(name):
    client = Client()
    response = client.post(reverse("set_language"), {"language": "en", "next": reverse(name)})
    assert response.status_code == 302
    html = client.get(reverse(name)).content.decode()
    assert '<html lang="en" dir="ltr">' in html
    assert "Exit this page" in html


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_pages_have_a_neutral_title(name):
    html = Client().get(reverse(name)).content.decode()
    assert "<title>Amparo</title>" in html


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_pages_offer_quick_exit_and_help_lines(name, settings):
    html = Client().get(reverse(name)).content.decode()
    assert html.count("data-quick-exit") == 2  # the button and the hidden link for screen readers
    assert f'href="{settings.QUICK_EXIT_URL}"' in html
    assert reverse("reporting:help") in html


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_public_pages_send_the_security_headers(name):
    response = Client().get(reverse(name), secure=True)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["Cache-Control"] == "no-store"
    assert response["Strict-Transport-Security"].startswith("max-age=")
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_quick_exit_forgets_the_session():
    client = Client()
    session = client.session
    session["draft"] = "something"
    session.save()
    response = client.post(reverse("reporting:quick-exit"))
    assert response.status_code == 204
    assert "draft" not in client.session


def test_quick_exit_only_accepts_post():
    assert Client().get(reverse("reporting:quick-exit")).status_code == 405


def test_an_unknown_page_is_a_translated_404():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert "Página no encontrada" in response.content.decode()


def test_healthz_reports_database_and_redis_without_details():
    response = Client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["worker"] in {"ok", "stale"}
    assert set(body) == {"status", "checks"}


def test_healthz_sees_a_worker_heartbeat():
    from support.tasks import heartbeat

    heartbeat()
    assert Client().get("/healthz").json()["checks"]["worker"] == "ok"
