"""Evidence uploads that are encrypted as they arrive, never spooled in plaintext.

Threat: Django's default upload handlers write every file over 2.5 MiB
(``FILE_UPLOAD_MAX_MEMORY_SIZE``) to a plaintext temporary file, which survives a
crash, lands in backups and is readable by anyone with the disk. Choice: for
evidence views, ``EncryptingUploadHandler`` replaces the handlers; each chunk of
the request body is hashed (SHA-256; MD5 later, in the worker) and encrypted into the evidence store
the moment Django's multipart parser hands it over (``services.BlobWriter``), and
``request.FILES`` holds an ``EncryptedUpload`` — a receipt, with no bytes to read.
Everywhere else the settings keep only an in-memory handler, which drops files
larger than 2.5 MiB rather than spool them.

Limits: ``EVIDENCE_MAX_FILE_BYTES`` per file and ``EVIDENCE_MAX_REQUEST_BYTES`` per
request. When one is exceeded, or the store fails, the handler deletes everything
this request wrote (partial and complete files alike), stops the upload and keeps
the reason; ``upload_error(request)`` returns it for the view to show
(``error.message`` is translated). No row exists until the view calls
``services.finish_upload``; an upload it never finishes (invalid form, exception,
rolled-back transaction) is deleted when the request ends.

Usage::

    @encrypting_uploads
    def add_evidence(request):
        if request.method == "POST":
            if error := upload_error(request):
                ...show error.message...
            blob = services.finish_upload(request.FILES["file"], actor=...)

``encrypting_uploads`` installs the handler before anything reads the body. That
needs the CSRF check to run *after* it (the check reads ``request.POST``), so the
decorator does what Django's documentation prescribes for changing upload handlers:
the view is ``csrf_exempt`` on the outside and ``csrf_protect``-ed on the inside.

Deployment: serve evidence uploads through WSGI (gunicorn). Django's ASGI handler
spools the whole request body to a temporary file before any upload handler runs,
and a proxy that buffers request bodies (nginx's default) writes them to its own
disk: set ``proxy_request_buffering off`` for the upload URLs (docs/vault.md).
"""

from __future__ import annotations

import functools
import logging

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from . import images
from .models import RecipientKey
from .services import BlobWriter

log = logging.getLogger(__name__)


class UploadError(Exception):
    """Why an evidence upload was refused. ``code`` is stable; ``message`` is for people."""

    MESSAGES = {
        "file-too-large": _(
            "This file is too large: the limit is %(limit)s per file. Nothing was kept."
        ),
        "request-too-large": _(
            "These files are too large together: the limit is %(limit)s at a time. "
            "Nothing was kept."
        ),
        "store-failed": _(
            "The file could not be stored, so nothing was kept. Please try again in a few minutes."
        ),
        "empty-file": _("“%(name)s” is empty (0 bytes), so it was not kept. Choose it again."),
        "type-not-allowed": _(
            "“%(name)s” is not a picture, a PDF or a text file, so it was not kept. "
            "Send a screenshot of it instead."
        ),
        "image-too-large": _(
            "“%(name)s” is too large for a picture: the limit is %(limit)s. Nothing was kept. "
            "Send a screenshot of it instead."
        ),
    }

    def __init__(self, code: str, *, limit: int | None = None, name: str = "") -> None:
        if code not in self.MESSAGES:
            raise ValueError(f"unknown upload error {code!r}")
        super().__init__(code)
        self.code = code
        self.limit = limit
        self.name = name

    @property
    def message(self) -> str:
        """The reason in the active language, e.g. to add to a form's errors."""
        return str(self.MESSAGES[self.code]) % {
            "limit": filesizeformat(self.limit or 0),
            "name": self.name,
        }


# What a context file may be, told by its first bytes, never by its name or declared
# type (both are the sender's to choose).
CONTEXT_KINDS = ("image", "pdf", "text")
_TEXT_CONTROLS = set(range(32)) - {9, 10, 12, 13}


