"""Serving blobs to authorised callers: a streaming, decrypting response.

Threat: evidence rendered by the browser. A polyglot (a valid PNG with HTML or
script appended), an SVG, or an HTML file named ``.jpg`` runs in our origin if it
is ever displayed inline, and a cached copy outlives the session. Choice:

* originals are always ``Content-Disposition: attachment`` with
  ``Content-Type: application/octet-stream`` — the sender's declared type is never
  echoed — so the browser saves them and renders nothing;
* derivatives (re-encoded JPEGs made from decoded pixels by ``process_image``) are
  the only thing ever shown inline, as ``image/jpeg``;
* every response carries ``X-Content-Type-Options: nosniff``,
  ``Content-Security-Policy: sandbox; default-src 'none'`` (a document that does get
  rendered has no origin, no scripts, no requests), ``Cache-Control: no-store`` and
  ``Cross-Origin-Resource-Policy: same-origin``.

Authorisation is the caller's job (``support`` access helpers) before calling
``blob_response``; opening writes the custody event. The body is decrypted
segment by segment as it is sent, with ``Content-Length`` set: if an integrity
check fails mid-way the connection is cut short and the client sees an incomplete
download, never a silently altered file.
"""

from __future__ import annotations

import uuid

from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from . import images, services
from .audit import Actor
from .models import Blob

SANDBOX_CSP = "sandbox; default-src 'none'"


def blob_response(
    blob: Blob,
    *,
    actor: Actor,
    purpose: str | None = None,
    organisation_id: uuid.UUID | None = None,
) -> StreamingHttpResponse:
    """A streaming response with the blob's plaintext, for an already authorised caller.

    ``purpose`` defaults to ``"download"`` for originals and ``"open"`` for
    derivatives; pass ``"reveal"`` when a person chose to see an unblurred preview.
    Raises ``services.BlobUnavailable`` for destroyed or sealed blobs.
    """
    original = blob.kind == Blob.Kind.ORIGINAL
    stream = services.open_blob(
        blob,
        actor=actor,
        purpose=purpose or ("download" if original else "open"),
        organisation_id=organisation_id,
    )
    if original:
        response = StreamingHttpResponse(stream, content_type="application/octet-stream")
        name = blob.filename() or f"{blob.uuid}.bin"
        response["Content-Disposition"] = content_disposition_header(True, name)
    else:
        response = StreamingHttpResponse(stream, content_type=images.DERIVATIVE_MIME)
        response["Content-Disposition"] = "inline"
    response["Content-Length"] = str(blob.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = SANDBOX_CSP
    response["Cache-Control"] = "no-store"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
