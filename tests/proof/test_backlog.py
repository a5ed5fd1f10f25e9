"""Backlog (proof/backlog.py) at test size: real workers drain the queue, once each."""

import pytest

from proof import backlog
from tests.proof.conftest import assert_held

# Transactional: the workers are other processes and must see the queued rows.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_backlog_drains_with_nothing_lost_and_nothing_twice(settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    rows = {r["figure"]: r for r in backlog.run(short=True)}
    assert_held(rows.values())
    assert rows["lost (a task not done, or its mail never received)"]["value"] == 0
    assert rows["duplicated (a mail received twice, or not named after its row)"]["value"] == 0
