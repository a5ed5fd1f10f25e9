"""Faults of dispatch with real processes: a worker SIGKILLed at random points of a
send, and the broker down. Deliveries are counted where they arrive: Message-IDs at a
real SMTP server on loopback, Idempotency-Keys at a local fake platform.

The guarantee under test (takedowns.services.deliver): each notice is delivered at
least once and every copy carries the notice's delivery key, so the recipient sees
exactly one delivery per notice however the worker dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import timedelta
from email import message_from_bytes
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import connection
from django.utils import timezone

from support import outbox
from support.models import OutboxMessage
from takedowns import services
from takedowns.models import Basis, Notice, NoticeEvent, NoticeState, Route
from tests.takedowns.helpers import ensure_registry_seed, make_case, route
from tests.takedowns.test_dispatch import FakePlatform

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
KILLS = 20
PAUSE = 0.03  # the worker's pause before and after the channel call (seconds)


class CountingServer:
    """An aiosmtpd handler that answers slowly (so kills land mid-exchange) and
    keeps every message, to count them by Message-ID."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.02)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def registry_seed():
    ensure_registry_seed()


@pytest.fixture
def smtp_server():
    handler = CountingServer()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port
    yield handler
    controller.stop()


@pytest.fixture
def fake_platform():
    FakePlatform.seen, FakePlatform.requests = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePlatform)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakePlatform.url = f"http://127.0.0.1:{server.server_port}/reports"
    yield FakePlatform
    server.shutdown()


@pytest.fixture
def clean_queue():
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("celery")
    yield
    broker.delete("celery")


def _child_env(**extra) -> dict[str, str]:
    """This process's environment, pointed at the test database and the fakes."""
    env = dict(os.environ)
    parts = urlsplit(env["DATABASE_URL"])
    env["DATABASE_URL"] = urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra)
    return env


