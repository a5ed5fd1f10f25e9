"""Status re-checks: status only, never a body, never an internal address."""

from __future__ import annotations

import ipaddress
import time

import pytest

from takedowns import recheck
from takedowns.recheck import Outcome, check_url
from tests.takedowns.fakeweb import FakeWeb, ipv6_available, ok

# The stand-in for "a public web server" in tests: loopback is all tests may use, so
# this one address (and only it) is allowed; the default policy refuses it.
PUBLIC_STAND_IN = "127.0.0.2"


def stand_in_policy(ip) -> bool:
    return str(ip) == PUBLIC_STAND_IN


@pytest.fixture
def internal():
    """An 'internal service' on 127.0.0.1 (and ::1 when available) counting connections."""
    with FakeWeb(ok) as v4:
        if ipv6_available():
            with FakeWeb(ok, host="::1") as v6:
                yield v4, v6
        else:
            yield v4, None


def _connections(internal) -> int:
    return sum(server.connections for server in internal if server is not None)


@pytest.mark.parametrize(
    "template",
    [
        "http://127.0.0.1:{port}/",
        "http://127.1:{port}/",
        "http://2130706433:{port}/",  # decimal
        "http://0177.0.0.1:{port}/",  # octal
        "http://0x7f.0.0.1:{port}/",  # hex
        "http://0x7f000001:{port}/",
        "http://localhost:{port}/",  # a name resolving to 127.0.0.1
        "http://LOCALHOST.:{port}/",
        "http://[::1]:{port6}/",
        "http://[::ffff:127.0.0.1]:{port}/",  # IPv4-mapped IPv6
        "http://[::ffff:7f00:1]:{port}/",
        "https://127.0.0.1:{port}/",
        "http://0.0.0.0:{port}/",  # unspecified: Linux connects it to loopback
    ],
)
def test_it_refuses_loopback_in_every_spelling_and_sends_nothing(internal, template):
    v4, v6 = internal
    url = template.format(port=v4.port, port6=v6.port if v6 else v4.port)
    result = check_url(url)
    assert result.outcome == Outcome.REFUSED
    assert result.reason == "not-public-address"
    assert _connections(internal) == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://224.0.0.1/",  # multicast
        "http://255.255.255.255/",
        "http://240.0.0.1/",  # reserved
    ],
)
def test_it_refuses_private_link_local_and_reserved_addresses(url):
    resolved = []

    def resolver(host, port):
        resolved.append(host)
        return recheck.system_resolver(host, port)

    result = check_url(url, resolve=resolver)
    assert result.outcome == Outcome.REFUSED
    assert resolved  # refused after resolution, not by the shape of the text


def test_it_refuses_a_public_name_that_resolves_to_an_internal_address(internal):
    v4, _ = internal

    def resolver(host, port):
        assert host == "innocent.example"
        return [ipaddress.ip_address("127.0.0.1")]

    result = check_url(f"http://innocent.example:{v4.port}/", resolve=resolver)
    assert result.outcome == Outcome.REFUSED
    assert v4.connections == 0


def test_it_refuses_a_name_with_any_internal_answer():
    def resolver(host, port):
        return [ipaddress.ip_address("8.8.8.8"), ipaddress.ip_address("10.1.2.3")]

    assert check_url("http://mixed.example/", resolve=resolver).outcome == Outcome.REFUSED


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/admin",
        "http://localhost:{port}/",
        "http://2130706433:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
    ],
)
def test_it_refuses_a_redirect_to_loopback(internal, location):
    v4, _ = internal
    target = location.format(port=v4.port)
    with FakeWeb(lambda method, path: (302, {"Location": target}, None), host=PUBLIC_STAND_IN) as w:
        result = check_url(w.url + "/post/1", allow=stand_in_policy)
    assert result.outcome == Outcome.REFUSED
    assert result.redirects == 1
    assert w.connections == 1  # the first hop was checked and allowed
    assert _connections(internal) == 0