def content_kind(head: bytes) -> str | None:
    """``"image"`` (a format the worker decodes), ``"pdf"``, ``"text"`` or None.

    Threat: files that are neither evidence we can read nor harmless to keep —
    executables, archives that may hold the intimate image itself, HTML and SVG that
    run script if ever opened in a browser. Choice: an allow-list by magic number:
    the images ``vault.images`` opens, ``%PDF-``, and plain UTF-8 text (chat exports
    have no magic number: no NUL or control bytes, not markup). Everything else,
    including recognised but refused images (SVG, PSD, TIFF, …), is None.
    """
    if not head:
        return None
    fmt = images.sniff_format(head)
    if fmt is not None:
        return "image" if fmt in images.ALLOWED_FORMATS else None
    if head.startswith(b"%PDF-"):
        return "pdf"
    text = head.removeprefix(b"\xef\xbb\xbf")
    if any(b in _TEXT_CONTROLS for b in text) or text.lstrip().startswith(b"<"):
        return None
    for cut in range(4):  # the head may end inside a multi-byte character
        try:
            text[: len(text) - cut].decode("utf-8")
            return "text"
        except UnicodeDecodeError:
            continue
    return None


def check_context_file(upload: EncryptedUpload) -> UploadError | None:
    """Why an uploaded context file is refused (empty, type, too large an image), or None."""
    name = _display_name(upload.name)
    if upload.size == 0:
        return UploadError("empty-file", name=name)
    kind = content_kind(upload.head)
    if kind not in CONTEXT_KINDS:
        return UploadError("type-not-allowed", name=name)
    if kind == "image" and upload.size > images.MAX_BYTES:
        return UploadError("image-too-large", limit=images.MAX_BYTES, name=name)
    return None


def _display_name(name: str | None) -> str:
    # Shown back to the family inside a message: printable characters, not too long.
    return "".join(c for c in (name or "") if c.isprintable())[:80]


class EncryptedUpload(UploadedFile):
    """A file from ``request.FILES`` that exists only as ciphertext in the store.

    It has a name, a declared content type, a size and its hashes, but no bytes:
    reading it raises. Pass it to ``services.finish_upload`` to record it as a
    blob. States: pending → finishing (``finish_upload`` called) → stored (its
    transaction committed), or discarded (ciphertext deleted).
    """

    def __init__(self, writer: BlobWriter, *, name, content_type, charset, content_type_extra):
        super().__init__(
            file=None,
            name=name,
            content_type=content_type,
            size=writer.size,
            charset=charset,
            content_type_extra=content_type_extra,
        )
        self._writer = writer
        # The first bytes, in memory only, to tell the file's type by its magic number.
        self.head = b""
        self.blob_uuid = writer.uuid
        self.sha256 = writer.sha256
        self.md5 = writer.md5
        self.state = "pending"

    def claim(self) -> BlobWriter:
        if self.state != "pending":
            raise UploadError("store-failed")
        self.state = "finishing"
        return self._writer

    def mark_stored(self) -> None:
        self.state = "stored"

    def discard(self) -> None:
        if self.state in ("pending", "finishing"):
            self.state = "discarded"
            self._writer.abort()

    def close(self) -> None:
        # Django closes every uploaded file when the request ends: anything not
        # recorded by then (never finished, or its transaction rolled back) goes.
        self.discard()

    def open(self, mode=None):
        raise ValueError("an encrypted upload has no readable bytes; open the stored blob")

    def read(self, *args):
        raise ValueError("an encrypted upload has no readable bytes; open the stored blob")

    def chunks(self, chunk_size=None):
        raise ValueError("an encrypted upload has no readable bytes; open the stored blob")

    def multiple_chunks(self, chunk_size=None):
        return True


