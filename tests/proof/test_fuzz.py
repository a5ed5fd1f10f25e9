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
