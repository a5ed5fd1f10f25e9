import io
import time

import qrcode
import qrcode.image.svg
from allauth.account.decorators import reauthentication_required
from allauth.account.internal.flows.reauthentication import reauthenticate_by_password
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from vault.http import blob_response

from . import casework, events, extensions, intake, selectors
from . import members as member_services
from .casework import TRANSITIONS
from .forms import (
    AcceptInvitationForm,
    AssignForm,
    CaseIncidentForm,
    DownloadForm,
    ErasureForm,
    HoldForm,
    IncidentForm,
    InviteForm,
    LabelsForm,
    NoteForm,
    PriorityForm,
    QueueFilterForm,
    ReferralForm,
    ReplyForm,
    RetentionForm,
    RevealForm,
    RoleForm,
    StatusForm,
    TaskForm,
)
from .http import absolute_url, origin
from .models import Case, Incident, Invitation, Membership, Role
from .permissions import (
    ACTIONS,
    CASE_ROLES,
    get_case_for_user,
    get_case_to_take,
    get_incident_for_user,
    get_invitation_for_admin,
    get_member_for_admin,
    get_membership_for_user,
    may,
    require,
    roles_for,
    visible_cases,
)
from .templatetags.staffdates import format_when

SERVICE_MESSAGES = {
    "already-member": gettext_lazy("That person is already a member of this organisation."),
    "last-admin": gettext_lazy("An organisation needs at least one active administrator."),
    "self-deactivate": gettext_lazy("You cannot deactivate yourself; ask another administrator."),
    "invitation-invalid": gettext_lazy("This invitation is no longer valid. Ask for a new one."),
    "account-exists": gettext_lazy(
        "An account with this email exists: sign in first, then open the link."
    ),
    "wrong-account": gettext_lazy("This invitation was sent to another email address."),
    "bad-role": gettext_lazy("Choose a role from the list."),
    "bad-transition": gettext_lazy("A case cannot move to that status from its current one."),
    "bad-assignee": gettext_lazy("That person cannot be assigned cases."),
    "already-taken": gettext_lazy("A colleague took this case first; nothing was changed."),
    "not-allowed": gettext_lazy("Your role does not allow this."),
    "bad-retention": gettext_lazy("Choose between 30 and 3650 days."),
    "legal-hold": gettext_lazy("The case is on legal hold: lift the hold first."),
    "no-request": gettext_lazy("The family has not asked for erasure."),
    "too-many-labels": gettext_lazy("A case can have at most ten labels."),
    "case-destroyed": gettext_lazy("This case was destroyed; nothing can be added to it."),
    "no-reason": gettext_lazy("Choose a reason from the list."),
}


def service_message(code: str) -> str:
    return str(SERVICE_MESSAGES.get(code) or _("That change could not be made."))


@login_required
def home(request):
    memberships = list(
        Membership.objects.filter(
            user=request.user, is_active=True, organisation__is_active=True
        ).select_related("organisation")
    )
    if len(memberships) == 1:
        return redirect("support:org-home", org=memberships[0].organisation.uuid)
    return render(request, "support/home.html", {"memberships": memberships})


@login_required
def members(request, org):
    actor = get_membership_for_user(request.user, org, roles=roles_for("members.manage"))
    form = InviteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            member_services.invite_member(
                actor=actor,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                origin=origin(request),
            )
        except events.ServiceError as exc:
            form.add_error("email", service_message(exc.code))
        else:
            messages.success(request, _("Invitation sent."))
            return redirect("support:members", org=org)
    people = (
        Membership.objects.filter(organisation=actor.organisation)
        .select_related("user")
        .order_by("-is_active", "user__email")
    )
    pending = Invitation.objects.filter(
        organisation=actor.organisation, accepted_at=None, revoked_at=None
    ).order_by("-created_at")
    return render(
        request,
        "support/members.html",
        {
            "membership": actor,
            "organisation": actor.organisation,
            "people": people,
            "pending": pending,
            "form": form,
            "role_form": RoleForm(),
        },
    )


