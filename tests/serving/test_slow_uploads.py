"""Slow uploads do not take the site down (the short run of bench/serving.py).

Not a timing test (figures are bench/serving.py's): it checks that while as many
slow uploads stream as gunicorn has workers — enough to leave a sync-worker server
answering nobody — every other page request is answered, and every upload is stored.
"""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest

from amparo.localservices import free_port
from bench import serving


@pytest.mark.django_db(transaction=True)
def test_pages_are_answered_while_slow_uploads_stream(monkeypatch, tmp_path):
    from django.db import connection

    db = connection.settings_dict
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql://{db['USER']}@/{quote(db['NAME'])}?host={db['HOST']}"
    )
    monkeypatch.setenv("EVIDENCE_ROOT", str(tmp_path / "evidence"))
    monkeypatch.setattr(serving, "QUIET_SECONDS", 1.0)
    workers = 2
    port = free_port()
    server = serving.start_gunicorn(port, workers=workers)
    try:
        figures = serving.measure(port, uploads=workers, size=3_000_000, rate=1_000_000)
    finally:
        server.terminate()
        server.wait(60)
    assert figures["errors"] == []
    assert [u.get("status") for u in figures["uploads"]] == [200] * workers
    assert all(u["ok"] for u in figures["uploads"])
    # Pages were fetched, and answered, while the uploads were still streaming.
    assert figures["busy_n"] >= 10
    assert all(u["seconds"] >= 2.5 for u in figures["uploads"])
    assert len(os.listdir(tmp_path / "evidence")) > 0
