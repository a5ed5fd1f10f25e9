"""Plaintext canaries (proof/canaries.py): the whole flow, then every place at rest."""

import pytest

from proof import canaries
from tests.proof.conftest import assert_held

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_canary_is_nowhere_at_rest_and_the_control_is_found_everywhere(settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    settings.POLICE_EXPORT_ROOT = tmp_path / "exports"
    rows = canaries.run(short=True)
    assert_held(rows)


def test_the_canary_is_looked_for_in_every_encoding():
    forms = canaries.forms_of("qzkanary0123456789abcdef")
    blob = b"prefix " + "QZKANARY0123456789ABCDEF".encode("utf-16-le") + b" suffix"
    assert any(f in blob for f in forms)
    import base64

    for shift in range(3):
        encoded = base64.b64encode(b"x" * shift + b"qzkanary0123456789abcdef" + b"yz")
        assert any(f in encoded for f in forms), shift
