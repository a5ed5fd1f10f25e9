"""Removal metrics and the yearly transparency report, against hand-computed figures."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import translation

from takedowns import metrics, transparency
from takedowns.metrics import Period
from tests.takedowns.casedata import make_case, make_notice

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
PERIOD = Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))


def _removed(case, platform, basis, hours, **extra):
    return make_notice(case, platform=platform, basis=basis, state="removed", sent_at=T0,
                       removed_at=T0 + timedelta(hours=hours), **extra)  # fmt: skip


@pytest.fixture
def data(org_x, org_y):
    case = make_case(org_x)
    # Instagram DSA removals after 2, 4, 10 and 30 hours; Telegram after 6 and 50.
    for hours in (2, 4, 10, 30):
        _removed(case, "instagram", "dsa", hours)
    _removed(case, "telegram", "dsa", 6)
    _removed(case, "instagram", "take_it_down", 50)
    make_notice(case, platform="telegram", basis="dsa", state="rejected", sent_at=T0,
                rejected_at=T0 + timedelta(hours=5), rejection_reason="identity")  # fmt: skip
    make_notice(case, platform="telegram", basis="dsa", state="sent", sent_at=T0,
                deadline_at=T0 + timedelta(hours=72))  # open and past its deadline  # fmt: skip
    make_notice(case, platform="instagram", basis="dsa", state="sent", sent_at=NOW,
                deadline_at=NOW + timedelta(hours=72))  # open, deadline ahead  # fmt: skip
    make_notice(case, platform="instagram", basis="dsa", state="draft")  # never sent
    _removed(make_case(org_y), "instagram", "dsa", 1000)  # another organisation
    return case


def test_median_and_p90_per_platform_match_hand_computation(org_x, data):
    rows = {r.label: r for r in metrics.removal_times(organisation=org_x, period=PERIOD,
                                                         by="platform")}  # fmt: skip
    # Instagram: 2, 4, 10, 30, 50 → median 10; p90 = 30 + 0.6 * (50 - 30) = 42.
    assert (rows["Instagram"].removed, rows["Instagram"].median_hours) == (5, 10.0)
    assert rows["Instagram"].p90_hours == 42.0
    # Telegram: 6 → median 6, p90 6.
    assert (rows["Telegram"].median_hours, rows["Telegram"].p90_hours) == (6.0, 6.0)


def test_median_per_basis_matches_hand_computation(org_x, data):
    with translation.override("en"):  # labels are the bases' names, in English here
        rows = {r.label: r for r in metrics.removal_times(organisation=org_x, period=PERIOD,
                                                             by="basis")}  # fmt: skip
    # DSA: 2, 4, 6, 10, 30 → median 6; p90 = 10 + 0.6 * 20 = 22.
    dsa = rows["EU Digital Services Act, art. 16"]
    assert (dsa.removed, dsa.median_hours, dsa.p90_hours) == (5, 6.0, 22.0)
    assert rows["US TAKE IT DOWN Act"].median_hours == 50.0


def test_past_deadline_and_rejection_rate(org_x, data):
    assert metrics.past_deadline(organisation=org_x, now=NOW) == 1
    total, per_platform = metrics.rejections(organisation=org_x, period=PERIOD)
    assert (total.sent, total.rejected) == (9, 1)
    telegram = {r.label: r for r in per_platform}["Telegram"]
    assert (telegram.sent, telegram.rejected, telegram.rate) == (3, 1, 0.333)


def test_the_figures_are_empty_without_notices(org_x):
    assert metrics.removal_times(organisation=org_x, period=PERIOD, by="platform") == []
    assert metrics.overall_median_hours(organisation=org_x, period=PERIOD) is None
    assert metrics.rejections(organisation=org_x, period=PERIOD)[0].percent == "—"


def test_the_metric_queries_do_not_grow_with_notices(org_x, django_assert_max_num_queries):
    case = make_case(org_x)
    for hours in range(30):
        _removed(case, "instagram" if hours % 2 else "telegram", "dsa", hours + 1)
    with django_assert_max_num_queries(6):
        metrics.summary(organisation=org_x, now=NOW, period=PERIOD)


# --- transparency report -----------------------------------------------------------------


def test_the_report_counts_by_provider_content_type_and_action(org_x, data):
    adult = make_case(org_x, age_band="18_plus")
    _removed(adult, "telegram", "dsa", 3)
    report = transparency.build_report(organisation=org_x, year=2026)
    counts = {(r.provider, r.content_type, r.action): r.notices for r in report.rows}
    assert counts == {
        ("Instagram", "minor", "removed"): 5,
        ("Instagram", "minor", "pending"): 1,
        ("Telegram", "minor", "removed"): 1,
        ("Telegram", "minor", "rejected"): 1,
        ("Telegram", "minor", "pending"): 1,
        ("Telegram", "adult", "removed"): 1,
    }
    assert report.total == 10
    assert transparency.build_report(organisation=org_x, year=2025).rows == []


def test_the_csv_has_the_art_22_columns_and_no_personal_data(org_x, data):
    data_ = transparency.to_csv(transparency.build_report(organisation=org_x, year=2026))
    rows = list(csv.DictReader(io.StringIO(data_.decode())))
    assert tuple(rows[0]) == transparency.CSV_COLUMNS
    assert rows[0]["period_start"] == "2026-01-01" and rows[0]["period_end"] == "2026-12-31"
    text = data_.decode()
    for secret in (data.reference, "Narrativa", "abc123", "instagram.com", str(data.uuid)):
        assert secret not in text


def test_the_pdf_renders_spanish_text(org_x, data):
    from django.utils import translation

    with translation.override("es"):
        pdf = transparency.to_pdf(transparency.build_report(organisation=org_x, year=2026))
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    empty = transparency.to_pdf(transparency.build_report(organisation=org_x, year=2024))
    assert empty.startswith(b"%PDF-")


def test_a_provider_name_cannot_become_a_spreadsheet_formula(org_x):
    from takedowns.models import Platform

    case = make_case(org_x)
    notice = _removed(case, "instagram", "dsa", 2)
    Platform.objects.filter(pk=notice.platform_id).update(name="=HYPERLINK(1)")
    text = transparency.to_csv(transparency.build_report(organisation=org_x, year=2026)).decode()
    assert "'=HYPERLINK(1)" in text
