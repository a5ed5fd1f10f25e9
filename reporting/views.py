"""The public side: start page, the report wizard, receipts and return visits.

Views are thin: forms validate, `support.intake` changes state, and the
family's own session only ever holds a draft id, a receipt to show once, or the
id of the case they signed in to.
"""

from __future__ import annotations

import functools
import json
import time

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from support import events, intake, ratelimit, selectors
from support.http import client_ip, origin
from support.models import (
    AgeBand,
    Case,
    Consent,
    FilerRole,
    Incident,
    Organisation,
    ReportDraft,
)
from support.permissions import get_case_for_family
from support.sessions import idle_expired
from takedowns.selectors import family_notice_lines
from vault import crypto
from vault.uploads import check_context_file, encrypting_uploads, upload_error

from . import forms, status

STEPS = [
    ("who", forms.WhoForm, gettext_lazy("About you")),
    ("what", forms.WhatForm, gettext_lazy("What happened")),
    ("urgent", forms.UrgentForm, gettext_lazy("If someone asks for money or images")),
    ("where", forms.WhereForm, gettext_lazy("Where the images are")),
    ("involved", forms.InvolvedForm, gettext_lazy("Who is involved")),
    ("evidence", forms.EvidenceForm, gettext_lazy("Evidence")),
    ("consent", forms.ConsentForm, gettext_lazy("Your permission")),
]
STEP_FORMS = {slug: (form, title) for slug, form, title in STEPS}
DRAFT_KEY = "report_draft"
RECEIPT_KEY = "report_receipt"
FAMILY_KEY = "family_case"
FAMILY_IDLE_TIMEOUT = 20 * 60
SUBMISSIONS_PER_ADDRESS = 10  # per hour
SUBMISSIONS_PER_INCIDENT = 200  # per hour
SUBMISSIONS_PER_ADDRESS_PER_INCIDENT = 60  # per hour


def start(request):
    return render(request, "reporting/start.html")


def staying_safe(request):
    return render(request, "reporting/staying_safe.html")


def help_lines(request):
    return render(request, "reporting/help.html")


# Quick exit sends this with navigator.sendBeacon as the page is replaced. It
# only ever destroys the caller's own session, so a forged request can do no
# more than sign someone out; CSRF protection would make it fail exactly when
# a frightened family needs it.
@csrf_exempt
@require_POST
def quick_exit(request):
    request.session.flush()
    return HttpResponse(status=204)


# --- The wizard --------------------------------------------------------------------------


def _active_steps(answers: dict) -> list[str]:
    sextortion = "sextortion" in answers.get("what", {}).get("categories", [])
    return [slug for slug, _, _ in STEPS if slug != "urgent" or sextortion]


def _draft(request) -> ReportDraft | None:
    return selectors.report_draft(request.session.get(DRAFT_KEY))


def _new_draft(request, *, organisation: Organisation | None, incident: Incident | None):
    draft = ReportDraft()
    answers = {}
    if incident:
        answers["_incident"] = str(incident.uuid)
        organisation = incident.organisation
    if organisation:
        answers["_organisation"] = str(organisation.uuid)
    draft.answers = answers
    draft.save()
    request.session[DRAFT_KEY] = str(draft.uuid)
    return draft


def _default_organisation() -> Organisation | None:
    return selectors.default_organisation(settings.AMPARO_DEFAULT_ORGANISATION)


def report_start(request):
    draft = _draft(request)
    if draft is None or request.GET.get("new"):
        draft = _new_draft(request, organisation=_default_organisation(), incident=None)
    if "_organisation" not in draft.answers:
        return redirect("reporting:choose-group")
    return redirect("reporting:step", step=_next_unanswered(draft.answers))


def incident_entry(request, code: str):
    """The link or QR code an organisation hands to the families of one incident."""
    incident = selectors.open_incident(code)
    if incident is None:
        raise Http404
    _new_draft(request, organisation=None, incident=incident)
    return redirect("reporting:step", step="who")


def choose_group(request):
    draft = _draft(request)
    if draft is None:
        return redirect("reporting:report")
    groups = selectors.active_organisations()
    error = ""
    if request.method == "POST":
        chosen = next((g for g in groups if str(g.uuid) == request.POST.get("group")), None)
        if chosen:
            draft.answers = {**draft.answers, "_organisation": str(chosen.uuid)}
            draft.save()
            return redirect("reporting:step", step="who")
        error = _("Choose the group that should receive your report.")
    return render(request, "reporting/choose_group.html", {"groups": groups, "error": error})