class KillableWorker:
    """tests/takedowns/killworker.py: a parent that forks one child per delivery."""

    def __init__(self, env, command="deliver"):
        self.command = command
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.takedowns.killworker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def deliver(self, notice_uuid: str, outbox_id: str, *, kill_after: float | None):
        """Run one delivery; SIGKILL it `kill_after` seconds in. True if killed."""
        self.process.stdin.write(f"{self.command} {notice_uuid} {outbox_id}\n")
        self.process.stdin.flush()
        pid = int(self.process.stdout.readline().split()[1])
        if kill_after is not None:
            time.sleep(kill_after)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        status = int(self.process.stdout.readline().split()[1])
        return os.WIFSIGNALED(status)

    def stop(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


def _open_row(notice: Notice) -> OutboxMessage | None:
    return OutboxMessage.objects.filter(
        task="takedowns.deliver_notice", kwargs__notice=str(notice.uuid), done_at=None
    ).first()


def _queue_notices(org, coordinator, route_, count=KILLS):
    urls = [f"https://fotos-falsas.example/galeria/{i}" for i in range(count)]
    case = make_case(org, urls=urls)
    services.save_settings(acting=coordinator, data={"inbox_email": "casos@grupo.example"})
    notices = []
    for location in case.locations.order_by("created_at", "id"):
        notice = services.prepare_notice(
            acting=coordinator,
            case=case,
            route=route_,
            locations=[location],
            recipient="abuse@fotos-falsas.example",
        )
        notices.append(services.send_notice(acting=coordinator, notice=notice))
    return notices


def _kill_then_drain(worker: KillableWorker, notices: list[Notice], window=6 * PAUSE) -> int:
    """Kill a delivery of each notice at a random point, then restart and drain as
    the sweeper would (leases lapse, open rows are delivered again)."""
    chooser = random.Random(os.environ.get("KILL_SEED", "amparo"))  # reproducible
    killed = 0
    for notice in notices:
        row = _open_row(notice)
        if row is None:
            continue  # sent by a batch already
        killed += worker.deliver(
            str(notice.uuid), str(row.uuid), kill_after=chooser.uniform(0, window)
        )
    for _round in range(4):
        # The lease of every worker that died lapses (time moves, not the test's clock).
        Notice.objects.filter(state=NoticeState.SENDING).update(
            sending_at=timezone.now() - timedelta(minutes=10)
        )
        services.resolve_stuck_sends()
        pending = [n for n in notices if _open_row(n) is not None]
        if not pending:
            break
        for notice in pending:
            row = _open_row(notice)  # a batch run for an earlier one may have closed it
            if row is not None:
                worker.deliver(str(notice.uuid), str(row.uuid), kill_after=None)
    return killed


def _assert_all_sent_once(notices):
    for notice in notices:
        notice.refresh_from_db()
        assert notice.state == NoticeState.SENT
        sent_events = NoticeEvent.objects.filter(notice=notice, to_state=NoticeState.SENT)
        assert sent_events.count() == 1


def test_a_worker_killed_at_random_points_of_email_sends_delivers_each_notice_once(
    registry_seed, org_x, coordinator, smtp_server, clean_queue
):
    notices = _queue_notices(org_x, coordinator, route("website", Basis.DSA))
    worker = KillableWorker(
        _child_env(KILLWORKER_SMTP_PORT=str(smtp_server.port), KILLWORKER_PAUSE=str(PAUSE))
    )
    try:
        killed = _kill_then_drain(worker, notices)
    finally:
        worker.stop()
    assert killed >= KILLS // 4  # the kills really landed inside sends
    _assert_all_sent_once(notices)
    by_id = defaultdict(int)
    for message in smtp_server.messages:
        by_id[message["Message-ID"]] += 1
    # One Message-ID per notice, each notice's own: what the recipient counts.
    assert set(by_id) == {n.message_id for n in notices}
    assert len(by_id) == KILLS


def test_a_batch_worker_killed_at_random_points_delivers_each_email_once(
    registry_seed, org_x, coordinator, smtp_server, clean_queue
):
    notices = _queue_notices(org_x, coordinator, route("website", Basis.DSA))
    worker = KillableWorker(
        _child_env(KILLWORKER_SMTP_PORT=str(smtp_server.port), KILLWORKER_PAUSE=str(PAUSE)),
        command="task",
    )
    chooser, killed = random.Random(os.environ.get("KILL_SEED", "amparo")), 0
    try:
        for _round in range(5):
            # Each round: the leases of the dead lapse, the sweeper requeues their
            # notices, and the task for the first still open is killed mid-batch (a
            # batch takes about two pauses a notice: kills land anywhere in it).
            Notice.objects.filter(state=NoticeState.SENDING).update(
                sending_at=timezone.now() - timedelta(minutes=10)
            )
            services.resolve_stuck_sends()
            pending = [(n, _open_row(n)) for n in notices if _open_row(n) is not None]
            if not pending:
                break
            notice, row = pending[0]
            window = len(pending) * 2 * PAUSE
            killed += worker.deliver(
                str(notice.uuid), str(row.uuid), kill_after=chooser.uniform(0, window)
            )
        for _round in range(4):
            Notice.objects.filter(state=NoticeState.SENDING).update(
                sending_at=timezone.now() - timedelta(minutes=10)
            )
            services.resolve_stuck_sends()
            for notice in notices:
                row = _open_row(notice)
                if row is not None:
                    worker.deliver(str(notice.uuid), str(row.uuid), kill_after=None)
    finally:
        worker.stop()
    assert killed >= 2
    _assert_all_sent_once(notices)
    by_id = defaultdict(int)
    for message in smtp_server.messages:
        by_id[message["Message-ID"]] += 1
    assert set(by_id) == {n.message_id for n in notices}


def test_a_worker_killed_at_random_points_of_api_sends_delivers_each_notice_once(
    registry_seed, org_x, coordinator, fake_platform, clean_queue
):
    api_route = route("website", Basis.DSA)
    Route.objects.filter(pk=api_route.pk).update(channel="api", api_adapter="json_report")
    api_route.refresh_from_db()
    notices = _queue_notices(org_x, coordinator, api_route)
    worker = KillableWorker(
        _child_env(KILLWORKER_API=fake_platform.url, KILLWORKER_PAUSE=str(PAUSE))
    )
    try:
        killed = _kill_then_drain(worker, notices)
    finally:
        worker.stop()
    assert killed >= KILLS // 4
    _assert_all_sent_once(notices)
    keys = {key for key, _body in fake_platform.requests}
    assert keys == {n.delivery_key for n in notices}  # one report per notice at the platform
    for notice in notices:
        assert notice.ticket == fake_platform.seen[notice.delivery_key]


def test_notices_queued_while_the_broker_is_down_are_sent_after_it_recovers(
    registry_seed, org_x, coordinator, smtp_server, local_services, clean_queue
):
    local_services.redis.stop()
    try:
        notices = _queue_notices(org_x, coordinator, route("website", Basis.DSA), count=3)
        assert all(_open_row(n).dispatched_at is None for n in notices)  # broker refused
    finally:
        local_services.redis.start()
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.takedowns.killworker", "celery"],
        cwd=ROOT,
        env=_child_env(KILLWORKER_SMTP_PORT=str(smtp_server.port)),
        stdout=subprocess.DEVNULL,
    )
    try:
        assert outbox.sweep() >= len(notices)  # the beat sweeper, after recovery
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if Notice.objects.filter(state=NoticeState.SENT).count() == len(notices):
                break
            time.sleep(0.2)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert Notice.objects.filter(state=NoticeState.SENT).count() == len(notices)
    ids = [m["Message-ID"] for m in smtp_server.messages]
    assert sorted(ids) == sorted(n.message_id for n in Notice.objects.all())