@require_POST
@login_required
@reauthentication_required
def member_role(request, org, member):
    actor, target = get_member_for_admin(request.user, org, member)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, service_message("bad-role"))
    else:
        try:
            member_services.change_role(
                actor=actor, target=target, role=form.cleaned_data["role"], origin=origin(request)
            )
        except events.ServiceError as exc:
            messages.error(request, service_message(exc.code))
        else:
            messages.success(request, _("Role changed."))
    return redirect("support:members", org=org)


@login_required
@reauthentication_required
def member_deactivate(request, org, member):
    """GET: a page that says what deactivation does; POST: deactivate. Never oneself."""
    actor, target = get_member_for_admin(request.user, org, member)
    if target == actor:
        raise Http404
    if request.method != "POST":
        return render(
            request,
            "support/member_deactivate.html",
            {"membership": actor, "organisation": actor.organisation, "person": target},
        )
    try:
        member_services.deactivate_member(actor=actor, target=target, origin=origin(request))
    except events.ServiceError as exc:
        messages.error(request, service_message(exc.code))
    else:
        messages.success(request, _("Member deactivated."))
    return redirect("support:members", org=org)


@require_POST
@login_required
def invitation_revoke(request, org, invitation):
    actor, inv = get_invitation_for_admin(request.user, org, invitation)
    try:
        member_services.revoke_invitation(actor=actor, invitation=inv, origin=origin(request))
    except events.ServiceError as exc:
        messages.error(request, service_message(exc.code))
    else:
        messages.success(request, _("Invitation withdrawn."))
    return redirect("support:members", org=org)


@sensitive_post_parameters("password1", "password2")
def invitation_accept(request, token):
    invitation = member_services.find_invitation(token)
    if invitation is None:
        return render(request, "support/invitation_invalid.html", status=404)
    user = request.user if request.user.is_authenticated else None
    form = AcceptInvitationForm(
        request.POST if request.method == "POST" else None, email=invitation.email
    )
    if request.method == "POST" and (user is not None or form.is_valid()):
        try:
            membership = member_services.accept_invitation(
                invitation=invitation,
                user=user,
                password=form.cleaned_data.get("password1", "") if user is None else "",
                origin=origin(request),
            )
        except events.ServiceError as exc:
            messages.error(request, service_message(exc.code))
            return redirect("account_login")
        if user is None:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
            # The password was chosen on this very form: allauth's own record of a
            # re-authentication, so MFA enrolment does not ask for it again at once.
            reauthenticate_by_password(request)
        messages.success(request, _("Welcome. Now set up two-factor authentication."))
        return redirect("support:home")
    return render(
        request,
        "support/invitation_accept.html",
        {"invitation": invitation, "form": form, "signed_in": user is not None},
    )


# --- Case work ---------------------------------------------------------------------------


def _members_with_case_access(organisation):
    return (
        Membership.objects.filter(
            organisation=organisation,
            is_active=True,
            role__in=[Role.COORDINATOR, Role.CASEWORKER],
        )
        .select_related("user")
        .order_by("user__email")
    )


