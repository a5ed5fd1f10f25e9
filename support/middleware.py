from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from .sessions import idle_expired

# Paths that are staff-only: everything under them needs an enrolled second factor.
STAFF_PREFIXES = ("/staff/", "/admin/", "/dev/")
# Where a staff member without MFA may still go: enrolment itself, sign-out, language.
MFA_EXEMPT_PREFIXES = ("/accounts/", "/i18n/")


class StaffSessionMiddleware:
    """Idle timeout for signed-in staff, and MFA before any staff page.

    Threat: a stolen password alone opens case files; an unattended laptop stays
    signed in. Choice: every staff path redirects to TOTP enrolment until the
    account has an authenticator (allauth then demands the second factor at every
    sign-in), and a session idle for STAFF_IDLE_TIMEOUT seconds is ended.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated:
            # Rewrite at most once a minute: the session row is not saved on every request.
            if idle_expired(
                request.session,
                "last_activity",
                timeout=settings.STAFF_IDLE_TIMEOUT,
                touch_every=60,
            ):
                logout(request)
                messages.info(request, _("You were signed out after a period of inactivity."))
                return redirect(settings.LOGIN_URL)
            path = request.path_info
            if (
                path.startswith(STAFF_PREFIXES)
                and not path.startswith(MFA_EXEMPT_PREFIXES)
                and not Authenticator.objects.filter(user=user).exists()
            ):
                messages.warning(
                    request,
                    _("Set up two-factor authentication before using Amparo's staff pages."),
                )
                return redirect("mfa_activate_totp")
        return self.get_response(request)
