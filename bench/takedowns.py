"""Takedown benchmarks (`BENCH_ONLY=takedowns`).

1. Notice preparation for a case with 50 locations, server time: the Takedowns
   panel (its selector and template: every location by the routes the registry
   suggests, with the notices made so far), and for context the case's Takedowns page
   and the "prepare all" POST (renders, checks and saves a notice per route) through
   Django's test client. p95 against /healthz in the same run; query counts at 5 and
   50 locations (the panel's must not grow with the locations).
2. Dispatch throughput: 1 000 queued email notices, each outbox row run through the
   worker's task body (`takedowns.deliver_notice`: its notice, then the batch queued
   behind it — claimed in one transaction, sent over one SMTP session with each 250
   written down by a thread while the next message goes out, recorded sent with
   log and audit events in one more transaction) to a
   real aiosmtpd server on loopback, vs raw `smtplib` sends of the same messages to
   the same server, one connection each (the very bytes the transport builds),
   alternating in rounds of 200. BENCH_TAKEDOWNS=dispatch runs only this part;
   BENCH_PROFILE=<file> writes a cProfile of the pipeline's side to that file.
"""

from __future__ import annotations

import os
import smtplib
import statistics
import time

NOTICES = 1000
ROUND = 200  # rows of pipeline, then as many raw sends, alternating
REQUESTS = 20


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 2 else samples[0]


