"""Staff pages of takedown work, mounted under a case (support.extensions).

Thin views: a form parses, an access helper fetches (another organisation's case
is a 404, a role without case access a 403), one service acts.
"""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from support.events import ServiceError
from support.http import origin
from support.models import Role
from support.permissions import get_case_for_user, get_membership_for_user
from vault.uploads import encrypting_uploads, upload_error

from . import builder, selectors, services
from .forms import FactsForm, PrepareForm, ReplyForm, SettingsForm, StateForm, SubmittedForm
from .models import Notice
from .registry import visible_routes

ERRORS = {
    "bad-transition": gettext_lazy("That change is not possible from the notice's current state."),
    "manual-channel": gettext_lazy(
        "This notice goes through a web form or the app: record it below."
    ),
    "not-manual": gettext_lazy("This notice is sent automatically."),
    "rejection-needs-reason": gettext_lazy("Say why the platform refused."),
    "not-found": gettext_lazy("That address is not part of this case."),
}


def _error(code: str) -> str:
    return str(ERRORS.get(code, _("That could not be done.")))


def _notice(case, notice_uuid) -> Notice:
    notice = (
        Notice.objects.select_related("route__platform", "platform", "case", "organisation")
        .filter(case=case, uuid=notice_uuid)
        .first()
    )
    if notice is None:
        raise Http404
    return notice


def _case_page(case) -> str:
    return reverse(
        "support:case-tab",
        kwargs={"org": case.organisation.uuid, "case": case.uuid, "panel": "takedowns"},
    )


def _refused(request, refused: services.NoticeRefused) -> None:
    for message in refused.messages:
        messages.error(request, message)


@login_required
@sensitive_post_parameters()
def facts(request, org, case):
    membership, case = get_case_for_user(request.user, org, case)
    current = services.facts_for(case)
    if request.method == "POST":
        form = FactsForm(request.POST)
        if form.is_valid():
            services.save_case_facts(
                acting=membership, case=case, data=form.cleaned_data, origin=origin(request)
            )
            messages.success(request, _("Saved."))
            return redirect(_case_page(case))
    else:
        initial = {}
        if current:
            initial = {
                name: getattr(current, name)
                for name in (
                    "signature",
                    "circumstances",
                    "means_of_spread",
                    "prior_actions_answered",
                    "prior_actions",
                    "vulnerabilities",
                )
            }
        form = FactsForm(initial=initial)
    return render(
        request,
        "takedowns/facts.html",
        {"form": form, "case": case, "organisation": membership.organisation},
    )


@login_required
@require_POST
def prepare(request, org, case):
    membership, case = get_case_for_user(request.user, org, case)
    routes = list(visible_routes(case.organisation))
    locations = list(case.locations.all())
    form = PrepareForm(request.POST, routes=routes, locations=locations)
    if not form.is_valid():
        messages.error(request, _("Choose a route and at least one address."))
        return redirect(_case_page(case))
    route = next(r for r in routes if str(r.uuid) == form.cleaned_data["route"])
    chosen = [loc for loc in locations if str(loc.uuid) in form.cleaned_data["locations"]]
    try:
        notice = services.prepare_notice(
            acting=membership,
            case=case,
            route=route,
            locations=chosen,
            recipient=form.cleaned_data["recipient"],
            new_fact=form.cleaned_data["new_fact"],
            origin=origin(request),
        )
    except services.NoticeRefused as refused:
        _refused(request, refused)
        return redirect(_case_page(case))
    return redirect(selectors.notice_url(notice))


@login_required
@require_POST
def prepare_all(request, org, case):
    membership, case = get_case_for_user(request.user, org, case)
    try:
        result = services.prepare_all(acting=membership, case=case, origin=origin(request))
    except services.NoticeRefused as refused:
        _refused(request, refused)
        return redirect(_case_page(case))
    messages.success(request, _("%(n)s notices prepared for review.") % {"n": result["made"]})
    for _location, route, problems in result["problems"]:
        for problem in problems:
            messages.warning(request, f"{route}: {problem}")
    return redirect(_case_page(case))


