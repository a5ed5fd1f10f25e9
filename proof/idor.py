"""IDOR matrix generated from the URL configuration (SECURITY.md promise 1).

Threat: a signed-in person (or nobody) reaches an object they should not — another
organisation's case, a colleague's case, a case never referred to their police
unit, another family's case — by changing an id in a URL or posting a form.

Every route `get_resolver()` knows is requested by every actor, with GET and with
a POST carrying a valid CSRF token, its URL filled with the real objects of org X
and family A (proof.world). EXPECTATIONS below says, per route, which actors may
succeed; a route with no entry fails the suite, so a route added later must be
given one. A success is a 2xx, or a 3xx that does not lead to a sign-in,
second-factor or re-authentication page; for an actor not listed that is an
unauthorised success. A body containing case A's reference counts too, whatever
the status (a family's page must never show another family's case). Any 5xx
fails the suite.

Every request runs inside a transaction that is rolled back, and each client's
cookies are restored after it, so a POST that would change the world (withdraw a
referral, deactivate a member, sign a family out) cannot spoil the requests after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import transaction

from proof import count, figure, zero

SUITE = "IDOR matrix"

ANON = "anonymous"
FAMILY_A, FAMILY_B = "family_a", "family_b"
COORD_X, COORD_Y = "coordinator_x", "coordinator_y"
CW_ASSIGNED, CW_UNASSIGNED = "caseworker_assigned", "caseworker_unassigned"
LIAISON_REFERRED, LIAISON_OTHER = "liaison_referred", "liaison_other_unit"
ADMIN_X, NO_MFA = "org_admin_x", "staff_without_mfa"
ACTORS = (
    ANON, FAMILY_A, FAMILY_B, COORD_X, COORD_Y, CW_ASSIGNED, CW_UNASSIGNED,
    LIAISON_REFERRED, LIAISON_OTHER, ADMIN_X, NO_MFA,
)  # fmt: skip

EVERYONE = frozenset(ACTORS)
NOBODY: frozenset[str] = frozenset()
FAMILIES = frozenset({FAMILY_A, FAMILY_B})  # each sees only their own case (session)
STAFF = frozenset({COORD_X, COORD_Y, CW_ASSIGNED, CW_UNASSIGNED, LIAISON_REFERRED})
STAFF |= {LIAISON_OTHER, ADMIN_X}
ORG_X = frozenset({COORD_X, CW_ASSIGNED, CW_UNASSIGNED, LIAISON_REFERRED, LIAISON_OTHER, ADMIN_X})
CASE_A = frozenset({COORD_X, CW_ASSIGNED})  # coordinators, and the caseworker on the case
CASE_ROLES_X = frozenset({COORD_X, CW_ASSIGNED, CW_UNASSIGNED})  # lists, incidents
COORDINATOR = frozenset({COORD_X})
ADMIN = frozenset({ADMIN_X})
LIAISONS_X = frozenset({LIAISON_REFERRED, LIAISON_OTHER})  # each sees their unit's list
REFERRED_UNIT = frozenset({LIAISON_REFERRED})
# Who may ever receive case A's reference, on any page.
SEES_CASE_A = CASE_A | {FAMILY_A, LIAISON_REFERRED}


@dataclass(frozen=True)
class Expect:
    """Who may succeed with GET and with POST (same set for both unless `post` is given)."""

    get: frozenset[str]
    post: frozenset[str] | None = None

    def allowed(self, method: str) -> frozenset[str]:
        return self.get if method == "GET" or self.post is None else self.post


# Route name (namespaced) -> who may succeed. Public pages are everyone's; a family
# page names no case in its URL (the session holds the family's own case).
EXPECTATIONS: dict[str, Expect] = {
    "healthz": Expect(EVERYONE),
    # reporting: the public wizard and the family's own case
    "reporting:start": Expect(EVERYONE),
    "reporting:staying-safe": Expect(EVERYONE),
    "reporting:help": Expect(EVERYONE),
    "reporting:quick-exit": Expect(EVERYONE),
    "reporting:report": Expect(EVERYONE),
    "reporting:choose-group": Expect(EVERYONE),
    "reporting:check": Expect(EVERYONE),
    "reporting:draft-upload": Expect(EVERYONE),
    "reporting:step": Expect(EVERYONE),
    "reporting:incident": Expect(EVERYONE),  # the intake code is printed on posters
    "reporting:receipt": Expect(EVERYONE),
    "reporting:receipt-download": Expect(EVERYONE),
    "reporting:receipt-done": Expect(EVERYONE),
    "reporting:family-signin": Expect(EVERYONE),
    "reporting:status": Expect(FAMILIES),
    "reporting:family-upload": Expect(FAMILIES),
    "reporting:permission": Expect(FAMILIES),
    "reporting:erasure": Expect(FAMILIES),
    "reporting:family-signout": Expect(EVERYONE),  # signing out needs no case
    # support: staff pages
    "support:home": Expect(STAFF),  # lists the member's own organisations only
    "support:org-home": Expect(ORG_X),
    "support:members": Expect(ADMIN),
    "support:member-role": Expect(ADMIN),
    "support:member-deactivate": Expect(ADMIN),
    "support:invitation-revoke": Expect(ADMIN),
    "support:invitation-accept": Expect(EVERYONE),  # the emailed token is the credential
    "support:case-detail": Expect(CASE_A),
    "support:file-blurred": Expect(CASE_A),
    "support:file-reveal": Expect(CASE_A),
    "support:file-preview": Expect(CASE_A),
    "support:file-download": Expect(COORDINATOR),  # the original: coordinators only
    # the case page's sections, and one POST view per case action (support.permissions
    # ACTIONS: case work for coordinators and the case's caseworker; assigning, incidents,
    # legal hold and erasure for coordinators only)
    **{
        f"support:case-{section}": Expect(CASE_A)
        for section in ("evidence", "messages", "notes", "referrals", "timeline", "tab")
    },
    **{
        f"support:case-{action}": Expect(CASE_A)
        for action in (
            "status",
            "priority",
            "labels",
            "take",
            "note",
            "reply",
            "task",
            "task-done",
            "referral",
        )
    },
    **{
        f"support:case-{action}": Expect(COORDINATOR)
        for action in ("assign", "incident", "hold", "erasure")
    },
    "support:incidents": Expect(CASE_ROLES_X),
    "support:incident-detail": Expect(CASE_ROLES_X),
    "support:incident-qr": Expect(CASE_ROLES_X),
    "support:dashboard": Expect(COORDINATOR),
    "support:retention": Expect(ADMIN),
    # takedowns under a case (support.extensions) and the group's takedown pages
    "support:takedowns_case:facts": Expect(CASE_A),
    "support:takedowns_case:prepare": Expect(CASE_A),
    "support:takedowns_case:prepare-all": Expect(CASE_A),
    "support:takedowns_case:notice": Expect(CASE_A),
    "support:takedowns_case:send": Expect(CASE_A),
    "support:takedowns_case:submitted": Expect(CASE_A),
    "support:takedowns_case:reply": Expect(CASE_A),
    "support:takedowns_case:state": Expect(CASE_A),
    "support:takedowns_case:family": Expect(CASE_A),
    "takedowns:settings": Expect(COORDINATOR),
    "takedowns:hash-lists": Expect(COORDINATOR),
    "takedowns:metrics": Expect(COORDINATOR),
    "takedowns:transparency": Expect(COORDINATOR),
    "takedowns:recheck-settings": Expect(ADMIN),
    "takedowns:overdue": Expect(CASE_ROLES_X),  # a caseworker sees their own cases' notices
    "takedowns:escalate": Expect(CASE_A),
    # police: referrals from the case page, and the liaison's side
    "support:police-case:refer": Expect(COORDINATOR),
    "support:police-case:withdraw": Expect(COORDINATOR),
    "police:cases": Expect(LIAISONS_X),
    "police:case": Expect(REFERRED_UNIT),
    "police:exhibits": Expect(REFERRED_UNIT),
    "police:custody": Expect(REFERRED_UNIT),
    "police:export": Expect(REFERRED_UNIT),
    "police:export-progress": Expect(REFERRED_UNIT),
    "police:export-download": Expect(REFERRED_UNIT),
    "police:units": Expect(COORDINATOR),
    "police:unit-assign": Expect(COORDINATOR),
}

# Django's admin: nobody here is a superuser or `is_staff`, so every admin route is
# closed to every actor (the admin signs in through allauth: secure_admin_login).
ADMIN_PREFIX = "admin/"
# Routes left out of the matrix, each with why (an explicit, reviewed list).
EXCLUDED_PREFIXES = {
    "accounts/": "allauth's own sign-in, MFA and password pages: they name no object of "
    "ours; tests/support covers sign-in, MFA enrolment, replay and re-authentication",
    "i18n/": "Django's language switch: sets a cookie, names no object",
    "dev/": "development mail viewer, mounted only with DEBUG on",
}
# Routes where even an allowed actor gets no success from this matrix's requests (a
# GET, or a POST with only a CSRF token): left out of the "not vacuous" figure only.
NOT_REACHED_BY_AN_EMPTY_FORM = {
    "reporting:receipt": "shown once, right after a report is sent, from that session",
    "reporting:receipt-download": "the same receipt, from the same session",
    "reporting:family-upload": "needs a file in the body",
    "support:file-blurred": "needs the worker's derivative of an image",
    "support:file-preview": "needs the worker's derivative of an image",
    "police:export-download": "needs the one-time token from the started-export page",
}
# Where a refusal sends people: a redirect there is not a success.
REFUSAL_PAGES = (
    "/accounts/login/",
    "/admin/login/",  # which hands over to allauth's sign-in
    "/accounts/2fa/",
    "/accounts/reauthenticate/",
    "/case/",  # the family sign-in page
)


@dataclass(frozen=True)
class Route:
    template: str  # "staff/o/<uuid:org>/cases/<uuid:case>/"
    name: str  # "support:case-detail"


def routes() -> list[Route]:
    """Every route of the URL configuration (outside EXCLUDED_PREFIXES), with its name."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found = []

    def walk(patterns, prefix, namespaces):
        for p in patterns:
            if isinstance(p, URLResolver):
                space = [*namespaces, p.namespace] if p.namespace else namespaces
                walk(p.url_patterns, prefix + str(p.pattern), space)
            elif isinstance(p, URLPattern):
                name = ":".join([*namespaces, p.name]) if p.name else ""
                found.append(Route(prefix + str(p.pattern), name))

    walk(get_resolver().url_patterns, "", [])
    return [r for r in found if not r.template.startswith(tuple(EXCLUDED_PREFIXES))]