@login_required
def org_home(request, org):
    membership = get_membership_for_user(request.user, org)
    context = {"membership": membership, "organisation": membership.organisation}
    if membership.role not in CASE_ROLES:
        return render(request, "support/org_home.html", context)
    incidents = list(Incident.objects.filter(organisation=membership.organisation, is_open=True))
    form = QueueFilterForm(
        request.GET or None,
        members=_members_with_case_access(membership.organisation),
        incidents=incidents,
    )
    data = form.cleaned_data if form.is_valid() else {}
    page = Paginator(selectors.queue(membership, data), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    filtered = bool(request.GET) and form.is_valid()
    organisation = membership.organisation
    rows = {"page": selectors.case_rows(page.object_list, organisation)}
    if not filtered:
        # The short lists only show on the unfiltered home.
        sections = selectors.home_sections(membership)
        url = selectors.case_url_maker(organisation)
        rows |= {
            "triage": selectors.case_rows(sections["triage"], organisation),
            "mine": selectors.case_rows(sections["mine"], organisation),
            "overdue": [
                {"url": url(task.case.uuid), "reference": task.case.reference,
                 "title": task.title, "due": format_when(task.due)}
                for task in sections["overdue"]
            ],
            "unread": [
                {"url": url(case.uuid), "reference": case.reference}
                for case in sections["unread"]
            ],
        }  # fmt: skip
    context.update(form=form, page=page, query=query.urlencode(), filtered=filtered, rows=rows)
    return render(request, "support/queue.html", context)


# --- The case page: a summary header, sub-navigation, one page per section -------------
# Support's own sections, in page order; panels registered through support.extensions
# (takedowns, police) take their place among them by their `order`.
CASE_SECTIONS = [
    ("summary", "support:case-detail", gettext_lazy("Summary"), 10),
    ("evidence", "support:case-evidence", gettext_lazy("Evidence"), 20),
    ("messages", "support:case-messages", gettext_lazy("Messages"), 30),
    ("notes", "support:case-notes", gettext_lazy("Notes and tasks"), 50),
    ("referrals", "support:case-referrals", gettext_lazy("Referrals"), 60),
    ("timeline", "support:case-timeline", gettext_lazy("Timeline"), 90),
]


def _case_page(request, membership, case, section, template, extra, *, panels=None):
    """Render one section of the case page with the header and the sub-navigation."""
    if panels is None:
        panels = extensions.case_panel_tabs(request=request, membership=membership, case=case)
    args = {"org": membership.organisation.uuid, "case": case.uuid}
    tabs = [
        (order, slug, label, reverse(name, kwargs=args))
        for slug, name, label, order in CASE_SECTIONS
    ]
    tabs += [
        (panel.order, f"panel-{panel.slug}", panel.label,
         reverse("support:case-tab", kwargs={**args, "panel": panel.slug}))
        for panel in panels
    ]  # fmt: skip
    tabs.sort(key=lambda tab: tab[0])
    current = next(label for _order, slug, label, _url in tabs if slug == section)
    context = {
        "membership": membership,
        "organisation": membership.organisation,
        "case": case,
        # What this member may do here, from the permission table (e.g. `can.assign`).
        "can": {
            action.removeprefix("case."): may(membership, action, case=case)
            for action in ACTIONS
            if action.startswith("case.")
        },
        "tabs": [{"slug": slug, "label": label, "url": url} for _o, slug, label, url in tabs],
        "section": section,
        "section_label": current,
        "header": selectors.case_header(case, membership),
        **extra,
    }
    return render(request, template, context)


@login_required
def case_detail(request, org, case):
    """Summary: who, what, consents, and the triage actions (each opened on demand)."""
    membership, case = get_case_for_user(request.user, org, case)
    members = _members_with_case_access(membership.organisation)
    labels = list(case.labels.all())
    return _case_page(
        request,
        membership,
        case,
        "summary",
        "support/case.html",
        {
            "labels": labels,
            "consents": intake.current_consents(case),
            "consent_history": case.consents.all(),
            "status_form": StatusForm(initial={"status": case.status}),
            "allowed_statuses": TRANSITIONS.get(case.status, set()),
            "assign_form": AssignForm(
                members=members,
                initial={"assignee": case.assignee.uuid if case.assignee else ""},
            ),
            "priority_form": PriorityForm(initial={"priority": case.priority}),
            "labels_form": LabelsForm(
                initial={"labels": ", ".join(label.value for label in labels)}
            ),
            "incident_form": CaseIncidentForm(
                incidents=Incident.objects.filter(
                    organisation=membership.organisation, is_open=True
                ),
                initial={"incident": case.incident.uuid if case.incident else ""},
            ),
        },
    )


@login_required
def case_evidence(request, org, case):
    membership, case = get_case_for_user(request.user, org, case)
    return _case_page(
        request,
        membership,
        case,
        "evidence",
        "support/case_evidence.html",
        {
            "links": selectors.case_links(case, membership),
            "locations": case.locations.all(),
            "identifiers": case.identifiers.all(),
            "fingerprints": case.fingerprints.all(),
            "files": case.files.select_related("blob"),
        },
    )


@login_required
def case_messages(request, org, case):
    """The thread with the family; opening it marks their messages read."""
    membership, case = get_case_for_user(request.user, org, case)
    thread = list(case.messages.select_related("author__user"))
    casework.mark_messages_read(actor=membership, case=case)
    return _case_page(
        request,
        membership,
        case,
        "messages",
        "support/case_messages.html",
        {"messages_": thread, "reply_form": ReplyForm()},
    )


@login_required
def case_notes(request, org, case):
    membership, case = get_case_for_user(request.user, org, case)
    return _case_page(
        request,
        membership,
        case,
        "notes",
        "support/case_notes.html",
        {
            "notes": case.notes.select_related("author__user"),
            "tasks": case.tasks.all(),
            "note_form": NoteForm(),
            "task_form": TaskForm(),
        },
    )


@login_required
def case_referrals(request, org, case):
    membership, case = get_case_for_user(request.user, org, case)
    return _case_page(
        request,
        membership,
        case,
        "referrals",
        "support/case_referrals.html",
        {
            "referrals": case.referrals.select_related("by__user"),
            "referral_form": ReferralForm(initial={"on": timezone.localdate()}),
        },
    )


@login_required
def case_timeline(request, org, case):
    membership, case = get_case_for_user(request.user, org, case)
    return _case_page(
        request,
        membership,
        case,
        "timeline",
        "support/case_timeline.html",
        {"timeline": selectors.case_timeline(case)},
    )


@login_required
def case_tab(request, org, case, panel):
    """A panel another app registered (support.extensions), as its own page."""
    membership, case = get_case_for_user(request.user, org, case)
    panels = extensions.visible_case_panels(request=request, membership=membership, case=case)
    shown = next(((p, c) for p, c in panels if p.slug == panel), None)
    if shown is None:
        raise Http404
    return _case_page(
        request,
        membership,
        case,
        f"panel-{panel}",
        "support/case_tab.html",
        {"panel": shown[0], "panel_context": shown[1]},
        panels=[p for p, _context in panels],
    )


# --- Case actions: one view per action, each checked against the permission table ----


def _acting(request, org, case, action):
    """(membership, case) for a POSTed case action: another organisation's case is
    404, a case or action outside the member's role 403 (support.permissions)."""
    membership, case = get_case_for_user(request.user, org, case)
    require(membership, action, case=case)
    return membership, case


def _done(request, org, case, change, *, form=None, section="support:case-detail"):
    """Validate `form` (if any) and run `change(cleaned_data)`; on refused input say
    why and change nothing. Then back to the section the form was on."""
    if form is not None and not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, _("Nothing was changed: %(errors)s") % {"errors": errors})
    else:
        try:
            change(form.cleaned_data if form is not None else {})
        except events.ServiceError as exc:
            messages.error(request, service_message(exc.code))
        else:
            messages.success(request, _("Saved."))
    if Case.objects.filter(pk=case.pk, destroyed_at__isnull=False).exists():
        return redirect("support:org-home", org=org)
    return redirect(section, org=org, case=case.uuid)


