"""The yearly transparency report, in the shape DSA art. 22(3) asks of trusted flaggers.

Art. 22(3): at least once a year, the number of notices by (a) hosting provider,
(b) type of allegedly illegal content and (c) action taken by the provider — with
no personal data. A support group that is (or works with) a trusted flagger
publishes exactly that; one row per (provider, content type, action) with a count.

- The year is the year the notice was sent (`sent_at`), in the site's time zone.
- Type of content comes from the case's age band, never from its content: a child
  (under 18) → "synthetic sexual images of a minor" (Directive 2011/93/EU "realistic
  images"), an adult → "non-consensual synthetic intimate images".
- Action taken is what the provider did: removed, rejected, or no decision yet.
- Only names of platforms and counts leave: no case, URL, person or free text.

CSV for machines, PDF (fpdf2 with the bundled DejaVu Sans, so Spanish accents and
"—" print) for people; both from the same rows.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db.models import Case as When_
from django.db.models import CharField, Count, Value, When
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from support.models import AgeBand

from .metrics import Period, overall_median_hours
from .models import Notice

FONT_DIR = Path(settings.BASE_DIR) / "static" / "fonts"

CONTENT_TYPES = {
    "minor": gettext_lazy("Synthetic sexual images of a minor"),
    "adult": gettext_lazy("Non-consensual synthetic intimate images"),
}
ACTIONS = {
    "removed": gettext_lazy("Content removed"),
    "rejected": gettext_lazy("Notice rejected"),
    "pending": gettext_lazy("No decision yet"),
}
CSV_COLUMNS = (
    "period_start",
    "period_end",
    "hosting_provider",
    "type_of_content",
    "action_taken",
    "number_of_notices",
)


@dataclass(frozen=True)
class ReportRow:
    provider: str
    content_type: str  # code
    action: str  # code
    notices: int

    @property
    def content_label(self) -> str:
        return str(CONTENT_TYPES[self.content_type])

    @property
    def action_label(self) -> str:
        return str(ACTIONS[self.action])


@dataclass(frozen=True)
class Report:
    organisation_name: str
    year: int
    period: Period
    rows: list[ReportRow]
    median_hours: float | None

    @property
    def total(self) -> int:
        return sum(row.notices for row in self.rows)

    def by_provider(self) -> list[tuple[str, int]]:
        totals: dict[str, int] = {}
        for row in self.rows:
            totals[row.provider] = totals.get(row.provider, 0) + row.notices
        return sorted(totals.items())


def build_report(*, organisation, year: int) -> Report:
    period = Period.year(year)
    content = When_(
        When(case__age_band=AgeBand.ADULT, then=Value("adult")),
        default=Value("minor"),
        output_field=CharField(),
    )
    action = When_(
        When(removed_at__isnull=False, then=Value("removed")),
        When(rejected_at__isnull=False, then=Value("rejected")),
        default=Value("pending"),
        output_field=CharField(),
    )
    rows = (
        Notice.objects.filter(
            organisation=organisation, sent_at__gte=period.start, sent_at__lt=period.end
        )
        .annotate(content=content, action=action)
        .values("platform__name", "content", "action")
        .annotate(notices=Count("id"))
        .order_by("platform__name", "content", "action")
    )
    return Report(
        organisation_name=organisation.name,
        year=year,
        period=period,
        rows=[
            ReportRow(r["platform__name"], r["content"], r["action"], r["notices"]) for r in rows
        ],
        median_hours=overall_median_hours(organisation=organisation, period=period),
    )


def to_csv(report: Report) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    start = report.period.start.date().isoformat()
    end = (report.period.end - timedelta(days=1)).date().isoformat()
    for row in report.rows:
        writer.writerow(
            [start, end, _safe(row.provider), row.content_label, row.action_label, row.notices]
        )
    return out.getvalue().encode()


def _safe(text: str) -> str:
    """Keep a spreadsheet from reading a provider name as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def line(pdf, height: float, text: str) -> None:
    """A paragraph across the page; the next one starts at the left margin below it."""
    pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT")


def to_pdf(report: Report) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(format="A4")
    pdf.set_title(_("Transparency report %(year)s") % {"year": report.year})
    pdf.set_creator("Amparo")
    pdf.add_font("DejaVu", "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    line(pdf, 9, _("Transparency report %(year)s") % {"year": report.year})
    pdf.set_font("DejaVu", "", 11)
    line(pdf, 6, report.organisation_name)
    pdf.ln(2)
    pdf.multi_cell(
        0,
        6,
        _(
            "Notices sent to hosting providers from %(start)s to %(end)s, by provider, type "
            "of content and action taken (Regulation (EU) 2022/2065, art. 22(3)). It contains "
            "no personal data."
        )
        % {
            "start": report.period.start.date().isoformat(),
            "end": (report.period.end - timedelta(days=1)).date().isoformat(),
        },
    )
    pdf.ln(2)
    median = "—" if report.median_hours is None else f"{report.median_hours} h"
    line(pdf, 6, _("Notices sent: %(n)s") % {"n": report.total})
    line(pdf, 6, _("Median time from notice to removal: %(median)s") % {"median": median})
    pdf.ln(4)
    heading = FontFace(emphasis="BOLD")
    with pdf.table(col_widths=(45, 60, 45, 25), headings_style=heading) as table:
        header = table.row()
        for title in (
            _("Hosting provider"),
            _("Type of content"),
            _("Action taken"),
            _("Notices"),
        ):
            header.cell(title)
        for row in report.rows:
            cells = table.row()
            cells.cell(row.provider)
            cells.cell(row.content_label)
            cells.cell(row.action_label)
            cells.cell(str(row.notices))
        if not report.rows:
            table.row().cell(_("No notices were sent this year."), colspan=4)
    return bytes(pdf.output())


def record_export(*, actor, report: Report, organisation, fmt: str) -> None:
    """Who downloaded which year's report (it holds no personal data; still recorded)."""
    from django.db import transaction

    from vault import audit

    with transaction.atomic():
        audit.record(
            "transparency.exported",
            actor=actor,
            object_type="organisation",
            object_id=organisation.uuid,
            organisation_id=organisation.uuid,
            data={"year": report.year, "format": fmt, "notices": report.total},
        )