def expectation(route: Route) -> Expect | None:
    if route.template.startswith(ADMIN_PREFIX):
        return Expect(NOBODY)
    return EXPECTATIONS.get(route.name)


def fill(template: str, kwargs: dict[str, str]) -> str:
    """The route's URL with org X's / case A's objects; an unknown kwarg is an error."""
    template = template.lstrip("^").rstrip("$").replace("\\Z", "")

    def value(match):
        return kwargs[match.group(1)]

    path = re.sub(r"<(?:\w+:)?(\w+)>", value, template)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", value, path)  # the admin's regex routes
    return "/" + path


def admin_kwargs(world) -> dict[str, str]:
    """Values for the admin's own kwargs: a real case's primary key, a real app label."""
    # (Another admin kwarg raises KeyError in fill(), so a new one must be added here.)
    pk = str(world.members[COORD_X].user.pk)
    return {"object_id": pk, "id": pk, "app_label": "auth", "content_type_id": "1", "url": "x/"}


def _clients(world) -> dict[str, object]:
    from django.test import Client

    from proof import world as world_module

    for member in world.members.values():
        # Before signing in: a new password changes the session's auth hash.
        member.user.set_password(world_module.PASSWORD)
        member.user.save(update_fields=["password"])
    clients = {}
    for actor in ACTORS:
        client = Client(raise_request_exception=False, enforce_csrf_checks=True)
        if actor in world.members:
            user = world.members[actor].user
            client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        clients[actor] = client
    for actor in world.members:
        if actor == NO_MFA:
            continue
        # A fresh re-authentication, as a member would have just before a sensitive
        # action (exports, role changes): without it those routes refuse everyone.
        response = _post(clients[actor], "/accounts/reauthenticate/",
                         {"password": world_module.PASSWORD})  # fmt: skip
        assert response.status_code == 302, f"{actor} could not re-authenticate"
    for actor, case, code in ((FAMILY_A, world.case_a, world.code_a),
                              (FAMILY_B, world.case_b, world.code_b)):  # fmt: skip
        client = clients[actor]
        response = _post(client, "/case/", {"reference": case.reference, "code": code})
        assert response.status_code == 302 and response.url == "/case/status/", (
            f"{actor} could not sign in: {response.status_code}"
        )
    return clients


