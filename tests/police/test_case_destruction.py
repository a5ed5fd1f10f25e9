"""A referred and exported case can still be destroyed (erasure or retention): its
referral, which protects the consent it rests on, and its exports, which protect the
referral, go in an order the database allows."""

from __future__ import annotations

from police.models import Export, PoliceReferral
from support import casework
from support.models import Consent
from tests.police.test_exports import built  # noqa: F401  (fixture)


def test_a_referred_case_is_destroyed_with_its_referral_and_consent(referral, case):
    casework.destroy_case_content(case)

    case.refresh_from_db()
    assert case.destroyed_at is not None
    assert not PoliceReferral.objects.filter(case=case).exists()
    assert not Consent.objects.filter(case=case).exists()


def test_an_exported_case_is_destroyed_with_its_exports(built, case, export_root):  # noqa: F811
    _, export, _, _ = built
    waiting = export_root / export.file_path
    assert waiting.exists()

    casework.destroy_case_content(case)

    assert not Export.objects.filter(case=case).exists()
    assert not PoliceReferral.objects.filter(case=case).exists()
    assert not waiting.exists()  # the ZIP waiting for its download went too