@pytest.mark.parametrize("location", ["file:///etc/passwd", "gopher://127.0.0.2/", "ftp://x/"])
def test_it_refuses_a_redirect_to_another_scheme(location):
    with FakeWeb(lambda m, p: (301, {"Location": location}, None), host=PUBLIC_STAND_IN) as w:
        result = check_url(w.url + "/", allow=stand_in_policy)
    assert result.outcome == Outcome.REFUSED
    assert result.reason == "scheme-not-allowed"


def test_it_refuses_credentials_in_the_url():
    result = check_url("http://user:secret@example.org/")
    assert result.outcome == Outcome.REFUSED
    assert result.reason == "credentials-in-url"


def test_it_connects_to_the_address_it_checked_without_resolving_again(internal):
    """DNS rebinding: the second answer (loopback) is never asked for nor used."""
    v4, _ = internal
    answers = iter([PUBLIC_STAND_IN, "127.0.0.1", "127.0.0.1"])
    calls = []

    def rebinding_resolver(host, port):
        calls.append(host)
        return [ipaddress.ip_address(next(answers))]

    # Same port on both, so a connection made by name would reach the internal one.
    with FakeWeb(ok, host=PUBLIC_STAND_IN, port=v4.port) as public:
        url = f"http://rebind.example:{public.port}/p"
        result = check_url(url, allow=stand_in_policy, resolve=rebinding_resolver)
    assert result.outcome == Outcome.UP
    assert calls == ["rebind.example"]
    assert public.requests == [("HEAD", "/p", f"rebind.example:{public.port}")]
    assert _connections(internal) == 0


def test_it_follows_a_bounded_number_of_redirects():
    def loop(method, path):
        return 302, {"Location": f"/hop{int(path.strip('/hop') or 0) + 1}"}, None

    with FakeWeb(loop, host=PUBLIC_STAND_IN) as w:
        result = check_url(w.url + "/hop0", allow=stand_in_policy)
    assert result.outcome == Outcome.FAILED
    assert result.reason == "too-many-redirects"
    assert w.connections == recheck.MAX_REDIRECTS + 1


def test_it_reports_a_reachable_page_as_up_after_a_redirect():
    def moved(method, path):
        return (301, {"Location": "/new"}, None) if path == "/old" else (200, {}, b"page")

    with FakeWeb(moved, host=PUBLIC_STAND_IN) as w:
        result = check_url(w.url + "/old", allow=stand_in_policy)
    assert (result.outcome, result.status, result.redirects) == (Outcome.UP, 200, 1)
    assert [r[:2] for r in w.requests] == [("HEAD", "/old"), ("HEAD", "/new")]


@pytest.mark.parametrize("status", [404, 410])
def test_it_reports_404_and_410_as_gone(status):
    with FakeWeb(lambda m, p: (status, {}, b"gone"), host=PUBLIC_STAND_IN) as w:
        result = check_url(w.url + "/x", allow=stand_in_policy)
    assert (result.outcome, result.status) == (Outcome.GONE, status)


@pytest.mark.parametrize("status", [200, 403, 451, 500])
def test_it_reports_other_answers_as_up(status):
    with FakeWeb(lambda m, p: (status, {}, None), host=PUBLIC_STAND_IN) as w:
        assert check_url(w.url + "/x", allow=stand_in_policy).outcome == Outcome.UP


def test_it_never_reads_an_endless_body_when_head_is_refused():
    def no_head(method, path):
        return (405, {}, None) if method == "HEAD" else (200, {}, "endless")

    with FakeWeb(no_head, host=PUBLIC_STAND_IN) as w:
        started = time.monotonic()
        result = check_url(w.url + "/video", allow=stand_in_policy)
        elapsed = time.monotonic() - started
        assert w.client_hung_up.wait(5)
    assert (result.outcome, result.status) == (Outcome.UP, 200)
    assert [r[0] for r in w.requests] == ["HEAD", "GET"]
    assert elapsed < 2
    # What the server managed to push before we hung up sits in socket buffers; a
    # reader of the body would have taken far more within the server's 30 s.
    assert w.body_bytes_sent < 64 * 1024 * 1024


