"""Removal metrics: how fast platforms act on our notices, and how often they refuse.

Measured the way INHOPE and DSA art. 15 count it: from the moment the notice was
sent (`sent_at`) to the confirmed removal (`removed_at`, set when a caseworker
confirms it), per platform and per legal basis, as the median and the 90th
percentile in hours. Percentiles are computed in PostgreSQL (`percentile_cont`,
linear interpolation between the two nearest values), so the figures cost one
grouped query whatever the number of notices.

Also: notices past their deadline (open, `deadline_at` gone by) and the rejection
rate (notices rejected at least once / notices sent). Counts only: no case, URL or
person ever appears in a figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Aggregate, Count, F, FloatField, Q
from django.db.models.functions import Extract
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import OPEN_STATES, Basis, Notice


class Percentile(Aggregate):
    """PostgreSQL `percentile_cont(p) WITHIN GROUP (ORDER BY expression)`."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        if not 0 <= fraction <= 1:
            raise ValueError("a percentile is between 0 and 1")
        super().__init__(expression, fraction=float(fraction), **extra)


@dataclass(frozen=True)
class RemovalRow:
    label: str
    removed: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class RejectionRow:
    label: str
    sent: int
    rejected: int

    @property
    def rate(self) -> float | None:
        return round(self.rejected / self.sent, 3) if self.sent else None

    @property
    def percent(self) -> str:
        return "—" if self.rate is None else f"{self.rate * 100:.0f} %"


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    @classmethod
    def last_12_months(cls, now: datetime) -> Period:
        return cls(now - timedelta(days=365), now)

    @classmethod
    def year(cls, year: int) -> Period:
        tz = timezone.get_current_timezone()
        return cls(datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz))


def _sent_in(organisation, period: Period):
    return Notice.objects.filter(
        organisation=organisation, sent_at__gte=period.start, sent_at__lt=period.end
    )


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value / 3600, 1)


def removal_times(*, organisation, period: Period, by: str) -> list[RemovalRow]:
    """Median and p90 hours from sent to confirmed removal, grouped `by` "platform" or "basis"."""
    if by not in {"platform", "basis"}:
        raise ValueError("group removal times by platform or basis")
    key = "platform__name" if by == "platform" else "basis"
    seconds = Extract(F("removed_at") - F("sent_at"), "epoch")
    rows = (
        _sent_in(organisation, period)
        .filter(removed_at__isnull=False, removed_at__gte=F("sent_at"))
        .values(key)
        .annotate(
            removed=Count("id"),
            median=Percentile(seconds, 0.5),
            p90=Percentile(seconds, 0.9),
        )
        .order_by(key)
    )
    labels = dict(Basis.choices)
    return [
        RemovalRow(
            label=str(labels.get(row[key], row[key])) if by == "basis" else row[key],
            removed=row["removed"],
            median_hours=_hours(row["median"]),
            p90_hours=_hours(row["p90"]),
        )
        for row in rows
    ]


def overall_median_hours(*, organisation, period: Period) -> float | None:
    seconds = Extract(F("removed_at") - F("sent_at"), "epoch")
    result = (
        _sent_in(organisation, period)
        .filter(removed_at__isnull=False, removed_at__gte=F("sent_at"))
        .aggregate(median=Percentile(seconds, 0.5))
    )
    return _hours(result["median"])


def past_deadline(*, organisation, now: datetime) -> int:
    """Notices still waiting on the platform after their deadline."""
    return Notice.objects.filter(
        organisation=organisation, state__in=OPEN_STATES, deadline_at__lt=now
    ).count()


def rejections(*, organisation, period: Period) -> tuple[RejectionRow, list[RejectionRow]]:
    """(all platforms, per platform): notices sent in the period and how many were rejected."""
    rejected = Count("id", filter=Q(rejected_at__isnull=False))
    rows = (
        _sent_in(organisation, period)
        .values("platform__name")
        .annotate(sent=Count("id"), rejected=rejected)
        .order_by("platform__name")
    )
    per_platform = [RejectionRow(r["platform__name"], r["sent"], r["rejected"]) for r in rows]
    total = RejectionRow(
        str(_("All platforms")),
        sum(r.sent for r in per_platform),
        sum(r.rejected for r in per_platform),
    )
    return total, per_platform


def summary(*, organisation, now: datetime | None = None, period: Period | None = None) -> dict:
    """Everything the metrics page shows, for one organisation."""
    now = now or timezone.now()
    period = period or Period.last_12_months(now)
    total, per_platform = rejections(organisation=organisation, period=period)
    return {
        "period": period,
        "by_platform": removal_times(organisation=organisation, period=period, by="platform"),
        "by_basis": removal_times(organisation=organisation, period=period, by="basis"),
        "median_hours": overall_median_hours(organisation=organisation, period=period),
        "past_deadline": past_deadline(organisation=organisation, now=now),
        "rejections": total,
        "rejections_by_platform": per_platform,
    }


def dashboard_figures(*, membership) -> list:
    """Rows for support's dashboard (registered in TakedownsConfig.ready)."""
    from support.extensions import DashboardFigure

    organisation = membership.organisation
    now = timezone.now()
    period = Period.last_12_months(now)
    url = reverse("takedowns:metrics", kwargs={"org": organisation.uuid})
    median = overall_median_hours(organisation=organisation, period=period)
    total, _per_platform = rejections(organisation=organisation, period=period)
    return [
        DashboardFigure(
            label=_("Takedown notices open"),
            value=Notice.objects.filter(organisation=organisation, state__in=OPEN_STATES).count(),
            url=url,
        ),
        DashboardFigure(
            label=_("Median time to removal, last 12 months (hours)"),
            value="—" if median is None else median,
            url=url,
        ),
        DashboardFigure(
            label=_("Takedown notices past their deadline"),
            value=past_deadline(organisation=organisation, now=now),
            url=url,
        ),
        DashboardFigure(label=_("Notices rejected by platforms"), value=total.percent, url=url),
    ]