@require_POST
@login_required
def case_status(request, org, case):
    membership, case = _acting(request, org, case, "case.status")
    return _done(
        request,
        org,
        case,
        lambda data: casework.change_status(
            actor=membership, case=case, status=data["status"], origin=origin(request)
        ),
        form=StatusForm(request.POST),
    )


@require_POST
@login_required
def case_priority(request, org, case):
    membership, case = _acting(request, org, case, "case.priority")
    return _done(
        request,
        org,
        case,
        lambda data: casework.set_priority(
            actor=membership, case=case, priority=data["priority"], origin=origin(request)
        ),
        form=PriorityForm(request.POST),
    )


@require_POST
@login_required
def case_labels(request, org, case):
    membership, case = _acting(request, org, case, "case.labels")
    return _done(
        request,
        org,
        case,
        lambda data: casework.set_labels(
            actor=membership, case=case, labels=data["labels"], origin=origin(request)
        ),
        form=LabelsForm(request.POST),
    )


@require_POST
@login_required
def case_take(request, org, case):
    """Take a case nobody has. Pressed by two members on the same new case, the second
    is told a colleague took it first, nothing changes, and they land where they may
    still look: the case for a coordinator, the queue for a caseworker."""
    membership, case = get_case_to_take(
        request.user, org, case, shown_as_nobodys=request.POST.get("shown") == "nobody"
    )
    try:
        casework.take_case(actor=membership, case=case, origin=origin(request))
    except events.ServiceError as exc:
        messages.error(request, service_message(exc.code))
    else:
        messages.success(request, _("Saved."))
    if not visible_cases(membership).filter(pk=case.pk).exists():
        return redirect("support:org-home", org=org)
    return redirect("support:case-detail", org=org, case=case.uuid)


