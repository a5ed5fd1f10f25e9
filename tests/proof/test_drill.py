"""Backup and restore drill (proof/drill.py) at test size, on fresh embedded servers."""

import pytest

from proof import drill

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_backup_restores_whole_and_retiring_the_kek_makes_shredded_content_unreadable(
    settings, tmp_path
):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    rows = {r["figure"]: r for r in drill.run(short=True)}
    assert all(r["held"] for r in rows.values()), [r for r in rows.values() if not r["held"]]

    def pair(name):
        done, total = (int(n.replace(",", "")) for n in rows[name]["value"].split("/"))
        return done, total

    # Fields behave like files (per-case field keys, vault/fields.py): the pre-shred
    # backup opens the shredded case only until the old KEK is retired ...
    kept = pair("shredded case's fields readable from the pre-shred backup, KEK not yet retired")
    assert kept[0] == kept[1] > 0
    gone = pair("after retiring the old KEK: shredded fields readable from the old backup")
    assert gone[0] == 0 and gone[1] > 0
    # ... and rotation re-wraps every live field key, so retiring it costs no live value.
    live = pair("after retiring the old KEK: live fields still readable")
    assert live[0] == live[1] > 0
    files = pair("after retiring the old KEK: shredded files readable from the old backup")
    assert files[0] == 0 and files[1] > 0
