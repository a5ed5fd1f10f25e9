"""Faults (proof/faults.py) at test size, with the test run's own servers and workers."""

import random

import pytest

from proof import faults, workers
from tests.proof.conftest import assert_held

# Transactional: the workers are other processes and must see what the suite wrote.
# The seeded takedown registry is put back by tests/proof/conftest.py (_registry).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def evidence(settings, tmp_path, local_services):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    workers.purge_queue()


def by_figure(rows):
    assert_held(rows)
    return {r["figure"].split(": ", 1)[1].split(" (")[0]: r["value"] for r in rows}


def test_a_worker_killed_while_processing_files_loses_and_repeats_nothing(evidence):
    rows = by_figure(faults.worker_kills(3, 8, rng=random.Random(1)))
    assert rows["SIGKILLs"] == 3
    assert rows["files lost"] == rows["files processed twice"] == 0
    assert rows["ciphertext left without a row after the sweep"] == 0
    assert rows["these files or their derivatives without ciphertext after the sweep"] == 0


def test_a_worker_killed_while_sending_mail_loses_none_and_never_sends_a_second_message(
    evidence,
):
    rows = by_figure(faults.mail_kills(3, 3, 5, 10, rng=random.Random(2)))
    assert rows["SIGKILLs"] == 3
    assert rows["mails lost"] == 0


def test_reports_sent_while_redis_is_down_are_all_kept_and_their_work_done_later(evidence):
    rows = by_figure(faults.redis_down(9))
    assert rows["500s"] == 0 and rows["reports received while Redis was down"] == 3


def test_a_postgres_restart_mid_send_saves_nothing_and_the_retry_saves_it_whole(evidence):
    rows = by_figure(faults.postgres_restart())
    assert rows["the interrupted send's answer"] == 503
    assert rows["the family's next try is saved whole"] is True


def test_a_full_disk_during_an_upload_is_a_clear_error_and_leaves_nothing(evidence):
    rows = by_figure(faults.disk_full())
    assert rows["files left on the full disk"] == 0


def test_without_a_tmpfs_the_full_disk_is_a_kernel_file_size_limit(evidence, monkeypatch):
    # Where the suite may not mount (not root), the kernel's RLIMIT_FSIZE refuses the
    # write instead (EFBIG), and the figure says which fault was used.
    monkeypatch.setattr(faults.shutil, "which", lambda name: None)
    rows = faults.disk_full()
    assert "RLIMIT_FSIZE" in rows[0]["figure"]
    assert by_figure(rows)["files left on the full disk"] == 0