# The page for a demand of money or images belongs to "what happened": it carries
# that step's number, so the count does not change when sextortion is ticked.
NUMBERED_STEPS = [slug for slug, _, _ in STEPS if slug != "urgent"]


def _position(step: str) -> tuple[int, int]:
    """(this step's number, number of steps including "check your answers")."""
    numbered = "what" if step == "urgent" else step
    return NUMBERED_STEPS.index(numbered) + 1, len(NUMBERED_STEPS) + 1


def _next_unanswered(answers: dict) -> str:
    for slug in _active_steps(answers):
        if slug not in answers:
            return slug
    return "check"


def _form_for(step: str, answers: dict, data=None):
    form_class = STEP_FORMS[step][0]
    kwargs = {}
    if form_class is forms.ConsentForm:
        kwargs["ask_assent"] = (
            answers.get("who", {}).get("age_band")
            in {
                AgeBand.AGE_14_15,
                AgeBand.AGE_16_17,
            }
            and answers.get("who", {}).get("filer_role") != FilerRole.YOUNG_PERSON
        )
    initial = _initial(step, answers.get(step, {}))
    return form_class(data, initial=initial, **kwargs)


def _initial(step: str, saved: dict) -> dict:
    """Answers as the form shows them again (lists back to one per line)."""
    initial = dict(saved)
    for key, value in saved.items():
        if key in {"urls", "groups", "phones", "names", "payments"}:
            initial[key] = "\n".join(value)
        if key == "handles":
            initial[key] = "\n".join(h["value"] for h in value)
        if key == "fingerprints":
            initial[key] = json.dumps(value)
        if key == "assent":
            initial[key] = {True: "yes", False: "no"}.get(value, "unknown")
    return initial