def _count_queries(fn) -> tuple[object, int]:
    from django.db import connection

    seen = []

    def count(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        result = fn()
    return result, len(seen)


def _case(org, coordinator, count: int):
    from support import casework, intake
    from takedowns import services

    hosts = ["https://www.instagram.com/p/bench{}/", "https://t.me/bench_canal/{}"]
    hosts += ["https://fotos-bench.example/galeria/{}"]
    urls = tuple(hosts[i % 3].format(i) for i in range(count))
    case, _code = intake.submit_report(
        organisation=org,
        incident=None,
        submission=intake.Submission(
            filer_role="parent",
            age_band="14_15",
            contact_preference="none",
            categories=("fake_images",),
            narrative="Bench.",
            urls=urls,
            consents={"takedown": True},
        ),
    )
    casework.assign_case(actor=coordinator, case=case, assignee=coordinator)
    services.save_case_facts(
        acting=coordinator,
        case=case,
        data={
            "jurisdictions": ["ES"],
            "signature": "/s/ Bench",
            "circumstances": "Bench.",
            "means_of_spread": "Bench.",
            "prior_actions_answered": True,
            "prior_actions": "None.",
            "vulnerabilities": ["minor"],
        },
    )
    return case


def bench_preparation(row) -> list[dict]:
    from django.template.loader import render_to_string
    from django.test import Client

    from support.members import add_member, create_organisation
    from support.models import Role
    from takedowns import selectors, services
    from takedowns.models import Notice
    from tests.factories import client_for, make_user
    from vault.audit import Actor

    actor = Actor.system("bench")
    org = create_organisation(name="Bench takedowns", actor=actor)
    coordinator = add_member(
        organisation=org, user=make_user("bench-td@example.org"), role=Role.COORDINATOR, actor=actor
    )
    services.save_settings(acting=coordinator, data={"inbox_email": "casos@bench.example"})
    client = client_for(coordinator)
    healthz = []
    plain = Client()
    for _ in range(REQUESTS):
        started = time.perf_counter()
        plain.get("/healthz")
        healthz.append((time.perf_counter() - started) * 1000)
    baseline = _p95(healthz)
    base = f"/staff/o/{org.uuid}/cases/"
    rows, panel_queries, prepare_queries, panel_p95 = [], {}, {}, {}
    for count in (5, 50):
        case = _case(org, coordinator, count)
        page = f"{base}{case.uuid}/tab/takedowns/"  # the case's Takedowns page
        client.get(page)

        def render_panel(case=case):
            # What the case page does for this panel: the selector, then its template.
            context = selectors.panel(request=None, membership=coordinator, case=case)
            return render_to_string("takedowns/panel.html", {"panel": context})

        render_panel()
        _html, panel_queries[count] = _count_queries(render_panel)
        samples = []
        for _ in range(REQUESTS):
            started = time.perf_counter()
            render_panel()
            samples.append((time.perf_counter() - started) * 1000)
        panel_p95[count] = _p95(samples)
        page_samples = []
        for _ in range(REQUESTS // 2):
            started = time.perf_counter()
            assert client.get(page).status_code == 200
            page_samples.append((time.perf_counter() - started) * 1000)
        page_p95 = _p95(page_samples)
        prepare_url = f"{base}{case.uuid}/takedowns/prepare-all/"
        prepared = []
        for _run in range(5 if count == 50 else 1):
            Notice.objects.filter(case=case).delete()  # prepare the same case afresh
            started = time.perf_counter()
            response, queries = _count_queries(lambda url=prepare_url: client.post(url))
            prepared.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 302, response.status_code
            prepare_queries[count] = queries
        made = Notice.objects.filter(case=case).count()
        if count == 50:
            rows.append(
                row(
                    f"notice preparation panel (every location by its suggested routes), "
                    f"50 locations, p95 ({panel_queries[5]} queries at 5 locations, "
                    f"{panel_queries[50]} at 50; p95 at 5: {panel_p95[5]:.0f} ms) vs /healthz",
                    panel_p95[50], "ms", baseline, panel_p95[50] / baseline,
                    "p95 <= 200 ms, constant queries",
                    panel_p95[50] <= 200 and panel_queries[5] == panel_queries[50],
                )
            )  # fmt: skip
            rows.append(
                row(
                    "the case's Takedowns page through the test client (session, access "
                    "checks, the panel, the page around it), 50 locations, p95 vs /healthz",
                    page_p95, "ms", baseline, page_p95 / baseline, "context", None,
                )
            )  # fmt: skip
            p95 = _p95(prepared)
            rows.append(
                row(
                    f"prepare all, 50 locations -> {made} notices rendered, checked and "
                    f"saved, p95 ({prepare_queries[5]} queries at 5 locations, "
                    f"{prepare_queries[50]} at 50: read once, checked one by one, written in bulk) "
                    f"vs /healthz",
                    p95, "ms", baseline, p95 / baseline, "context", None,
                )
            )  # fmt: skip
    return rows


class _Sink:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def bench_dispatch(row) -> list[dict]:
    import logging
    import socket

    from aiosmtpd.controller import Controller
    from django.conf import settings
    from django.db import transaction

    from support.members import add_member, create_organisation
    from support.models import OutboxMessage, Role
    from takedowns import services
    from takedowns.models import Basis, Notice, NoticeItem, Route
    from takedowns.tasks import deliver_notice
    from tests.factories import make_user
    from vault.audit import Actor

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    sink = _Sink()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    try:
        actor = Actor.system("bench")
        org = create_organisation(name="Bench dispatch", actor=actor)
        coordinator = add_member(
            organisation=org, user=make_user("bench-dx@example.org"), role=Role.COORDINATOR,
            actor=actor,
        )  # fmt: skip
        services.save_settings(acting=coordinator, data={"inbox_email": "casos@bench.example"})
        case = _case(org, coordinator, 3)
        location = next(loc for loc in case.locations.all() if "fotos-bench" in loc.value)
        route = Route.objects.get(platform__slug="website", basis=Basis.DSA, organisation=None)
        first = services.prepare_notice(
            acting=coordinator, case=case, route=route, locations=[location],
            recipient="abuse@fotos-bench.example",
        )  # fmt: skip
        # 1 000 queued notices like the first (each its own keys), with their outbox rows.
        notices = []
        with transaction.atomic():
            for _ in range(NOTICES):
                notice = Notice(
                    case=case, organisation=org, route=route, route_version=route.version,
                    platform=route.platform, basis=route.basis, channel=route.channel,
                    language=first.language, recipient=first.recipient, template=first.template,
                    template_version=first.template_version, state="queued",
                    sent_by=coordinator, prepared_by=coordinator,
                )  # fmt: skip
                notice.subject, notice.body = first.subject, first.body
                notices.append(notice)
            Notice.objects.bulk_create(notices, batch_size=500)
            NoticeItem.objects.bulk_create(
                [
                    NoticeItem(notice=n, location=location, url_index=location.index,
                               platform=route.platform, basis=route.basis)
                    for n in notices
                ]
            )  # fmt: skip
            rows = OutboxMessage.objects.bulk_create(
                [
                    OutboxMessage(task="takedowns.deliver_notice", kwargs={"notice": str(n.uuid)})
                    for n in notices
                ]
            )
        # The raw baseline's messages: the very bytes the transport would send.
        messages = [_message_bytes(n) for n in notices]
        # What the worker runs for each outbox row: the task body (the first delivers
        # its notice and the batch behind it; the rest find theirs sent). Timed in
        # rounds of ROUND rows, each followed by the raw sends of as many messages, so
        # both sides see the same load on a shared machine; the times are summed.
        profile = _profiler()
        seconds = raw_seconds = 0.0
        work = list(zip(notices, rows, strict=True))
        for first in range(0, NOTICES, ROUND):
            started = time.perf_counter()
            for notice, outbox_row in work[first : first + ROUND]:
                deliver_notice.run(notice=str(notice.uuid), outbox_id=str(outbox_row.uuid))
            seconds += time.perf_counter() - started
            if profile is not None:
                continue  # profiling: the pipeline only
            started = time.perf_counter()
            for raw in messages[first : first + ROUND]:
                with smtplib.SMTP("127.0.0.1", port) as smtp:
                    smtp.sendmail("no-reply@localhost", ["abuse@fotos-bench.example"], raw)
            raw_seconds += time.perf_counter() - started
        if profile is not None:
            _dump(profile)
            raw_seconds = seconds  # no baseline measured while profiling
            sink.count *= 2
        assert sink.count == 2 * NOTICES
        assert (
            Notice.objects.filter(pk__in=[n.pk for n in notices], state="sent").count() == NOTICES
        )
        assert not OutboxMessage.objects.filter(pk__in=[r.pk for r in rows], done_at=None).exists()
    finally:
        controller.stop()
    rate, raw_rate = NOTICES / seconds, NOTICES / raw_seconds
    return [
        row(
            f"dispatch of {NOTICES:,} queued email notices through the worker's task "
            "(claim, SMTP, accepted, sent + audit) vs raw smtplib sends of the same "
            "messages, real local aiosmtpd",
            rate, "notices/s", raw_rate, rate / raw_rate, ">= 0.5x", rate / raw_rate >= 0.5,
        )
    ]  # fmt: skip


def _profiler():
    """BENCH_PROFILE=<file>: cProfile the dispatch run into that pstats file."""
    if not os.environ.get("BENCH_PROFILE"):
        return None
    import cProfile

    profile = cProfile.Profile()
    profile.enable()
    return profile


def _dump(profile) -> None:
    if profile is not None:
        profile.disable()
        profile.dump_stats(os.environ["BENCH_PROFILE"])


def _message_bytes(notice) -> bytes:
    """The bytes the transport sends for this notice (its own builder, so the raw
    baseline sends exactly what the pipeline does, minus the pipeline's work)."""
    from takedowns.channels import EmailTransport
    from takedowns.models import Notice

    notice = Notice.objects.select_related("organisation__takedown_settings").get(pk=notice.pk)
    raw = EmailTransport().message_bytes(notice)
    assert raw is not None
    return raw


def bench_takedowns(row) -> list[dict]:
    # BENCH_TAKEDOWNS=dispatch (or =preparation) runs just that part, for tuning.
    part = os.environ.get("BENCH_TAKEDOWNS", "")
    rows = bench_preparation(row) if part in {"", "preparation"} else []
    return rows + (bench_dispatch(row) if part in {"", "dispatch"} else [])
