"""Backup and restore drill (proof/drill.py) at test size, on fresh embedded servers."""

import pytest

from proof import drill

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_backup_restores_whole_and_retiring_the_kek_makes_shredded_files_unreadable(
    settings, tmp_path
):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    rows = {r["figure"]: r for r in drill.run(short=True)}
    must_hold = [
        "files opened after restore (every segment authenticated)",
        "encrypted fields decrypted after restore",
        "shredded case's files left in the live system",
        "after retiring the old KEK: shredded files readable from the old backup",
        "after retiring the old KEK: live files still readable",
    ]
    assert all(rows[name]["held"] for name in must_hold), [rows[n] for n in must_hold]
    # Field values are under the organisation-wide KEK ring, not per case: from an old
    # backup they stay readable until that KEK is retired, and retiring it also
    # retires every live field still under it. Reported, not hidden (make proof).
    gap = "after retiring the old KEK: live fields still readable (no field re-encryption exists)"
    assert (
        gap in rows
        and "shredded case's fields readable from the pre-shred backup, KEK not yet retired" in rows
    )
