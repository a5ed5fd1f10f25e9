"""Staff pages for the follow-up side of takedowns: hash-list downloads, removal
metrics, the yearly transparency report and the status re-check setting.

(The notice flow's own views live in views.py.) Thin views: a form, an access
helper from support.permissions, one service call.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from support.events import staff_actor
from support.http import origin
from support.models import Case, Incident
from support.permissions import (
    CASE_ROLES,
    COORDINATION,
    MANAGE_MEMBERS,
    get_membership_for_user,
    visible_cases,
)

from . import clocks, hashlists, metrics, recheck, transparency
from .models import Notice, TakedownSettings


class HashListForm(forms.Form):
    fmt = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=[
            ("vics", gettext_lazy("VICS 2.0 JSON (Project VIC: hotlines and police tools)")),
            ("csv", gettext_lazy("CSV (spreadsheet)")),
            ("json", gettext_lazy("JSON")),
        ],
        initial="vics",
    )
    incident = forms.ChoiceField(label=gettext_lazy("Incident"), required=False)
    case = forms.CharField(
        label=gettext_lazy("Only one case (its reference)"), required=False, max_length=16
    )

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        self.incidents = {
            str(i.uuid): i for i in Incident.objects.filter(organisation=organisation)
        }
        self.fields["incident"].choices = [("", _("All incidents"))] + [
            (key, i.title) for key, i in self.incidents.items()
        ]

    def clean_incident(self):
        return self.incidents.get(self.cleaned_data["incident"])

    def clean_case(self):
        reference = self.cleaned_data["case"].strip().upper()
        if not reference:
            return None
        case = Case.objects.filter(
            organisation=self.organisation, reference=reference, destroyed_at=None
        ).first()
        if case is None:
            raise forms.ValidationError(_("No case of your organisation has this reference."))
        return case


@login_required
def hash_lists(request, org):
    """Coordinators download the fingerprints families agreed to share (audited)."""
    membership = get_membership_for_user(request.user, org, roles=COORDINATION)
    organisation = membership.organisation
    form = HashListForm(request.POST or None, organisation=organisation)
    if request.method == "POST" and form.is_valid():
        hash_list = hashlists.export_hash_list(
            actor=staff_actor(membership, origin(request)),
            organisation=organisation,
            fmt=form.cleaned_data["fmt"],
            incident=form.cleaned_data["incident"],
            case=form.cleaned_data["case"],
        )
        response = HttpResponse(hash_list.data, content_type=hash_list.content_type)
        response["Content-Disposition"] = f'attachment; filename="{hash_list.filename}"'
        return response
    shareable = hashlists.shareable_fingerprints(organisation=organisation).count()
    return render(
        request,
        "takedowns/hash_lists.html",
        {
            "membership": membership,
            "organisation": organisation,
            "form": form,
            "shareable": shareable,
        },
    )


# --- Removal metrics and the transparency report ------------------------------------------


@login_required
def metrics_page(request, org):
    membership = get_membership_for_user(request.user, org, roles=COORDINATION)
    return render(
        request,
        "takedowns/metrics.html",
        {
            "membership": membership,
            "organisation": membership.organisation,
            "m": metrics.summary(organisation=membership.organisation),
        },
    )


class YearForm(forms.Form):
    year = forms.IntegerField(label=gettext_lazy("Year"), min_value=2020, max_value=2100)
    fmt = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=[("pdf", "PDF"), ("csv", gettext_lazy("CSV (spreadsheet)"))],
        initial="pdf",
    )


@login_required
def transparency_page(request, org):
    """The yearly DSA art. 22(3)-shaped report: shown as a table, downloadable as CSV/PDF."""
    membership = get_membership_for_user(request.user, org, roles=COORDINATION)
    organisation = membership.organisation
    this_year = timezone.localdate().year
    form = YearForm(request.GET or None, initial={"year": this_year - 1})
    year = form.cleaned_data["year"] if form.is_valid() else this_year - 1
    report = transparency.build_report(organisation=organisation, year=year)
    if form.is_valid() and request.GET.get("download"):
        fmt = form.cleaned_data["fmt"]
        transparency.record_export(
            actor=staff_actor(membership, origin(request)),
            report=report,
            organisation=organisation,
            fmt=fmt,
        )
        data = transparency.to_pdf(report) if fmt == "pdf" else transparency.to_csv(report)
        content_type = "application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8"
        response = HttpResponse(data, content_type=content_type)
        filename = f"amparo-transparency-{year}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return render(
        request,
        "takedowns/transparency.html",
        {"membership": membership, "organisation": organisation, "form": form, "report": report},
    )


# --- Status re-checks: the organisation's opt-in ------------------------------------------


class RecheckForm(forms.Form):
    status_rechecks = forms.BooleanField(
        label=gettext_lazy("Re-check reported addresses once a day"),
        required=False,
        help_text=gettext_lazy(
            "Amparo asks each reported address for its status only (never its content) and "
            "shows a caseworker the ones that seem to be gone, and reopens a notice whose "
            "content is back. Addresses inside private networks are never contacted."
        ),
    )


@login_required
def recheck_settings(request, org):
    membership = get_membership_for_user(request.user, org, roles=MANAGE_MEMBERS)
    current = TakedownSettings.objects.filter(organisation=membership.organisation).first()
    form = RecheckForm(
        request.POST if request.method == "POST" else None,
        initial={"status_rechecks": bool(current and current.status_rechecks)},
    )
    if request.method == "POST" and form.is_valid():
        recheck.set_status_rechecks(
            acting=membership,
            enabled=form.cleaned_data["status_rechecks"],
            origin=origin(request),
        )
        messages.success(request, _("Saved."))
        return redirect("takedowns:recheck-settings", org=org)
    return render(
        request,
        "takedowns/recheck_settings.html",
        {
            "membership": membership,
            "organisation": membership.organisation,
            "form": form,
            "counts": recheck.outcome_counts(organisation=membership.organisation),
        },
    )


# --- Overdue notices and one-click escalation ---------------------------------------------

ESCALATION_MESSAGES = {
    "cannot-escalate": gettext_lazy("This notice cannot be escalated in its current state."),
    "no-route": gettext_lazy(
        "There is no route for this step in the registry: follow the guidance instead."
    ),
    "incomplete": gettext_lazy("The notice for this step is not complete yet:"),
}


def _notice_for_user(user, org, notice_uuid):
    """(membership, notice): another organisation's notice is 404; a notice of a case
    the member may not open (a colleague's case, a role without case access) is 403."""
    membership = get_membership_for_user(user, org)
    notice = (
        Notice.objects.select_related("case", "platform", "route")
        .filter(organisation=membership.organisation, uuid=notice_uuid, case__destroyed_at=None)
        .first()
    )
    if notice is None:
        raise Http404
    if membership.role not in CASE_ROLES:
        raise PermissionDenied
    if not visible_cases(membership).filter(pk=notice.case_id).exists():
        raise PermissionDenied
    return membership, notice


@login_required
def overdue_notices(request, org):
    """Notices whose platform's time is up, each with its escalation ladder."""
    membership = get_membership_for_user(request.user, org, roles=CASE_ROLES)
    now = timezone.now()
    notices = (
        Notice.objects.filter(
            organisation=membership.organisation,
            case__in=visible_cases(membership),
            state__in=clocks.CLOCK_STATES,
            deadline_at__lte=now,
        )
        .select_related("case", "platform", "case__takedown_facts")
        .order_by("deadline_at", "id")[:200]
    )
    rows = []
    for notice in notices:
        facts = getattr(notice.case, "takedown_facts", None)
        rungs = clocks.escalation_ladder(notice, jurisdictions=facts.jurisdictions if facts else [])
        # Where the registry has no route for a rung (the DSC, the FTC), the draft is a
        # letter to copy into the authority's own form.
        letters = {r.code: clocks.escalation_text(notice, r.code) for r in rungs if not r.route}
        rows.append((notice, [(rung, letters.get(rung.code)) for rung in rungs]))
    return render(
        request,
        "takedowns/overdue.html",
        {"membership": membership, "organisation": membership.organisation, "rows": rows},
    )


@require_POST
@login_required
def escalate_notice(request, org, notice):
    membership, notice = _notice_for_user(request.user, org, notice)
    rung = request.POST.get("rung", "")
    if rung not in clocks.RUNGS:
        messages.error(request, _("Choose a step of the escalation ladder."))
        return redirect("takedowns:overdue", org=org)
    try:
        clocks.draft_escalation(
            acting=membership, notice=notice, rung=rung, now=timezone.now(), origin=origin(request)
        )
    except clocks.EscalationError as exc:
        missing = "; ".join(exc.missing)
        messages.error(request, f"{ESCALATION_MESSAGES[exc.code]} {missing}".strip())
        return redirect("takedowns:overdue", org=org)
    messages.success(
        request, _("The escalation is drafted: review and send it from the case page.")
    )
    return redirect("support:case-tab", org=org, case=notice.case.uuid, panel="takedowns")