def _csrf(client) -> str:
    """A valid CSRF token for this client, as a browser would hold it (cookie + field)."""
    from django.conf import settings
    from django.middleware.csrf import _get_new_csrf_string, _mask_cipher_secret

    name = settings.CSRF_COOKIE_NAME
    if name not in client.cookies:
        client.cookies[name] = _get_new_csrf_string()
    return _mask_cipher_secret(client.cookies[name].value)


def _post(client, url, data=None):
    token = _csrf(client)
    return client.post(url, {"csrfmiddlewaretoken": token, **(data or {})})


def _request(client, method: str, url: str):
    """One request, rolled back; (status, redirects followed, body); cookies restored."""
    from http.cookies import SimpleCookie

    saved = {key: morsel.value for key, morsel in client.cookies.items()}

    class Rollback(Exception):
        pass

    result = None
    try:
        with transaction.atomic():
            response = client.get(url) if method == "GET" else _post(client, url)
            if getattr(response, "streaming", False):
                body = b"".join(response.streaming_content)
            else:
                body = response.content
            # (The test client has already closed the response, with the signal that
            # would close the database connection disconnected; closing it again here
            # would close the connection.)
            status, chain = response.status_code, []
            # A redirect to a page that itself sends to sign-in (the admin's logout to
            # its index, to its login) is a refusal: follow local redirects to see.
            location = response.get("Location", "") if 300 <= status < 400 else ""
            while location.startswith("/") and len(chain) < 5:
                chain.append(location)
                hop = client.get(location)
                location = hop.get("Location", "") if 300 <= hop.status_code < 400 else ""
            result = (status, chain, body)
            raise Rollback
    except Rollback:
        pass
    client.cookies = SimpleCookie()
    for key, value in saved.items():
        client.cookies[key] = value
    return result


