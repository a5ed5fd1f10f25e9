"""A test-only URLconf: tiny views around the encrypting upload handler.

Used with ``@pytest.mark.urls("tests.vault.upload_urls")``. The views can scan the
temporary directories *while the request is being handled* — a plaintext spool
file exists only until the request ends, so a scan afterwards would miss it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from vault import services
from vault.audit import Actor
from vault.http import blob_response
from vault.models import Blob, RecipientKey
from vault.uploads import EncryptingUploadHandler, encrypting_uploads, upload_error

# The canary travels hex-encoded in this header, so it appears nowhere in plain.
SCAN_HEADER = "X-Scan-For"


def files_containing(needle: bytes, roots, *, since: float | None = None) -> list[str]:
    """Regular files under ``roots`` (modified after ``since``) that contain ``needle``."""
    hits = []
    for root in roots:
        if root is None or not os.path.isdir(root):
            continue
        for dirpath, _dirnames, filenames in os.walk(root):
            for name in filenames:
                file_path = os.path.join(dirpath, name)
                try:
                    info = os.lstat(file_path)
                    if not stat.S_ISREG(info.st_mode) or info.st_size > 512 * 1024 * 1024:
                        continue
                    if since is not None and info.st_mtime < since:
                        continue
                    data = Path(file_path).read_bytes()
                except OSError:
                    continue
                if needle in data:
                    hits.append(file_path)
    return hits


def stored_files(root: Path) -> list[Path]:
    """Every file under an evidence root, finished or not (``*.part`` included)."""
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def temp_dirs() -> list[str | None]:
    return [tempfile.gettempdir(), settings.FILE_UPLOAD_TEMP_DIR]


def _scan(request) -> list[str] | None:
    needle = request.headers.get(SCAN_HEADER)
    if not needle:
        return None
    return files_containing(bytes.fromhex(needle), temp_dirs(), since=time.time() - 600)


@encrypting_uploads
def upload(request):
    if request.method != "POST":
        return JsonResponse({"csrf": get_token(request)})
    hits = _scan(request)
    error = upload_error(request)
    if error is not None:
        status = 503 if error.code == "store-failed" else 413
        return JsonResponse({"error": error.code, "message": error.message}, status=status)
    files = request.FILES.getlist("file")
    actor = Actor.system("tests")
    if request.GET.get("finish") == "no":
        return JsonResponse({"blobs": [], "hits": hits})
    if request.GET.get("rollback") == "yes":
        with contextlib.suppress(RuntimeError), transaction.atomic():
            for upload in files:
                services.finish_upload(upload, actor=actor)
            raise RuntimeError("roll back")
        return JsonResponse({"blobs": [], "hits": hits})
    blobs = [str(services.finish_upload(upload, actor=actor).uuid) for upload in files]
    return JsonResponse({"blobs": blobs, "hits": hits})


@csrf_exempt
def sealed_upload(request):
    """Originals sealed on arrival to the one registered recipient (a police unit)."""
    recipient = RecipientKey.objects.get()
    request.upload_handlers = [EncryptingUploadHandler(request, recipient=recipient)]
    actor = Actor.system("tests")
    blobs = [services.finish_upload(f, actor=actor) for f in request.FILES.getlist("file")]
    return JsonResponse({"blobs": [str(blob.uuid) for blob in blobs]})


def download(request, blob_uuid):
    blob = Blob.objects.get(uuid=blob_uuid)
    return blob_response(blob, actor=Actor.system("tests"))


def plain_upload(request):
    """Control: whatever handlers the settings name, no vault involved."""
    names = [f.name for f in request.FILES.getlist("file")]
    return JsonResponse({"names": names, "hits": _scan(request)})


urlpatterns = [
    path("upload/", upload),
    path("plain-upload/", plain_upload),
    path("sealed-upload/", sealed_upload),
    path("download/<uuid:blob_uuid>/", download),
]
