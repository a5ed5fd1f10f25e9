"""Load (proof/load.py) at test size: families at once against the live server."""

import pytest

from proof import load
from tests.proof.conftest import assert_held

pytestmark = pytest.mark.django_db(transaction=True)


def test_families_filing_at_once_all_get_a_receipt_and_nothing_is_lost(
    live_server, settings, tmp_path
):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    rows = {r["figure"]: r for r in load.run(short=True, base_url=live_server.url)}
    assert_held(rows.values())
    assert rows["lost (a receipt without its case and file)"]["value"] == 0