def succeeded(status: int, chain: list[str]) -> bool:
    """2xx; or 3xx unless the redirects lead to a sign-in, 2FA or re-authentication page."""
    if 200 <= status < 300:
        return True
    if 300 <= status < 400:
        paths = [hop.split("?", 1)[0] for hop in chain]
        return not any(path.startswith(REFUSAL_PAGES) for path in paths)
    return False


def run(*, short: bool = False) -> list[dict]:
    from django.core.cache import cache

    from proof import world as world_module

    world = world_module.build()
    all_routes = routes()
    missing = sorted(r.template + f" ({r.name or 'unnamed'})" for r in all_routes
                     if expectation(r) is None)  # fmt: skip
    checked = [r for r in all_routes if expectation(r) is not None]
    if short:
        # The test version: every route of ours, and the admin's index for the admin.
        checked = [r for r in checked if not r.template.startswith(ADMIN_PREFIX)
                   or r.template == ADMIN_PREFIX]  # fmt: skip
    kwargs = {**world.kwargs, **admin_kwargs(world)}
    clients = _clients(world)
    made = unauthorised = errors = 0
    reached = set()
    failures: list[str] = []
    for route in checked:
        url = fill(route.template, kwargs)
        expect = expectation(route)
        for method in ("GET", "POST"):
            allowed = expect.allowed(method)
            actors = ACTORS
            if short:
                # The test version: every actor who must be refused, and one who may not.
                first = [a for a in ACTORS if a in allowed][:1]
                actors = [a for a in ACTORS if a not in allowed or a in first]
            for actor in actors:
                cache.clear()  # rate limits must not turn a would-be success into a refusal
                status, chain, body = _request(clients[actor], method, url)
                made += 1
                leaked = any(s.encode() in body for s in world.secrets)
                ok = succeeded(status, chain)
                if status >= 500:
                    errors += 1
                    failures.append(f"{status} {method} {url} as {actor}")
                if (actor not in allowed and ok) or (leaked and actor not in SEES_CASE_A):
                    unauthorised += 1
                    failures.append(f"unauthorised {status} {method} {url} as {actor} -> {chain}")
                if ok and actor in allowed:
                    reached.add(route.name)
    rows = [
        count(SUITE, f"routes checked ({len(ACTORS)} actors x GET/POST)", len(checked)),
        zero(SUITE, "routes without an expectation", len(missing)),
        count(SUITE, "requests made", made, len(checked) * 2),
        zero(SUITE, "unauthorised successes", unauthorised),
        zero(SUITE, "server errors (5xx)", errors),
    ]
    ours = {r.name for r in checked if not r.template.startswith(ADMIN_PREFIX)}
    ours -= set(NOT_REACHED_BY_AN_EMPTY_FORM)
    unreached = sorted(ours - reached)
    rows.append(
        figure(
            SUITE,
            "routes of ours that an allowed actor got through (the matrix is not vacuous)",
            f"{len(ours) - len(unreached)}/{len(ours)}",
            "all",
            not unreached,
        )
    )
    rows[1]["details"] = missing
    rows[3]["details"] = rows[4]["details"] = failures
    rows[5]["details"] = unreached
    return rows