@require_POST
@login_required
def case_assign(request, org, case):
    membership, case = _acting(request, org, case, "case.assign")
    members = _members_with_case_access(membership.organisation)

    def change(data):
        chosen = data["assignee"]
        assignee = members.filter(uuid=chosen).first() if chosen else None
        casework.assign_case(actor=membership, case=case, assignee=assignee, origin=origin(request))

    return _done(request, org, case, change, form=AssignForm(request.POST, members=members))


@require_POST
@login_required
def case_incident(request, org, case):
    membership, case = _acting(request, org, case, "case.incident")
    incidents = Incident.objects.filter(organisation=membership.organisation, is_open=True)

    def change(data):
        chosen = data["incident"]
        incident = incidents.filter(uuid=chosen).first() if chosen else None
        casework.set_case_incident(
            actor=membership, case=case, incident=incident, origin=origin(request)
        )

    return _done(
        request, org, case, change, form=CaseIncidentForm(request.POST, incidents=incidents)
    )


@require_POST
@login_required
def case_hold(request, org, case):
    membership, case = _acting(request, org, case, "case.hold")
    return _done(
        request,
        org,
        case,
        lambda data: casework.set_legal_hold(
            actor=membership, case=case, hold=data["hold"] == "on", origin=origin(request)
        ),
        form=HoldForm(request.POST),
    )


@require_POST
@login_required
def case_erasure(request, org, case):
    membership, case = _acting(request, org, case, "case.erasure")
    return _done(
        request,
        org,
        case,
        lambda data: casework.decide_erasure(
            actor=membership, case=case, approve=data["approve"] == "yes", origin=origin(request)
        ),
        form=ErasureForm(request.POST),
    )


@require_POST
@login_required
def case_reply(request, org, case):
    membership, case = _acting(request, org, case, "case.reply")
    return _done(
        request,
        org,
        case,
        lambda data: casework.reply_to_family(
            actor=membership, case=case, body=data["body"], origin=origin(request)
        ),
        form=ReplyForm(request.POST),
        section="support:case-messages",
    )


@require_POST
@login_required
def case_note(request, org, case):
    membership, case = _acting(request, org, case, "case.note")
    return _done(
        request,
        org,
        case,
        lambda data: casework.add_note(actor=membership, case=case, origin=origin(request), **data),
        form=NoteForm(request.POST),
        section="support:case-notes",
    )


@require_POST
@login_required
def case_task(request, org, case):
    membership, case = _acting(request, org, case, "case.task")
    return _done(
        request,
        org,
        case,
        lambda data: casework.add_task(actor=membership, case=case, origin=origin(request), **data),
        form=TaskForm(request.POST),
        section="support:case-notes",
    )


@require_POST
@login_required
def case_task_done(request, org, case, task):
    membership, case = _acting(request, org, case, "case.task_done")
    found = case.tasks.filter(uuid=task).first()
    if found is None:
        raise Http404
    return _done(
        request,
        org,
        case,
        lambda _data: casework.complete_task(actor=membership, task=found, origin=origin(request)),
        section="support:case-notes",
    )


@require_POST
@login_required
def case_referral(request, org, case):
    membership, case = _acting(request, org, case, "case.referral")
    return _done(
        request,
        org,
        case,
        lambda data: casework.log_referral(
            actor=membership, case=case, origin=origin(request), **data
        ),
        form=ReferralForm(request.POST),
        section="support:case-referrals",
    )


@login_required
def incidents(request, org):
    membership = get_membership_for_user(request.user, org, roles=roles_for("incident.view"))
    form = IncidentForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        require(membership, "incident.create")
        if form.is_valid():
            incident = casework.create_incident(
                actor=membership, title=form.cleaned_data["title"], origin=origin(request)
            )
            messages.success(request, _("Incident created."))
            return redirect("support:incident-detail", org=org, incident=incident.uuid)
    rows = Incident.objects.filter(organisation=membership.organisation).annotate(
        families=Count("cases")
    )
    return render(
        request,
        "support/incidents.html",
        {"membership": membership, "organisation": membership.organisation, "incidents": rows,
         "form": form},
    )  # fmt: skip