def test_it_never_reads_a_body_sent_after_a_head_answer():
    with FakeWeb(lambda m, p: (200, {}, "endless"), host=PUBLIC_STAND_IN) as w:
        started = time.monotonic()
        result = check_url(w.url + "/x", allow=stand_in_policy)
        assert time.monotonic() - started < 2
        assert w.client_hung_up.wait(5)
    assert result.outcome == Outcome.UP


def test_it_gives_up_on_a_server_that_never_answers():
    import socket

    with socket.socket() as silent:
        silent.bind((PUBLIC_STAND_IN, 0))
        silent.listen()
        started = time.monotonic()
        result = check_url(
            f"http://{PUBLIC_STAND_IN}:{silent.getsockname()[1]}/",
            allow=stand_in_policy,
            total_timeout=0.5,
        )
        assert time.monotonic() - started < 2
    assert (result.outcome, result.reason) == (Outcome.FAILED, "timeout")


def test_it_reports_an_unresolvable_name_as_failed():
    result = check_url("http://does-not-exist.invalid/")
    assert (result.outcome, result.reason) == (Outcome.FAILED, "dns-failure")


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("2002:808:808::", True),  # 6to4 of a public address
        ("127.0.0.1", False),
        ("127.0.0.2", False),
        ("10.0.0.1", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address under test, not a bind
        ("224.0.0.1", False),
        ("239.255.255.250", False),
        ("255.255.255.255", False),
        ("198.18.0.1", False),
        ("::", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::7f00:1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo, private inside
    ],
)
def test_the_default_policy_allows_only_public_unicast(address, allowed):
    assert recheck.public_address(ipaddress.ip_address(address)) is allowed


# --- scheduling and recording (database) ------------------------------------------------

from datetime import UTC, datetime, timedelta  # noqa: E402

from takedowns.models import NoticeEvent, NoticeState, StatusCheck  # noqa: E402
from tests.takedowns.casedata import make_case, make_notice, opt_in_rechecks  # noqa: E402
from vault.models import AuditEvent  # noqa: E402

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def _run_scheduled(**options):
    for check in StatusCheck.objects.filter(outcome="pending"):
        recheck.perform_check(check.uuid, now=NOW, **options)


@pytest.mark.django_db
def test_it_checks_nothing_for_an_organisation_that_has_not_opted_in(org_x):
    make_notice(make_case(org_x), sent_at=NOW - timedelta(hours=5))
    assert recheck.schedule_rechecks(now=NOW) == 0
    opt_in_rechecks(org_x, enabled=False)
    assert recheck.schedule_rechecks(now=NOW) == 0


@pytest.mark.django_db
def test_it_schedules_each_url_once_a_day_with_ids_only(org_x):
    from support.models import OutboxMessage

    opt_in_rechecks(org_x)
    case = make_case(
        org_x, urls=["https://www.instagram.com/p/a1", "https://www.instagram.com/p/b2"]
    )
    make_notice(case, sent_at=NOW - timedelta(hours=5))
    make_notice(make_case(org_x), state="draft")  # not sent: not followed
    assert recheck.schedule_rechecks(now=NOW) == 2
    assert recheck.schedule_rechecks(now=NOW + timedelta(hours=23)) == 0
    assert recheck.schedule_rechecks(now=NOW + timedelta(hours=25)) == 2
    kwargs = OutboxMessage.objects.filter(task="takedowns.run_status_check").first().kwargs
    assert list(kwargs) == ["check"]  # a UUID; never the URL