@sensitive_post_parameters()
def report_step(request, step: str):
    if step not in STEP_FORMS:
        raise Http404
    draft = _draft(request)
    if draft is None:
        return redirect("reporting:report")
    answers = draft.answers
    if "_organisation" not in answers:
        return redirect("reporting:choose-group")
    active = _active_steps(answers)
    if step not in active:
        return redirect("reporting:step", step=_next_unanswered(answers))
    form = _form_for(step, answers, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        answers[step] = form.answers()
        draft.answers = answers
        draft.save()
        if request.GET.get("from") == "check" and step != "what":
            return redirect("reporting:check")
        following = _active_steps(answers)
        index = following.index(step)
        return (
            redirect("reporting:step", step=following[index + 1])
            if index + 1 < len(following)
            else redirect("reporting:check")
        )
    number, total = _position(step)
    index = active.index(step)
    files = selectors.draft_files(draft) if step == "evidence" else []
    back = (
        reverse("reporting:step", args=[active[index - 1]]) if index else reverse("reporting:start")
    )
    return render(
        request,
        f"reporting/step_{step}.html" if step in {"evidence", "urgent"} else "reporting/step.html",
        {
            "form": form,
            "step": step,
            "title": STEP_FORMS[step][1],
            "number": number,
            "total": total,
            "back": back,
            "files": files,
            "max_file_bytes": settings.EVIDENCE_MAX_FILE_BYTES,
        },
    )


def _summary(answers: dict, draft: ReportDraft | None = None) -> list[dict]:
    """Rows for "check your answers": (question, answer lines, step to change it)."""
    rows = []
    for slug in _active_steps(answers):
        form = _form_for(slug, answers)
        saved = answers.get(slug, {})
        for name, field in form.fields.items():
            if name not in saved or name == "fingerprints":
                continue
            value = saved[name]
            choices = dict(getattr(field, "choices", []) or [])
            if isinstance(value, bool) or value is None:
                shown = [_("Yes") if value else _("No")]
            elif isinstance(value, list):
                shown = [
                    str(choices.get(v, v)) if not isinstance(v, dict) else v["value"] for v in value
                ]
            else:
                shown = [str(choices.get(value, value))] if value != "" else []
            rows.append({"label": field.label, "values": shown, "step": slug})
        if slug == "evidence":
            count = len(saved.get("fingerprints", []))
            rows.append(
                {
                    "label": _("Files fingerprinted on this device"),
                    "values": [str(count)],
                    "step": slug,
                }
            )
            if draft is not None:
                names = [f.blob.filename() for f in selectors.draft_files(draft)]
                rows.append({"label": _("Files sent, encrypted"), "values": names, "step": slug})
    return rows


def _within_submission_limits(ip: str, incident: Incident | None) -> bool:
    """Count one report against the address (and incident) limits; True if allowed.

    Reports through an incident's link come in cohorts: the families of one school
    class, often from the school's Wi-Fi or one carrier's shared address. They are
    counted per address *and incident*, with room for a whole class, and not against
    the general per-address limit; the per-incident limit caps what any number of
    addresses can send through one link. IPv6 addresses count by their /64.
    Redis down: allowed (losing a family's report costs more than an unthrottled hour).
    """
    address = ratelimit.address_key(ip)
    if incident is None:
        return ratelimit.hit(
            f"submit:addr:{address}", limit=SUBMISSIONS_PER_ADDRESS, window=3600, fail_open=True
        )
    return ratelimit.hit(
        f"submit:incident:{incident.uuid}:addr:{address}",
        limit=SUBMISSIONS_PER_ADDRESS_PER_INCIDENT,
        window=3600,
        fail_open=True,
    ) and ratelimit.hit(
        f"submit:incident:{incident.uuid}",
        limit=SUBMISSIONS_PER_INCIDENT,
        window=3600,
        fail_open=True,
    )


def report_check(request):
    draft = _draft(request)
    if draft is None:
        return redirect("reporting:report")
    answers = draft.answers
    missing = _next_unanswered(answers)
    if missing != "check":
        return redirect("reporting:step", step=missing)
    form = forms.CheckForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["website"]:
            # A bot: answer as if it worked, store nothing.
            return redirect("reporting:start")
        incident = selectors.incident_by_uuid(answers.get("_incident"))
        organisation = selectors.active_organisation(answers["_organisation"])
        if organisation is None:
            raise Http404
        within = _within_submission_limits(client_ip(request), incident)
        if not within:
            messages.error(
                request, _("Too many reports were sent from here. Please try again in an hour.")
            )
            return redirect("reporting:check")
        # Only the steps that apply now: answers to a step the family later made
        # irrelevant (say, unticking "asking for money") are not sent.
        active = set(_active_steps(answers))
        case, code = intake.submit_report(
            organisation=organisation,
            incident=incident,
            submission=forms.submission({k: v for k, v in answers.items() if k in active}),
            draft=draft,
            origin=origin(request),
        )
        del request.session[DRAFT_KEY]
        request.session[RECEIPT_KEY] = {"reference": case.reference, "code": code}
        return redirect("reporting:receipt")
    return render(
        request,
        "reporting/check.html",
        {
            "rows": _summary(answers, draft),
            "form": form,
            "back": reverse("reporting:step", args=["consent"]),
            "number": len(NUMBERED_STEPS) + 1,
            "total": len(NUMBERED_STEPS) + 1,
        },
    )


def receipt(request):
    shown = request.session.get(RECEIPT_KEY)
    if not shown:
        return redirect("reporting:family-signin")
    if request.method == "POST":
        if request.POST.get("saved") != "yes":
            return render(
                request,
                "reporting/receipt.html",
                {**_receipt_context(shown), "error": _("Tick the box once you have saved it.")},
            )
        del request.session[RECEIPT_KEY]
        return redirect("reporting:receipt-done")
    return render(request, "reporting/receipt.html", _receipt_context(shown))


def _receipt_context(shown: dict) -> dict:
    code = crypto.format_access_code(shown["code"])
    return {"reference": shown["reference"], "code": code, "code_groups": code.split("-")}


def receipt_download(request):
    shown = request.session.get(RECEIPT_KEY)
    if not shown:
        raise Http404
    context = _receipt_context(shown)
    body = render(request, "reporting/receipt.txt", context, content_type="text/plain").content
    response = HttpResponse(body, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="amparo-receipt.txt"'
    return response


def receipt_done(request):
    return render(request, "reporting/receipt_done.html")


# --- Return visits ------------------------------------------------------------------------


def _family_case(request) -> Case | None:
    state = request.session.get(FAMILY_KEY)
    if not state:
        return None
    if idle_expired(state, "at", timeout=FAMILY_IDLE_TIMEOUT):
        del request.session[FAMILY_KEY]
        messages.info(request, _("For your safety you were signed out after 20 minutes."))
        return None
    case = get_case_for_family(state["case"])
    if case is None:  # destroyed since they signed in
        del request.session[FAMILY_KEY]
        messages.info(request, FAMILY_REFUSALS[CASE_GONE])
        return None
    request.session[FAMILY_KEY] = state  # idle_expired recorded this visit
    return case


CASE_GONE = "case-destroyed"
FAMILY_REFUSALS = {
    CASE_GONE: gettext_lazy(
        "This case was closed and its content deleted. Nothing more can be added to it."
    ),
    "too-many-files": gettext_lazy("You have sent the most files we can keep for one case."),
}


def family_refusal(code: str) -> str:
    return str(FAMILY_REFUSALS.get(code) or _("That could not be done. Please try again."))


SIGNIN_FAILED = gettext_lazy(
    "The reference or the code is not right, or there were too many tries. "
    "Check them and try again in a few minutes."
)


@sensitive_post_parameters("code")
def family_signin(request):
    form = forms.FamilySignInForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        case = intake.check_family_access(
            reference=form.cleaned_data["reference"],
            code=form.cleaned_data["code"],
            client_ip=ratelimit.address_key(client_ip(request)),
        )
        if case is not None:
            request.session.cycle_key()
            request.session[FAMILY_KEY] = {"case": str(case.uuid), "at": time.time()}
            intake.record_family_visit(case=case, origin=origin(request))
            return redirect("reporting:status")
        # One message for every failure: unknown reference, wrong code, throttled.
        form.add_error(None, SIGNIN_FAILED)
    return render(request, "reporting/signin.html", {"form": form})


def family_signout(request):
    request.session.pop(FAMILY_KEY, None)
    return redirect("reporting:start")


def _refusals_as_messages(view):
    """A write the services refused (say, to a case destroyed a moment ago) becomes a
    translated message, never an error page."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except events.ServiceError as exc:
            messages.error(request, family_refusal(exc.code))
            gone = exc.code == CASE_GONE
            if gone:
                request.session.pop(FAMILY_KEY, None)
            return redirect("reporting:family-signin" if gone else "reporting:status")

    return wrapped


@sensitive_post_parameters()
@_refusals_as_messages
def family_status(request):
    case = _family_case(request)
    if case is None:
        return redirect("reporting:family-signin")
    message_form = forms.MessageForm()
    links_form = forms.MoreLinksForm()
    copies_form = forms.NewCopiesForm()
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "message":
            message_form = forms.MessageForm(request.POST)
            if message_form.is_valid():
                intake.add_family_message(
                    case=case, body=message_form.cleaned_data["body"], origin=origin(request)
                )
                messages.success(request, _("Your message was sent to the group."))
                return redirect("reporting:status")
        elif action == "links":
            links_form = forms.MoreLinksForm(request.POST)
            if links_form.is_valid():
                intake.add_family_links(
                    case=case, urls=links_form.cleaned_data["urls"], origin=origin(request)
                )
                messages.success(request, _("Thank you. The links were added to your case."))
                return redirect("reporting:status")
        elif action == "fingerprints":
            copies_form = forms.NewCopiesForm(request.POST)
            if copies_form.is_valid():
                try:
                    added = intake.add_family_fingerprints(
                        case=case, fingerprints=copies_form.evidence(), origin=origin(request)
                    )
                except events.ServiceError:
                    copies_form.add_error(
                        None, _("Your case already has the most fingerprints we can keep.")
                    )
                else:
                    messages.success(
                        request,
                        _("Thank you. The fingerprints were added to your case.")
                        if added
                        else _("Those fingerprints were already in your case."),
                    )
                    return redirect("reporting:status")
    shown = selectors.family_status(case)
    return render(
        request,
        "reporting/status.html",
        {
            "case": case,
            "timeline": status.family_timeline(case),
            "removal_requests": family_notice_lines(case),
            "thread": shown["thread"],
            "consents": intake.current_consents(case),
            "message_form": message_form,
            "links_form": links_form,
            "copies_form": copies_form,
            "files": status.family_files(shown["files"]),
            "max_file_bytes": settings.EVIDENCE_MAX_FILE_BYTES,
            "idle_timeout": FAMILY_IDLE_TIMEOUT,
            "shared_notes": shown["shared_notes"],
            "next": status.next_steps(case),
        },
    )


# What each decision means for the family, shown before they confirm it.
WITHDRAW_MEANS = {
    Consent.Kind.TAKEDOWN: gettext_lazy(
        "The group will not send new removal requests in your name. Requests already sent "
        "are not called back; a platform may still remove the images under its own rules."
    ),
    Consent.Kind.HASH_SHARING: gettext_lazy(
        "The group will stop sharing the fingerprints with platforms. Fingerprints already "
        "shared cannot be called back."
    ),
    Consent.Kind.POLICE: gettext_lazy(
        "The group will not refer your case to the police. If it was already referred, the "
        "police keep what they received; the group will tell you here."
    ),
    Consent.Kind.CONTACT: gettext_lazy(
        "The group will no longer contact you by email or phone. You can still read and "
        "send messages on this page."
    ),
    Consent.Kind.YOUNG_PERSON_ASSENT: gettext_lazy(
        "The group will know that the young person does not agree, and will talk it over "
        "with you here before doing anything more."
    ),
}
GIVE_MEANS = {
    Consent.Kind.TAKEDOWN: gettext_lazy(
        "The group may ask platforms to remove the images, in your name."
    ),
    Consent.Kind.HASH_SHARING: gettext_lazy(
        "The group may share the fingerprints (never the images) with platforms, so that "
        "copies can be found and blocked."
    ),
    Consent.Kind.POLICE: gettext_lazy(
        "The group may tell the police about your case, if it thinks it should."
    ),
    Consent.Kind.CONTACT: gettext_lazy(
        "The group may contact you in the way you chose when you sent the report."
    ),
    Consent.Kind.YOUNG_PERSON_ASSENT: gettext_lazy(
        "The group will know that the young person agrees with the report."
    ),
}


def family_permission(request, kind: str):
    """Withdraw a permission, or give it again: a page that says what it means, then a
    deliberate confirmation. The form says which decision it confirms, so a second
    press (or an old tab) never flips it back."""
    case = _family_case(request)
    if case is None:
        return redirect("reporting:family-signin")
    consent = intake.current_consents(case).get(kind)
    if consent is None:
        raise Http404
    decision = "withdraw" if consent.given else "give"
    if request.method == "POST":
        if request.POST.get("decision") == decision == "withdraw":
            intake.withdraw_consent(case=case, kind=kind, origin=origin(request))
            messages.success(request, _("Your permission was withdrawn."))
        elif request.POST.get("decision") == decision == "give":
            intake.give_consent(case=case, kind=kind, origin=origin(request))
            messages.success(request, _("Thank you. Your permission was recorded."))
        return redirect("reporting:status")
    means = WITHDRAW_MEANS if decision == "withdraw" else GIVE_MEANS
    return render(
        request,
        "reporting/permission_confirm.html",
        {"consent": consent, "decision": decision, "means": means[kind]},
    )


def family_erasure(request):
    """Ask for the case to be deleted, after a page that says what happens next."""
    case = _family_case(request)
    if case is None:
        return redirect("reporting:family-signin")
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        intake.request_erasure(case=case, origin=origin(request))
        messages.success(request, _("Your request to delete the case was sent to the group."))
        return redirect("reporting:status")
    if request.method == "POST" or case.erasure_requested_at:
        return redirect("reporting:status")
    return render(request, "reporting/erasure_confirm.html", {"case": case})


# --- Context files ----------------------------------------------------------------------


def _upload_reply(request, *, ok: bool, message: str, redirect_to: str, files=()):
    """JSON for the progress-bar uploader; a redirect with a message without JavaScript."""
    if request.headers.get("Accept", "").startswith("application/json"):
        body = {"ok": ok, "message": message, "files": [f.blob.filename() for f in files]}
        return JsonResponse(body, status=200 if ok else 400)
    (messages.success if ok else messages.error)(request, message)
    return redirect(redirect_to)


def _store_uploads(request, store, redirect_to):
    if request.method != "POST":
        return redirect(redirect_to)
    if error := upload_error(request):
        return _upload_reply(request, ok=False, message=error.message, redirect_to=redirect_to)
    uploads = request.FILES.getlist("files")
    if not uploads:
        return _upload_reply(
            request, ok=False, message=_("Choose at least one file."), redirect_to=redirect_to
        )
    # Refused here, not only later in the worker: nothing of a refused request is kept
    # (uploads never recorded are deleted when the request ends).
    for upload in uploads:
        if refusal := check_context_file(upload):
            return _upload_reply(
                request, ok=False, message=refusal.message, redirect_to=redirect_to
            )
    try:
        files = store(uploads)
    except events.ServiceError:
        return _upload_reply(
            request,
            ok=False,
            message=_("You have sent the most files we can keep for one case."),
            redirect_to=redirect_to,
        )
    return _upload_reply(
        request,
        ok=True,
        message=_("Received and encrypted."),
        redirect_to=redirect_to,
        files=files,
    )


@encrypting_uploads
def draft_upload(request):
    """Context files sent during the wizard (encrypted as they arrive)."""
    draft = _draft(request)
    if draft is None:
        return redirect("reporting:report")
    return _store_uploads(
        request,
        lambda uploads: intake.attach_draft_files(
            draft=draft, uploads=uploads, origin=origin(request)
        ),
        reverse("reporting:step", args=["evidence"]),
    )


@encrypting_uploads
def family_upload(request):
    """Context files added later from the status page."""
    case = _family_case(request)
    if case is None:
        return redirect("reporting:family-signin")
    return _store_uploads(
        request,
        lambda uploads: intake.add_family_files(case=case, uploads=uploads, origin=origin(request)),
        reverse("reporting:status"),
    )
