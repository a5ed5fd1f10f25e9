"""Fuzzing (proof/fuzz.py) with fixed examples: no crash, no 5xx."""

import pytest

from proof import fuzz
from tests.proof.conftest import assert_held

pytestmark = pytest.mark.django_db


def test_fuzzed_identifiers_uploads_images_and_sign_ins_never_crash(settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    rows = fuzz.run(short=True)
    assert_held(rows)
    executions = {r["figure"]: r["value"] for r in rows if r["figure"].endswith("executions")}
    assert len(executions) == 4 and min(executions.values()) >= 30


def test_a_crash_is_counted(monkeypatch):
    from vault import normalize

    def broken(text):
        raise KeyError(text)

    monkeypatch.setattr(normalize, "normalise_email", broken)
    tally = fuzz.fuzz_normalisers(5, True)
    assert tally.crashes


# Found by the fuzzer: a complete file part, then a file part cut off by the end of the
# body. Django tells the handler the upload was interrupted, the handler discarded
# every file, yet the view still found the first one in request.FILES and failed to
# store it: a 500. Now the interruption is an upload error like the others.
COMPLETE_THEN_CUT = (
    b'--b0undary\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\nprimera captura\r\n"
    b'--b0undary\r\nContent-Disposition: form-data; name="files"; filename="b.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\nsegunda captura cortada"
)


def test_a_body_cut_inside_a_second_file_is_a_clear_error_and_keeps_nothing(
    org_x, settings, tmp_path
):
    from django.test import Client

    from support.models import ContextFile
    from vault.models import Blob

    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    client = Client(raise_request_exception=False)
    client.get("/report/")
    who = {"filer_role": "parent", "age_band": "14_15", "contact_preference": "in_app"}
    client.post("/report/who/", who)
    response = client.generic(
        "POST",
        "/report/files/",
        COMPLETE_THEN_CUT,
        content_type="multipart/form-data; boundary=b0undary",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert response.json()["ok"] is False and response.json()["message"]
    assert not ContextFile.objects.exists() and not Blob.objects.exists()
