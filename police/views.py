from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from support import extensions
from support.events import ServiceError
from support.http import origin
from support.models import Membership, Role
from support.permissions import COORDINATION, get_case_for_user
from support.selectors import STAFF_WORDS

from . import exports, selectors, services
from .forms import AssignLiaisonForm, DownloadForm, ExportForm, ReferForm, UnitForm
from .models import Export, LiaisonAssignment, PoliceReferral, PoliceUnit
from .permissions import (
    get_export_for_liaison,
    get_liaison,
    get_referred_case,
    get_unit_manager,
    referred_cases,
)

SERVICE_MESSAGES = {
    "not-allowed": gettext_lazy("Your role does not allow this."),
    "bad-public-key": gettext_lazy("This is not a public key."),
    "key-in-use": gettext_lazy("This key already belongs to another unit."),
    "bad-liaison": gettext_lazy("Choose an active police liaison of this organisation."),
    "bad-unit": gettext_lazy("Choose an active unit of this organisation."),
    "already-referred": gettext_lazy("The case is already referred to that unit."),
    "no-police-consent": gettext_lazy(
        "The family has not consented to a police referral. Refer it only under a "
        "documented legal obligation."
    ),
    "legal-reason-needed": gettext_lazy(
        "Name the legal obligation and say why it applies (at least 20 characters)."
    ),
    "bad-basis": gettext_lazy("Choose the basis of the referral."),
    "bad-purpose": gettext_lazy("Choose the purpose of the export."),
    "purpose-detail-needed": gettext_lazy("Explain the purpose."),
    "bad-token": gettext_lazy("This download link is not valid."),
    "already-downloaded": gettext_lazy(
        "This case file was already downloaded. A link works once: start a new export."
    ),
    "not-ready": gettext_lazy("The case file is not ready yet."),
    "expired": gettext_lazy("This download link has expired. Start a new export."),
    "file-missing": gettext_lazy("The case file is no longer here. Start a new export."),
}


# A spent or expired link is gone for good (410); one not ready yet may be retried (409).
DOWNLOAD_STATUS = {"already-downloaded": 410, "expired": 410, "file-missing": 410, "not-ready": 409}


def service_message(code: str) -> str:
    return str(SERVICE_MESSAGES.get(code) or _("That change could not be made."))


def custody_words() -> dict:
    return STAFF_WORDS | extensions.event_words() | selectors.BLOB_WORDS


def _liaison_context(liaison, **more):
    return {
        "membership": liaison.membership,
        "organisation": liaison.membership.organisation,
        "unit": liaison.unit,
        **more,
    }


# --- The police liaison's pages -------------------------------------------------------


@login_required
def liaison_cases(request, org):
    liaison = get_liaison(request.user, org)
    return render(
        request,
        "police/liaison_cases.html",
        _liaison_context(liaison, referrals=referred_cases(liaison)),
    )


@login_required
def liaison_case(request, org, case):
    liaison, referral, case = get_referred_case(request.user, org, case)
    return render(
        request,
        "police/liaison_case.html",
        _liaison_context(
            liaison,
            referral=referral,
            case=case,
            locations=case.locations.all(),
            external_referrals=case.referrals.all(),
            identifier_count=case.identifiers.count(),
            exhibit_count=case.files.count() + case.fingerprints.count(),
            exports=selectors.liaison_exports(case, liaison.membership)[:10],
            tab="summary",
        ),
    )


@login_required
def liaison_exhibits(request, org, case):
    liaison, referral, case = get_referred_case(request.user, org, case)
    return render(
        request,
        "police/liaison_exhibits.html",
        _liaison_context(
            liaison, referral=referral, case=case, tab="exhibits", **selectors.exhibits(case)
        ),
    )


@login_required
def liaison_custody(request, org, case):
    liaison, referral, case = get_referred_case(request.user, org, case)
    return render(
        request,
        "police/liaison_custody.html",
        _liaison_context(
            liaison,
            referral=referral,
            case=case,
            tab="custody",
            events=selectors.custody_log(case, words=custody_words()),
        ),
    )


