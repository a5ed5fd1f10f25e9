"""Status-only re-checks of reported URLs: is the content still up?

Threat: a re-check is the one place where the server itself fetches a URL that a
family, a caseworker or — through a redirect — a stranger chose. Fetching it
naively is server-side request forgery: `http://169.254.169.254/` (cloud
metadata), `http://127.0.0.1:6379/` (our Redis), `http://2130706433/` or
`http://[::ffff:127.0.0.1]/` (the same loopback spelled otherwise), a public name
that resolves to 10.0.0.5, or a public page that redirects to any of these. A
second threat is DNS rebinding: a name that answers a public address to the check
and a private one to the connection that follows. A third is the content itself:
the page holds an abusive image of a child, which we must never download or keep.

Choice:
- every host is resolved once, each resolved address is checked against an
  address policy (default: globally routable unicast only, with IPv4 embedded in
  IPv6 — mapped, NAT64, 6to4, Teredo — unwrapped and checked too), and the socket
  connects to exactly that checked address: there is no second resolution for an
  attacker's DNS to answer differently. TLS still verifies the certificate for the
  name, and the Host header carries the name;
- redirects are followed by hand, at most `MAX_REDIRECTS`, each new location going
  through the same resolution and check; only http and https, no user names;
- `HEAD` first; `GET` (with `Range: bytes=0-0`) only if the server refuses HEAD,
  and then only the status line and headers are read — the body is never read,
  the connection is closed instead;
- time is bounded per socket operation and for the whole check (a watchdog shuts
  the socket when the overall budget is spent, so a server trickling headers one
  byte at a time cannot hold a worker);
- nothing of the response is stored or logged: the caller gets an outcome and a
  status code. Proxies from the environment are ignored (http.client never reads
  them), so the check cannot be routed around the policy.

The policy and the resolver are parameters so tests, which can only run servers
on loopback, can exercise a successful check; the default policy refuses loopback.
"""

from __future__ import annotations

import contextlib
import enum
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit

from django.db import transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from support import outbox
from vault import audit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]
Resolver = Callable[[str, int], list[IPAddress]]

MAX_REDIRECTS = 3
SOCKET_TIMEOUT = 5.0  # seconds per connect / read
TOTAL_TIMEOUT = 10.0  # seconds for the whole check, redirects included
USER_AGENT = "Amparo-status-check/1 (status only; no content is kept)"
PORTS = {"http": 80, "https": 443}
REDIRECTS = {301, 302, 303, 307, 308}
GONE = {404, 410}
# Servers that refuse HEAD say so with these; then a GET whose body is never read.
HEAD_REFUSED = {405, 501}

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (RFC 6052 NAT64).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class Outcome(enum.StrEnum):
    UP = "up"  # the server answered with something other than 404/410
    GONE = "gone"  # 404 or 410: possibly removed, for a caseworker to confirm
    REFUSED = "refused"  # an address the policy forbids: nothing was sent to it
    FAILED = "failed"  # bad URL, DNS failure, connection error, timeout, redirect loop