@login_required
def incident_detail(request, org, incident):
    membership, incident = get_incident_for_user(request.user, org, incident)
    link = absolute_url(reverse("reporting:incident", args=[incident.intake_code]))
    summary = selectors.incident_summary(incident, membership)
    return render(
        request,
        "support/incident.html",
        {
            "membership": membership,
            "organisation": membership.organisation,
            "incident": incident,
            "summary": summary,
            "rows": selectors.case_rows(summary["visible"], membership.organisation),
            "intake_link": link,
        },
    )


@login_required
def incident_qr(request, org, incident, fmt):
    if fmt not in {"png", "svg"}:
        raise Http404
    _membership, incident = get_incident_for_user(request.user, org, incident)
    link = absolute_url(reverse("reporting:incident", args=[incident.intake_code]))
    if fmt == "svg":
        image = qrcode.make(link, image_factory=qrcode.image.svg.SvgPathImage)
        content_type = "image/svg+xml"
    else:
        image = qrcode.make(link, box_size=10, border=4)
        content_type = "image/png"
    buffer = io.BytesIO()
    image.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="amparo-{incident.intake_code}.{fmt}"'
    return response


@login_required
def dashboard(request, org):
    membership = get_membership_for_user(request.user, org, roles=roles_for("dashboard.view"))
    return render(
        request,
        "support/dashboard.html",
        {
            "membership": membership,
            "organisation": membership.organisation,
            "stats": selectors.dashboard(membership),
            "figures": extensions.dashboard_figures(membership=membership),
        },
    )


@login_required
def retention_settings(request, org):
    membership = get_membership_for_user(request.user, org, roles=roles_for("retention.set"))
    form = RetentionForm(
        request.POST if request.method == "POST" else None,
        initial={"retention_days": membership.organisation.retention_days},
    )
    if request.method == "POST" and form.is_valid():
        casework.set_retention(
            actor=membership, days=form.cleaned_data["retention_days"], origin=origin(request)
        )
        messages.success(request, _("Retention period saved."))
        return redirect("support:retention", org=org)
    return render(
        request,
        "support/retention.html",
        {"membership": membership, "organisation": membership.organisation, "form": form},
    )


# --- Evidence files (blurred by default) ------------------------------------------------
REVEAL_SECONDS = 10 * 60

# Why the worker made no preview of a file (vault.images.REJECTION_CODES), for staff.
REJECTION_WORDS = {
    "not-an-image": gettext_lazy("Not an image (a document or text): there is no preview."),
    "format-not-allowed": gettext_lazy("An image format that is not opened here: no preview."),
    "too-many-pixels": gettext_lazy("Too many pixels to open safely: no preview."),
    "corrupt": gettext_lazy("Damaged or incomplete: it could not be opened, no preview."),
    "too-large-file": gettext_lazy("Too large to open as an image: no preview."),
}


# What vault.images.metadata_summary reports, in words (every key it returns is here:
# tests/support/test_evidence_reasons.py checks, so no raw key reaches a page).
METADATA_WORDS = {
    "format": gettext_lazy("Format"),
    "width": gettext_lazy("Width (pixels)"),
    "height": gettext_lazy("Height (pixels)"),
    "make": gettext_lazy("Camera make"),
    "model": gettext_lazy("Camera model"),
    "datetime_original": gettext_lazy("Date taken"),
    "datetime": gettext_lazy("Date modified"),
    "software": gettext_lazy("Software"),
    "orientation": gettext_lazy("Orientation (EXIF value)"),
    "exif_present": gettext_lazy("EXIF data"),
    "gps_present": gettext_lazy("GPS location"),
    "xmp_present": gettext_lazy("XMP data"),
    "iptc_present": gettext_lazy("IPTC data"),
    "icc_present": gettext_lazy("Colour profile (ICC)"),
    "comment_present": gettext_lazy("Comment in the file"),
}