@never_cache
@login_required
def export_start(request, org, case):
    """Step-up re-authentication, a stated purpose, then the passphrase shown once.

    Access is checked first, so a case outside the liaison's unit is a 404 before any
    re-authentication prompt. The started page is the only place the passphrase and
    the download token ever appear: it is the response to the POST (never stored,
    never cached).
    """
    liaison, referral, case = get_referred_case(request.user, org, case)
    return _export_start(request, liaison, referral, case)


@reauthentication_required
def _export_start(request, liaison, referral, case):
    form = ExportForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            started = services.start_export(
                acting=liaison.membership,
                referral=referral,
                purpose=form.cleaned_data["purpose"],
                purpose_detail=form.cleaned_data["purpose_detail"],
                origin=origin(request),
            )
        except ServiceError as exc:
            form.add_error(None, service_message(exc.code))
        else:
            return render(
                request,
                "police/export_started.html",
                _liaison_context(
                    liaison,
                    case=case,
                    export=started.export,
                    passphrase=started.passphrase,
                    download_form=DownloadForm(initial={"token": started.token}),
                ),
            )
    return render(
        request,
        "police/export_form.html",
        _liaison_context(liaison, referral=referral, case=case, form=form, tab="export"),
    )


@never_cache
@require_GET
@login_required
def export_progress(request, org, export):
    """A small JSON document the progress bar polls: state and percent, nothing else."""
    _liaison, export = get_export_for_liaison(request.user, org, export)
    return JsonResponse(
        {
            "state": export.state,
            "label": str(export.get_state_display()),
            "percent": exports.progress_of(export),
            "ready": export.state == Export.State.READY,
            "done": not export.is_live or export.state == Export.State.READY,
        }
    )


@never_cache
@require_POST
@login_required
def export_download(request, org, export):
    """The ZIP, once, as an attachment; the token travels in the POST body, not the URL."""
    liaison, export = get_export_for_liaison(request.user, org, export)
    form = DownloadForm(request.POST)
    token = form.cleaned_data["token"] if form.is_valid() else ""
    try:
        handle, export = exports.claim_download(
            export=export, acting=liaison.membership, token=token, origin=origin(request)
        )
    except ServiceError as exc:
        # Not ready yet: the same (unspent) token may be tried again from this page.
        retry = DownloadForm(initial={"token": token}) if exc.code == "not-ready" else None
        return render(
            request,
            "police/export_refused.html",
            _liaison_context(
                liaison,
                case=export.case,
                export=export,
                message=service_message(exc.code),
                retry_form=retry,
            ),
            status=DOWNLOAD_STATUS.get(exc.code, 403),
        )
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=f"amparo-{export.case.reference}-{export.created_at:%Y%m%d}.zip",
        content_type="application/zip",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


# --- Coordinators: units and liaisons -------------------------------------------------


def _liaison_members(organisation):
    return (
        Membership.objects.filter(
            organisation=organisation, role=Role.POLICE_LIAISON, is_active=True
        )
        .select_related("user", "police_assignment__unit")
        .order_by("user__email")
    )


@login_required
def units(request, org):
    manager = get_unit_manager(request.user, org)
    form = UnitForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            unit = services.create_unit(
                acting=manager,
                name=form.cleaned_data["name"],
                contact=form.cleaned_data["contact"],
                public_key=form.cleaned_data["public_key"],
                origin=origin(request),
            )
        except ServiceError as exc:
            form.add_error("public_key", service_message(exc.code))
        else:
            messages.success(
                request,
                _("Unit added. Read its key fingerprint to the unit: %(fp)s")
                % {"fp": unit.recipient_key.fingerprint},
            )
            return redirect("police:units", org=org)
    all_units = PoliceUnit.objects.filter(organisation=manager.organisation).select_related(
        "recipient_key"
    )
    liaisons = _liaison_members(manager.organisation)
    return render(
        request,
        "police/units.html",
        {
            "membership": manager,
            "organisation": manager.organisation,
            "units": all_units,
            "liaisons": liaisons,
            "form": form,
            "assign_form": AssignLiaisonForm(
                liaisons=liaisons, units=all_units.filter(is_active=True)
            ),
        },
    )