@login_required
def notice_detail(request, org, case, notice):
    membership, case = get_case_for_user(request.user, org, case)
    notice = _notice(case, notice)
    context = {
        "organisation": membership.organisation,
        "case": case,
        "notice": notice,
        "manual": selectors.is_manual(notice),
        "pack": selectors.form_pack(notice) if notice.channel == "web_form" else None,
        "steps": selectors.in_app_steps(notice),
        "events": notice.events.select_related("actor__user"),
        "guard": [builder.guard_message_for(notice, code) for code in notice.guard_flags],
        "alternatives": [
            r
            for r in visible_routes(case.organisation)
            if r.platform.kind in ("hotline", "partner") and notice.guard_flags
        ],
        "submitted_form": SubmittedForm(),
        "reply_form": ReplyForm(initial={"at": timezone.localdate()}),
        "state_form": StateForm(),
        "stale": notice.route.is_stale(),
    }
    return render(request, "takedowns/notice.html", context)


@login_required
@require_POST
def send(request, org, case, notice):
    membership, case = get_case_for_user(request.user, org, case)
    notice = _notice(case, notice)
    try:
        services.send_notice(acting=membership, notice=notice, origin=origin(request))
    except services.NoticeRefused as refused:
        _refused(request, refused)
    except ServiceError as error:
        messages.error(request, _error(error.code))
    else:
        messages.success(request, _("Queued: it will be sent in a moment."))
    return redirect(selectors.notice_url(notice))


@login_required
@encrypting_uploads
@require_POST
def submitted(request, org, case, notice):
    membership, case = get_case_for_user(request.user, org, case)
    notice = _notice(case, notice)
    if error := upload_error(request):
        messages.error(request, error.message)
        return redirect(selectors.notice_url(notice))
    form = SubmittedForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.record_submission(
                acting=membership,
                notice=notice,
                ticket=form.cleaned_data["ticket"],
                screenshot=request.FILES.get("screenshot"),
                origin=origin(request),
            )
        except services.NoticeRefused as refused:
            _refused(request, refused)
        except ServiceError as error:
            messages.error(request, _error(error.code))
        else:
            messages.success(request, _("Recorded as sent."))
    return redirect(selectors.notice_url(notice))


@login_required
@require_POST
@sensitive_post_parameters()
def reply(request, org, case, notice):
    membership, case = get_case_for_user(request.user, org, case)
    notice = _notice(case, notice)
    form = ReplyForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(selectors.notice_url(notice))
    data = form.cleaned_data
    at = timezone.make_aware(datetime.datetime.combine(data["at"], datetime.time(12)))
    try:
        services.log_reply(
            acting=membership,
            notice=notice,
            text=data["text"],
            at=at,
            outcome=data["outcome"],
            reason=data["reason"],
            origin=origin(request),
        )
    except ServiceError as error:
        messages.error(request, _error(error.code))
    else:
        messages.success(request, _("Reply logged."))
    return redirect(selectors.notice_url(notice))


@login_required
@require_POST
def change_state(request, org, case, notice):
    membership, case = get_case_for_user(request.user, org, case)
    notice = _notice(case, notice)
    form = StateForm(request.POST)
    if form.is_valid():
        try:
            services.change_state(
                acting=membership,
                notice=notice,
                state=form.cleaned_data["state"],
                origin=origin(request),
            )
        except ServiceError as error:
            messages.error(request, _error(error.code))
        else:
            messages.success(request, _("Saved."))
    return redirect(selectors.notice_url(notice))


@login_required
@require_POST
def family_guidance(request, org, case, notice):
    membership, case = get_case_for_user(request.user, org, case)
    notice = _notice(case, notice)
    services.set_show_to_family(
        acting=membership,
        notice=notice,
        shown=request.POST.get("shown") == "1",
        origin=origin(request),
    )
    messages.success(request, _("Saved."))
    return redirect(selectors.notice_url(notice))


@login_required
def settings_page(request, org):
    membership = get_membership_for_user(request.user, org, roles={Role.COORDINATOR})
    current = services.settings_for(membership.organisation)
    if request.method == "POST":
        form = SettingsForm(request.POST)
        if form.is_valid():
            services.save_settings(
                acting=membership, data=form.cleaned_data, origin=origin(request)
            )
            messages.success(request, _("Saved."))
            return redirect("takedowns:settings", org=membership.organisation.uuid)
    else:
        form = SettingsForm(
            initial={"inbox_email": current.inbox_email, "notifier_name": current.notifier_name}
        )
    return render(
        request,
        "takedowns/settings.html",
        {"form": form, "organisation": membership.organisation},
    )
