"""The fingerprint workers' scripts carry their own Content-Security-Policy.

WhiteNoise answers static files before Django's CSP middleware, so without
amparo/static_headers.py the workers would run under no policy at all; with it they
may compile WebAssembly (hash-wasm) and may connect nowhere. Pages never get
'wasm-unsafe-eval'.
"""

import pytest
from django.conf import settings
from django.test import RequestFactory, override_settings
from whitenoise.middleware import WhiteNoiseMiddleware

from amparo.static_headers import FINGERPRINT_WORKER_CSP


def _static(url: str):
    with override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True):
        middleware = WhiteNoiseMiddleware(lambda request: pytest.fail("not served as static"))
        return middleware(RequestFactory().get(url))


@pytest.mark.parametrize(
    "url", ["/static/js/fingerprint-worker.js", "/static/js/fingerprint-md5-worker.js"]
)
def test_the_fingerprint_workers_are_served_with_their_own_policy(url):
    response = _static(url)
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == FINGERPRINT_WORKER_CSP
    assert "'wasm-unsafe-eval'" in FINGERPRINT_WORKER_CSP
    assert FINGERPRINT_WORKER_CSP.startswith("default-src 'none';")


@pytest.mark.parametrize(
    "url", ["/static/js/fingerprint.js", "/static/vendor/hash-wasm/sha256.umd.min.js"]
)
def test_other_static_files_get_no_worker_policy(url):
    response = _static(url)
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response


def test_hashed_worker_names_get_the_policy_too():
    headers: dict[str, str] = {}
    settings.WHITENOISE_ADD_HEADERS_FUNCTION(
        headers,
        "/srv/fingerprint-worker.0123456789ab.js",
        "/static/js/fingerprint-worker.0123456789ab.js",
    )
    assert headers == {"Content-Security-Policy": FINGERPRINT_WORKER_CSP}
    settings.WHITENOISE_ADD_HEADERS_FUNCTION(
        headers := {}, "/x", "/static/js/fingerprint-worker.js.map"
    )
    assert headers == {}


def test_the_pages_policy_has_no_webassembly():
    assert settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["script-src"] == ["'self'"]
