"""Headers that WhiteNoise adds to particular static files (WHITENOISE_ADD_HEADERS_FUNCTION).

The fingerprint workers (static/js/fingerprint-worker.js and fingerprint-md5-worker.js)
hash a family's files with hash-wasm, which compiles WebAssembly. A dedicated worker
runs under the Content-Security-Policy of its own script's response, not the page's
(CSP Level 3; Chromium and Firefox do so), so the workers get a policy of their own:

- ``'wasm-unsafe-eval'`` lets them compile WebAssembly. It does not allow ``eval`` or
  any string-to-JavaScript: only code already loaded from this origin can compile a
  module, and the pages that start the workers keep ``script-src 'self'`` without it.
- ``default-src 'none'`` forbids every fetch, XHR, WebSocket and image load: the
  worker that holds the file cannot send it anywhere, even if its scripts were
  replaced. Only its own scripts (``script-src``/``worker-src 'self'``) may load.

Without this header WhiteNoise would serve the workers with no policy at all.
"""

from __future__ import annotations

import re

FINGERPRINT_WORKER_CSP = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'"
)
# The plain name and ManifestStaticFilesStorage's hashed one (12 hex digits).
_FINGERPRINT_WORKER = re.compile(r"/js/fingerprint-(?:md5-)?worker(?:\.[0-9a-f]{12})?\.js$")


def add_headers(headers, path: str, url: str) -> None:
    if _FINGERPRINT_WORKER.search(url):
        headers["Content-Security-Policy"] = FINGERPRINT_WORKER_CSP