def metadata_words(summary: dict) -> list[tuple[str, object]]:
    """(label, value) rows for the file page: known keys only, Yes/No for flags."""
    rows = []
    for key, label in METADATA_WORDS.items():
        value = summary.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, bool):
            value = _("Yes") if value else _("No")
        rows.append((str(label), value))
    return rows


def _case_file(request, org, case, file):
    membership, case = get_case_for_user(request.user, org, case)
    context_file = case.files.select_related("blob").filter(uuid=file).first()
    if context_file is None:
        raise Http404
    return membership, case, context_file


def _derivative(context_file, kind):
    derivative = context_file.blob.derivatives.filter(kind=kind, state="stored").first()
    if derivative is None:
        raise Http404
    return derivative


@login_required
def file_blurred(request, org, case, file):
    """The strongly blurred derivative: what staff see unless they choose otherwise."""
    membership, case, context_file = _case_file(request, org, case, file)
    return blob_response(
        _derivative(context_file, "blurred"),
        actor=events.staff_actor(membership, origin(request)),
        organisation_id=membership.organisation.uuid,
    )


def _file_page(request, membership, case, context_file, *, form=None, download_form=None):
    rejection = context_file.blob.image_rejection
    revealed_at = request.session.get("revealed", {}).get(str(context_file.uuid), 0)
    shown = time.time() - revealed_at < REVEAL_SECONDS and not rejection
    can_download = may(membership, "file.download", case=case)
    return render(
        request,
        "support/file_reveal.html",
        {
            "membership": membership,
            "organisation": membership.organisation,
            "case": case,
            "file": context_file,
            "form": form or RevealForm(),
            "download_form": (download_form or DownloadForm()) if can_download else None,
            "shown": shown,
            "rejection": REJECTION_WORDS.get(rejection, REJECTION_WORDS["corrupt"])
            if rejection
            else "",
            "metadata": metadata_words(context_file.blob.metadata()) if shown else [],
            "can_download": can_download,
        },
    )


@login_required
def file_reveal(request, org, case, file):
    """A deliberate, audited step: the reason is recorded before anything is shown."""
    membership, case, context_file = _case_file(request, org, case, file)
    form = RevealForm(request.POST if request.method == "POST" else None)
    # Nothing to reveal when the worker made no preview: no form, nothing recorded.
    if request.method == "POST" and not context_file.blob.image_rejection and form.is_valid():
        casework.record_reveal(
            actor=membership,
            case=case,
            context_file=context_file,
            reason=form.cleaned_data["reason"],
            origin=origin(request),
        )
        revealed = request.session.get("revealed", {})
        revealed[str(context_file.uuid)] = time.time()
        request.session["revealed"] = revealed
        return redirect("support:file-reveal", org=org, case=case.uuid, file=context_file.uuid)
    return _file_page(request, membership, case, context_file, form=form)


@login_required
def file_preview(request, org, case, file):
    """The metadata-free full preview, only within minutes of an audited reveal."""
    membership, case, context_file = _case_file(request, org, case, file)
    revealed_at = request.session.get("revealed", {}).get(str(context_file.uuid), 0)
    if time.time() - revealed_at >= REVEAL_SECONDS:
        raise PermissionDenied
    return blob_response(
        _derivative(context_file, "preview"),
        actor=events.staff_actor(membership, origin(request)),
        purpose="reveal",
        organisation_id=membership.organisation.uuid,
    )


@login_required
def file_download(request, org, case, file):
    """The original, always as an attachment, for coordinators only, after they say why.

    A GET (or a POST without a reason) shows the file page with the question; the
    reason goes on the case's timeline before the first byte is sent.
    """
    membership, case, context_file = _case_file(request, org, case, file)
    require(membership, "file.download", case=case)
    form = DownloadForm(request.POST if request.method == "POST" else None)
    if request.method != "POST" or not form.is_valid():
        return _file_page(request, membership, case, context_file, download_form=form)
    casework.record_download(
        actor=membership,
        case=case,
        context_file=context_file,
        reason=form.cleaned_data["reason"],
        origin=origin(request),
    )
    return blob_response(
        context_file.blob,
        actor=events.staff_actor(membership, origin(request)),
        organisation_id=membership.organisation.uuid,
    )