@require_POST
@login_required
def unit_assign(request, org):
    manager = get_unit_manager(request.user, org)
    liaisons = _liaison_members(manager.organisation)
    active_units = PoliceUnit.objects.filter(organisation=manager.organisation, is_active=True)
    form = AssignLiaisonForm(request.POST, liaisons=liaisons, units=active_units)
    if not form.is_valid():
        messages.error(request, service_message("bad-liaison"))
        return redirect("police:units", org=org)
    liaison = liaisons.get(uuid=form.cleaned_data["liaison"])
    unit = (
        active_units.filter(uuid=form.cleaned_data["unit"]).first()
        if form.cleaned_data["unit"]
        else None
    )
    try:
        services.assign_liaison(acting=manager, liaison=liaison, unit=unit, origin=origin(request))
    except ServiceError as exc:
        messages.error(request, service_message(exc.code))
    else:
        messages.success(request, _("Saved."))
    return redirect("police:units", org=org)


# --- The case page's Police panel and its actions (support.extensions) ---------------


def case_panel_visible(*, membership, case) -> bool:
    """Who sees the Police panel of a case they may open: coordinators and caseworkers."""
    return membership.role in {Role.COORDINATOR, Role.CASEWORKER}


def case_panel_context(*, request, membership, case):
    """Referrals of this case and, for coordinators, the refer form."""
    if not case_panel_visible(membership=membership, case=case):
        return None
    referrals = PoliceReferral.objects.filter(case=case).select_related("unit", "referred_by__user")
    referred_units = {r.unit_id for r in referrals if r.withdrawn_at is None}
    units_left = PoliceUnit.objects.filter(
        organisation=membership.organisation, is_active=True
    ).exclude(pk__in=referred_units)
    consent = services.police_consent(case)
    return {
        "referrals": referrals,
        "can_refer": membership.role in COORDINATION,
        "has_consent": consent is not None,
        "consent": consent,
        "units_left": units_left,
        "form": ReferForm(
            prefix="police",
            units=units_left,
            initial={
                "basis": PoliceReferral.Basis.CONSENT
                if consent
                else PoliceReferral.Basis.LEGAL_OBLIGATION
            },
        ),
        "liaisons_assigned": LiaisonAssignment.objects.filter(
            unit__organisation=membership.organisation
        ).exists(),
    }


@require_POST
@login_required
def refer(request, org, case):
    membership, case = get_case_for_user(request.user, org, case, roles=COORDINATION)
    units_ = PoliceUnit.objects.filter(organisation=membership.organisation, is_active=True)
    form = ReferForm(request.POST, prefix="police", units=units_)
    if not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, _("Nothing was changed: %(errors)s") % {"errors": errors})
    else:
        try:
            services.refer_case(
                acting=membership,
                case=case,
                unit=units_.get(uuid=form.cleaned_data["unit"]),
                basis=form.cleaned_data["basis"],
                legal_reason=form.cleaned_data["legal_reason"],
                origin=origin(request),
            )
        except ServiceError as exc:
            messages.error(request, service_message(exc.code))
        else:
            messages.success(request, _("Case referred to the unit."))
    return redirect("support:case-tab", org=org, case=case.uuid, panel="police")


@require_POST
@login_required
def withdraw(request, org, case, referral):
    membership, case = get_case_for_user(request.user, org, case, roles=COORDINATION)
    found = PoliceReferral.objects.filter(case=case, uuid=referral).first()
    if found is None:
        raise Http404
    services.withdraw_referral(acting=membership, referral=found, origin=origin(request))
    messages.success(request, _("Referral withdrawn: the unit no longer sees this case."))
    return redirect("support:case-tab", org=org, case=case.uuid, panel="police")