@dataclass(frozen=True)
class CheckResult:
    outcome: Outcome
    status: int | None = None
    # A short code for the record and the logs ("not-public-address", "timeout"…);
    # never any part of the response.
    reason: str = ""
    redirects: int = 0


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    if any(ip in network for network in _NAT64):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def public_address(ip: IPAddress) -> bool:
    """The default policy: True only for a globally routable unicast address.

    Refuses private, loopback, link-local (169.254/16: cloud metadata), carrier-grade
    NAT, reserved, multicast, broadcast and unspecified addresses, and any IPv6
    address whose embedded IPv4 address is one of those.
    """
    if ip.version == 6:
        embedded = _embedded_ipv4(ip)
        if embedded:
            return all(public_address(inner) for inner in embedded)
        if ip.scope_id:
            return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host` (IP literals in any
    spelling libc accepts — `2130706433`, `0177.0.0.1` — come back as addresses)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


class _Refused(Exception):
    pass


class _Failed(Exception):
    pass


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # ASCII (IDNA) host name or IP literal, without brackets
    port: int
    path: str  # path and query, never the fragment


def _parse(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _Failed("bad-url") from None
    scheme = parts.scheme.lower()
    if scheme not in PORTS:
        raise _Refused("scheme-not-allowed")
    if parts.username is not None or parts.password is not None:
        raise _Refused("credentials-in-url")
    host = (parts.hostname or "").rstrip(".")
    if not host or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise _Failed("bad-url")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise _Failed("bad-url") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Target(scheme, host, port or PORTS[scheme], path)


def _checked_address(target: _Target, allow: AddressPolicy, resolve: Resolver) -> IPAddress:
    """Resolve once; refuse if ANY answer is forbidden (a name that mixes public and
    private answers is not trusted); return the address to connect to."""
    try:
        addresses = resolve(target.host, target.port)
    except (OSError, UnicodeError, ValueError):
        raise _Failed("dns-failure") from None
    if not addresses:
        raise _Failed("dns-failure")
    if not all(allow(address) for address in addresses):
        raise _Refused("not-public-address")
    return addresses[0]


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP connection to one already-checked address; the name only travels
    in the Host header (and, for HTTPS, in SNI and certificate verification)."""

    def __init__(self, target: _Target, address: IPAddress, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = address
        self._tls = target.scheme == "https"
        # So the Host header reads "name", not "name:443", on HTTPS.
        self.default_port = PORTS[target.scheme]

    def connect(self) -> None:
        family = socket.AF_INET6 if self._address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect((str(self._address), self.port))
            if self._tls:
                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _abort(connection: _PinnedConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _status_of(
    target: _Target, address: IPAddress, method: str, deadline: float
) -> tuple[int, str | None]:
    """Send one request; read the status line and headers only; close."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _Failed("timeout")
    connection = _PinnedConnection(target, address, timeout=min(SOCKET_TIMEOUT, remaining))
    watchdog = threading.Timer(remaining, _abort, args=(connection,))
    watchdog.daemon = True
    watchdog.start()
    try:
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"}
        if method == "GET":
            headers["Range"] = "bytes=0-0"
        connection.request(method, target.path, headers=headers)
        response = connection.getresponse()
        # Deliberately no response.read(): the body (the abusive content itself) is
        # never read; closing the connection drops whatever the server sends.
        return response.status, response.getheader("Location")
    except ssl.SSLError:
        raise _Failed("tls-error") from None
    except TimeoutError:
        raise _Failed("timeout") from None
    except (OSError, http.client.HTTPException):
        if time.monotonic() >= deadline:
            raise _Failed("timeout") from None
        raise _Failed("connection-error") from None
    finally:
        watchdog.cancel()
        connection.close()


def check_url(
    url: str,
    *,
    allow: AddressPolicy = public_address,
    resolve: Resolver = system_resolver,
    max_redirects: int = MAX_REDIRECTS,
    total_timeout: float = TOTAL_TIMEOUT,
) -> CheckResult:
    """Is `url` still answering? Status only; see the module docstring for the guards."""
    deadline = time.monotonic() + total_timeout
    redirects = 0
    try:
        target = _parse(url)
        while True:
            address = _checked_address(target, allow, resolve)
            status, location = _status_of(target, address, "HEAD", deadline)
            if status in HEAD_REFUSED:
                status, location = _status_of(target, address, "GET", deadline)
            if status in REDIRECTS and location:
                if redirects >= max_redirects:
                    return CheckResult(Outcome.FAILED, status, "too-many-redirects", redirects)
                redirects += 1
                base = f"{target.scheme}://{_netloc(target)}{target.path}"
                target = _parse(urljoin(base, location))
                continue
            outcome = Outcome.GONE if status in GONE else Outcome.UP
            return CheckResult(outcome, status, "", redirects)
    except _Refused as refused:
        return CheckResult(Outcome.REFUSED, None, str(refused), redirects)
    except _Failed as failed:
        return CheckResult(Outcome.FAILED, None, str(failed), redirects)


def _netloc(target: _Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{host}:{target.port}"


# --- Scheduling and recording (the organisation's opt-in) ------------------------------
# Below: the database side. A beat task schedules a check of each reported URL of each
# notice still being followed, once a day, for organisations that opted in; the worker
# runs it and records the outcome. Only the outcome and the status code are stored.

RECHECK_EVERY = timedelta(hours=24)


def _models():
    from . import models

    return models


def checked_states() -> frozenset[str]:
    N = _models().NoticeState
    return frozenset({N.SENT, N.ACKNOWLEDGED, N.ESCALATED, N.REAPPEARED, N.REMOVED})


@transaction.atomic
def schedule_rechecks(*, now: datetime, limit: int = 500) -> int:
    """Write a pending check (and its outbox row) for every URL that is due one."""
    m = _models()
    recent = m.StatusCheck.objects.filter(item=OuterRef("pk"), scheduled_at__gt=now - RECHECK_EVERY)
    items = (
        m.NoticeItem.objects.filter(
            notice__state__in=checked_states(),
            notice__organisation__takedown_settings__status_rechecks=True,
            notice__case__destroyed_at=None,
            location__kind="url",
        )
        .annotate(recent=Exists(recent))
        .filter(recent=False)
        .order_by("id")[:limit]
    )
    scheduled = 0
    for item in items:
        check = m.StatusCheck.objects.create(item=item, scheduled_at=now)
        outbox.enqueue("takedowns.run_status_check", check=check.uuid)
        scheduled += 1
    return scheduled


def perform_check(check_uuid, *, now: datetime | None = None, **options) -> None:
    """Run one scheduled check (`options` go to check_url: tests inject a policy)."""
    m = _models()
    check = (
        m.StatusCheck.objects.select_related(
            "item__location", "item__notice__organisation__takedown_settings"
        )
        .filter(uuid=check_uuid, outcome=m.StatusCheck.Outcome.PENDING)
        .first()
    )
    if check is None:
        return
    notice = check.item.notice
    settings_ = getattr(notice.organisation, "takedown_settings", None)
    if settings_ is None or not settings_.status_rechecks or notice.state not in checked_states():
        result = CheckResult(Outcome.FAILED, None, "no-longer-followed")
    else:
        # Decrypted here, in the worker, and only to be checked: never logged or stored.
        result = check_url(check.item.location.value, **options)
    record_check(check=check, result=result, now=now or timezone.now())


@outbox.outbox_task("takedowns.run_status_check")
def run_status_check(*, check: str) -> None:
    perform_check(check)


def _previous(check) -> str | None:
    m = _models()
    earlier = (
        m.StatusCheck.objects.filter(item=check.item, checked_at__isnull=False)
        .exclude(pk=check.pk)
        .exclude(outcome__in=[m.StatusCheck.Outcome.FAILED, m.StatusCheck.Outcome.REFUSED])
        .order_by("-checked_at", "-id")
        .first()
    )
    return earlier.outcome if earlier else None


@transaction.atomic
def record_check(*, check, result: CheckResult, now: datetime) -> None:
    """Store the outcome; a URL gone → flagged for the caseworker; back → reappeared."""
    m = _models()
    N = m.NoticeState
    notice = (
        m.Notice.objects.select_for_update()
        .select_related("organisation", "route")
        .get(pk=check.item.notice_id)
    )
    check.outcome = str(result.outcome)
    check.status_code = result.status
    check.reason = result.reason
    check.checked_at = now
    check.save(update_fields=["outcome", "status_code", "reason", "checked_at"])
    previous = _previous(check)
    actor = audit.Actor.system("status_recheck")
    if result.outcome == Outcome.GONE and notice.state != N.REMOVED and previous != "gone":
        m.NoticeEvent.objects.create(
            notice=notice,
            kind=m.NoticeEvent.Kind.NOTE,
            at=now,
            data={"check": "gone", "status": result.status},
        )
        audit.record(
            "notice.possibly_removed",
            actor=actor,
            object_type="notice",
            object_id=notice.uuid,
            organisation_id=notice.organisation.uuid,
            data={"status": result.status},
        )
    elif (
        result.outcome == Outcome.UP
        and result.status is not None
        and 200 <= result.status < 300
        and notice.state == N.REMOVED
        and previous == "gone"
    ):
        _reappear(notice, actor=actor, status=result.status, now=now)


def _reappear(notice, *, actor, status: int, now: datetime) -> None:
    """A removed URL answers again: the notice reopens, with a fresh deadline."""
    from . import clocks

    m = _models()
    old = notice.state
    notice.state = m.NoticeState.REAPPEARED
    notice.reappeared_at = now
    notice.deadline_at = clocks.deadline_for(route=notice.route, basis=notice.basis, sent_at=now)
    notice.save(update_fields=["state", "reappeared_at", "deadline_at", "updated_at"])
    m.NoticeEvent.objects.create(
        notice=notice,
        kind=m.NoticeEvent.Kind.STATE,
        from_state=old,
        to_state=notice.state,
        at=now,
        data={"by": "status_check", "status": status},
    )
    audit.record(
        "notice.reappeared",
        actor=actor,
        object_type="notice",
        object_id=notice.uuid,
        organisation_id=notice.organisation.uuid,
        data={"status": status},
    )
    outbox.enqueue("takedowns.send_deadline_reminder", notice=notice.uuid, stage="reappeared")


def possibly_removed(notice) -> bool:
    """Every URL of the notice answered 404/410 at its latest check: for a caseworker
    to confirm (the platform may also just be hiding it from us)."""
    m = _models()
    if notice.state == m.NoticeState.REMOVED:
        return False
    latest = []
    for item in notice.items.all():
        check = item.checks.exclude(checked_at=None).order_by("-checked_at", "-id").first()
        latest.append(check.outcome if check else None)
    return bool(latest) and all(outcome == "gone" for outcome in latest)


@transaction.atomic
def set_status_rechecks(*, acting, enabled: bool, origin: str = "") -> None:
    """Opt the organisation in or out of status re-checks (audited)."""
    m = _models()
    m.TakedownSettings.objects.update_or_create(
        organisation=acting.organisation, defaults={"status_rechecks": enabled}
    )
    audit.record(
        "takedowns.status_rechecks_set",
        actor=audit.Actor.user(acting.user, role=acting.role, origin=origin),
        object_type="organisation",
        object_id=acting.organisation.uuid,
        organisation_id=acting.organisation.uuid,
        data={"enabled": enabled},
    )


def outcome_counts(*, organisation, days: int = 30) -> list[tuple[str, int]]:
    """How the organisation's checks of the last `days` came out (counts only)."""
    m = _models()
    since = timezone.now() - timedelta(days=days)
    rows = dict(
        m.StatusCheck.objects.filter(
            item__notice__organisation=organisation, scheduled_at__gte=since
        )
        .values_list("outcome")
        .annotate(n=Count("id"))
        .values_list("outcome", "n")
    )
    return [(label, rows.get(code, 0)) for code, label in m.StatusCheck.Outcome.choices]