class EncryptingUploadHandler(FileUploadHandler):
    """Hash and encrypt every uploaded file into the evidence store, chunk by chunk.

    With ``recipient`` each file is sealed on arrival to that police unit's public
    key; the server cannot open it afterwards. See the module docstring for limits
    and errors.
    """

    # Django's parser hands files over in chunks of this size (its default is 64 KiB).
    # Each chunk costs the parser a fixed ~30 µs of Python and wakes the hashing and
    # writing threads once each; at 1 MiB a 256 MB upload makes ~1 000 such hand-overs
    # instead of ~4 000 at 256 KiB (measured: 0.52x -> 0.65x of raw SHA-256 + AES-GCM).
    # Memory stays small: the hashing and writing queues hold at most 8 chunks each.
    chunk_size = 1024 * 1024

    def __init__(self, request=None, *, recipient: RecipientKey | None = None) -> None:
        super().__init__(request)
        self.recipient = recipient
        self.max_file_bytes = settings.EVIDENCE_MAX_FILE_BYTES
        self.max_request_bytes = settings.EVIDENCE_MAX_REQUEST_BYTES
        self.error: UploadError | None = None
        self.uploads: list[EncryptedUpload] = []
        self._writer: BlobWriter | None = None
        self._head = b""
        self._file_bytes = 0
        self._request_bytes = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if content_length > self.max_request_bytes:
            # Known before a byte is read: refuse at the first file, unread.
            self.error = UploadError("request-too-large", limit=self.max_request_bytes)
        return None

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        if self.error is not None:
            self.discard_all()
            raise StopUpload(connection_reset=True)
        self._file_bytes = 0
        self._head = b""
        try:
            # MD5 is left to the worker (services.fill_md5): it is only a matching
            # aid, and computing it here was the slowest step a family waited for.
            self._writer = BlobWriter(recipient=self.recipient, md5=False)
        except Exception as exc:
            self._fail("store-failed", exc=exc)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._file_bytes += len(raw_data)
        self._request_bytes += len(raw_data)
        if len(self._head) < images.HEAD_BYTES:
            self._head += raw_data[: images.HEAD_BYTES - len(self._head)]
        if self._file_bytes > self.max_file_bytes:
            self._fail("file-too-large", limit=self.max_file_bytes)
        if self._request_bytes > self.max_request_bytes:
            self._fail("request-too-large", limit=self.max_request_bytes)
        try:
            self._writer.write(raw_data)
        except Exception as exc:
            self._fail("store-failed", exc=exc)
        return None  # no other handler ever sees the bytes

    def file_complete(self, file_size: int) -> EncryptedUpload:
        writer, self._writer = self._writer, None
        try:
            writer.close()
        except Exception as exc:
            self._fail("store-failed", exc=exc)
        upload = EncryptedUpload(
            writer,
            name=self.file_name,
            content_type=self.content_type,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
        upload.head = self._head
        self.uploads.append(upload)
        return upload

    def upload_interrupted(self) -> None:
        # The body ended inside a file (client gone, truncated request). Every file of
        # the request is discarded, the ones already complete too, and the view must be
        # told: otherwise it finds those in request.FILES and fails storing them (500).
        if self.error is None:
            self.error = UploadError("store-failed")
            log.info("evidence upload interrupted")
        self.discard_all()

    def _fail(self, code: str, *, limit: int | None = None, exc: Exception | None = None):
        self.error = UploadError(code, limit=limit)
        if exc is not None:
            log.warning("evidence upload failed code=%s error=%s", code, type(exc).__name__)
        else:
            log.info("evidence upload refused code=%s", code)
        self.discard_all()
        # Read and drop the rest of the body, so the browser gets our answer.
        raise StopUpload(connection_reset=False)

    def discard_all(self) -> None:
        """Delete everything this request wrote, finished or not."""
        self.discard_pending()
        for upload in self.uploads:
            upload.discard()

    def discard_pending(self) -> None:
        """Delete the file being written and every upload no view has finished."""
        if self._writer is not None:
            self._writer.abort()
            self._writer = None
        for upload in self.uploads:
            if upload.state == "pending":
                upload.discard()


def encrypting_uploads(view):
    """Decorate an evidence view: its uploads are encrypted on arrival (see module doc).

    The wrapped view is CSRF-protected after the handler is installed; anything the
    view does not record with ``services.finish_upload`` is deleted when it returns.
    """
    protected = csrf_protect(view)

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        handler = EncryptingUploadHandler(request)
        request.upload_handlers = [handler]
        try:
            return protected(request, *args, **kwargs)
        finally:
            handler.discard_pending()

    return csrf_exempt(wrapper)


def upload_error(request) -> UploadError | None:
    """Why the encrypting handler refused this request's upload, or None.

    Reads the request body first if nothing has yet (the CSRF check usually has).
    """
    request.FILES  # noqa: B018 - parsing the body is what sets the error
    for handler in request.upload_handlers:
        if isinstance(handler, EncryptingUploadHandler):
            return handler.error
    return None
