import time

from allauth.mfa.models import Authenticator
from allauth.usersessions import app_settings as usersessions_settings
from allauth.usersessions.models import UserSession
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


# How often a signed-in session's "last seen" (time and IP address) is recorded.
USERSESSION_TOUCH_EVERY = 5 * 60


class UserSessionsMiddleware:
    """allauth's session list, with "last seen" recorded at most every few minutes.

    allauth's own middleware (USERSESSIONS_TRACK_ACTIVITY) runs a transaction with
    a SELECT, an UPDATE and a COMMIT on every request of a signed-in user, the
    largest fixed cost of a staff page. The list of sessions and "sign out other
    sessions" do not need that: the row is created at sign-in (allauth's
    user_logged_in receiver), and here it is refreshed when USERSESSION_TOUCH_EVERY
    seconds have passed or the IP address or browser changed, so "last seen" is at
    most that stale. The time of the last refresh lives in the session, which
    StaffSessionMiddleware rewrites about once a minute anyway.
    """

    session_key = "_usersession_seen"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            usersessions_settings.TRACK_ACTIVITY
            and hasattr(request, "session")
            and request.session.session_key
            and request.user.is_authenticated
        ):
            self.touch(request)
        return self.get_response(request)

    def touch(self, request):
        from allauth.account.adapter import get_adapter

        now = time.time()
        ip = get_adapter().get_client_ip(request)
        agent = request.META.get("HTTP_USER_AGENT", "")[
            : UserSession._meta.get_field("user_agent").max_length
        ]
        # The session and client as last recorded: a change (a new network, another browser
        # with the same cookie) is recorded at once, as allauth does, so its
        # session_client_changed signal still fires.
        client = [request.session.session_key, ip, agent]
        seen = request.session.get(self.session_key)
        if (
            isinstance(seen, list)
            and len(seen) == 4
            and seen[1:] == client
            and 0 <= now - seen[0] < USERSESSION_TOUCH_EVERY
        ):
            return
        UserSession.objects.create_from_request(request)
        request.session[self.session_key] = [now, *client]