@pytest.mark.django_db
def test_a_404_flags_the_notice_as_possibly_removed_for_a_caseworker(org_x):
    opt_in_rechecks(org_x)
    with FakeWeb(lambda m, p: (404, {}, b"no"), host=PUBLIC_STAND_IN) as w:
        case = make_case(org_x, urls=[w.url + "/p/gone"])
        notice = make_notice(case, sent_at=NOW - timedelta(hours=5))
        recheck.schedule_rechecks(now=NOW)
        _run_scheduled(allow=stand_in_policy)
    check = StatusCheck.objects.get()
    assert (check.outcome, check.status_code, check.checked_at) == ("gone", 404, NOW)
    notice.refresh_from_db()
    assert notice.state == NoticeState.SENT  # a caseworker confirms; nothing is assumed
    assert recheck.possibly_removed(notice)
    flagged = AuditEvent.objects.filter(event="notice.possibly_removed", object_id=notice.uuid)
    assert flagged.exists()


@pytest.mark.django_db
def test_a_removed_url_that_answers_again_reopens_the_notice(org_x):
    opt_in_rechecks(org_x)
    answers = iter([404, 200])
    with FakeWeb(lambda m, p: (next(answers), {}, None), host=PUBLIC_STAND_IN) as w:
        case = make_case(org_x, urls=[w.url + "/p/x"])
        notice = make_notice(case, sent_at=NOW - timedelta(hours=5))
        recheck.schedule_rechecks(now=NOW)
        _run_scheduled(allow=stand_in_policy)
        notice.state, notice.removed_at = NoticeState.REMOVED, NOW  # the caseworker confirmed
        notice.save()
        recheck.schedule_rechecks(now=NOW + timedelta(days=2))
        _run_scheduled(allow=stand_in_policy)
    notice.refresh_from_db()
    assert notice.state == NoticeState.REAPPEARED
    assert notice.deadline_at > NOW + timedelta(days=2)
    event = notice.events.get(kind=NoticeEvent.Kind.STATE, to_state="reappeared")
    assert event.from_state == "removed" and event.data["by"] == "status_check"
    assert AuditEvent.objects.filter(event="notice.reappeared", object_id=notice.uuid).exists()


@pytest.mark.django_db
def test_a_removed_notice_is_not_reopened_by_a_page_never_seen_gone(org_x):
    """Some platforms answer 200 with a 'not available' page: without a 404 first,
    a 200 proves nothing."""
    opt_in_rechecks(org_x)
    with FakeWeb(ok, host=PUBLIC_STAND_IN) as w:
        case = make_case(org_x, urls=[w.url + "/p/x"])
        notice = make_notice(case, state="removed", sent_at=NOW - timedelta(days=1))
        recheck.schedule_rechecks(now=NOW)
        _run_scheduled(allow=stand_in_policy)
    notice.refresh_from_db()
    assert notice.state == NoticeState.REMOVED


@pytest.mark.django_db
def test_the_stored_check_holds_no_url_or_content(org_x):
    opt_in_rechecks(org_x)
    with FakeWeb(lambda m, p: (200, {"X-Secret": "tracking"}, b"body"), host=PUBLIC_STAND_IN) as w:
        case = make_case(org_x, urls=[w.url + "/p/secretpath"])
        make_notice(case, sent_at=NOW - timedelta(hours=5))
        recheck.schedule_rechecks(now=NOW)
        _run_scheduled(allow=stand_in_policy)
    row = StatusCheck.objects.values().get()
    assert "secretpath" not in repr(row) and "tracking" not in repr(row)
    assert row["outcome"] == "up" and row["status_code"] == 200


@pytest.mark.django_db
def test_the_default_policy_applies_to_scheduled_checks(org_x, internal):
    """A reported URL on loopback is refused by the worker too: no connection made."""
    v4, _ = internal
    opt_in_rechecks(org_x)
    case = make_case(org_x, urls=["https://www.instagram.com/p/a1"])
    notice = make_notice(case, sent_at=NOW - timedelta(hours=5))
    location = case.locations.get()
    location.value = f"http://localhost:{v4.port}/admin"  # as if a redirect target were stored
    location.save()
    recheck.schedule_rechecks(now=NOW)
    _run_scheduled()
    assert StatusCheck.objects.get().outcome == "refused"
    assert _connections(internal) == 0
    notice.refresh_from_db()
    assert notice.state == NoticeState.SENT
