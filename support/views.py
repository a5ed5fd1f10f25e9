from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from . import services
from .forms import AcceptInvitationForm, InviteForm, RoleForm
from .http import origin
from .models import Invitation, Membership
from .permissions import (
    MANAGE_MEMBERS,
    get_invitation_for_admin,
    get_member_for_admin,
    get_membership_for_user,
)

SERVICE_MESSAGES = {
    "already-member": gettext_lazy("That person is already a member of this organisation."),
    "last-admin": gettext_lazy("An organisation needs at least one active administrator."),
    "invitation-invalid": gettext_lazy("This invitation is no longer valid. Ask for a new one."),
    "account-exists": gettext_lazy(
        "An account with this email exists: sign in first, then open the link."
    ),
    "wrong-account": gettext_lazy("This invitation was sent to another email address."),
    "bad-role": gettext_lazy("Choose a role from the list."),
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
def org_home(request, org):
    membership = get_membership_for_user(request.user, org)
    return render(
        request,
        "support/org_home.html",
        {"membership": membership, "organisation": membership.organisation},
    )


@login_required
def members(request, org):
    acting = get_membership_for_user(request.user, org, roles=MANAGE_MEMBERS)
    form = InviteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.invite_member(
                acting=acting,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                origin=origin(request),
            )
        except services.ServiceError as exc:
            form.add_error("email", service_message(exc.code))
        else:
            messages.success(request, _("Invitation sent."))
            return redirect("support:members", org=org)
    people = (
        Membership.objects.filter(organisation=acting.organisation)
        .select_related("user")
        .order_by("-is_active", "user__email")
    )
    pending = Invitation.objects.filter(
        organisation=acting.organisation, accepted_at=None, revoked_at=None
    ).order_by("-created_at")
    return render(
        request,
        "support/members.html",
        {
            "membership": acting,
            "organisation": acting.organisation,
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
    acting, target = get_member_for_admin(request.user, org, member)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, service_message("bad-role"))
    else:
        try:
            services.change_role(
                acting=acting, target=target, role=form.cleaned_data["role"], origin=origin(request)
            )
        except services.ServiceError as exc:
            messages.error(request, service_message(exc.code))
        else:
            messages.success(request, _("Role changed."))
    return redirect("support:members", org=org)


@require_POST
@login_required
@reauthentication_required
def member_deactivate(request, org, member):
    acting, target = get_member_for_admin(request.user, org, member)
    try:
        services.deactivate_member(acting=acting, target=target, origin=origin(request))
    except services.ServiceError as exc:
        messages.error(request, service_message(exc.code))
    else:
        messages.success(request, _("Member deactivated."))
    return redirect("support:members", org=org)


@require_POST
@login_required
def invitation_revoke(request, org, invitation):
    acting, inv = get_invitation_for_admin(request.user, org, invitation)
    try:
        services.revoke_invitation(acting=acting, invitation=inv, origin=origin(request))
    except services.ServiceError as exc:
        messages.error(request, service_message(exc.code))
    else:
        messages.success(request, _("Invitation withdrawn."))
    return redirect("support:members", org=org)


@sensitive_post_parameters("password1", "password2")
def invitation_accept(request, token):
    invitation = services.find_invitation(token)
    if invitation is None:
        return render(request, "support/invitation_invalid.html", status=404)
    user = request.user if request.user.is_authenticated else None
    form = AcceptInvitationForm(
        request.POST if request.method == "POST" else None, email=invitation.email
    )
    if request.method == "POST" and (user is not None or form.is_valid()):
        try:
            membership = services.accept_invitation(
                invitation=invitation,
                user=user,
                password=form.cleaned_data.get("password1", "") if user is None else "",
                origin=origin(request),
            )
        except services.ServiceError as exc:
            messages.error(request, service_message(exc.code))
            return redirect("account_login")
        if user is None:
            login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, _("Welcome. Now set up two-factor authentication."))
        return redirect("support:home")
    return render(
        request,
        "support/invitation_accept.html",
        {"invitation": invitation, "form": form, "signed_in": user is not None},
    )
