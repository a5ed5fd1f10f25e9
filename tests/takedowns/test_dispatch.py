"""Dispatch: through the outbox, exactly once, by email to a real SMTP server on
loopback and by API to a local fake platform; repeats refused for 72 hours."""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from support.models import OutboxMessage
from takedowns import services
from takedowns.models import Basis, Notice, NoticeState, Route
from tests.takedowns.helpers import location_on, route

pytestmark = pytest.mark.django_db


class Recorder:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(settings):
    recorder = Recorder()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield recorder
    controller.stop()


class FakePlatform(BaseHTTPRequestHandler):
    """A reporting API that, like a real one, answers a repeated key with the same ticket."""

    seen: dict = {}
    requests: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers["Idempotency-Key"]
        FakePlatform.requests.append((key, body))
        ticket = FakePlatform.seen.setdefault(key, f"T-{len(FakePlatform.seen) + 1}")
        payload = json.dumps({"ticket": ticket}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_api(settings):
    FakePlatform.seen, FakePlatform.requests = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePlatform)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.TAKEDOWN_API_ENDPOINTS = {
        "json_report": f"http://127.0.0.1:{server.server_port}/reports"
    }
    yield FakePlatform
    server.shutdown()


def website_notice(case, coordinator):
    return services.prepare_notice(
        acting=coordinator,
        case=case,
        route=route("website", Basis.DSA),
        locations=[location_on(case, "fotos-falsas")],
        recipient="abuse@fotos-falsas.example",
    )


def run_outbox(notice):
    """What the worker does for the notice's outbox row."""
    row = OutboxMessage.objects.get(
        task="takedowns.deliver_notice", kwargs__notice=str(notice.uuid)
    )
    return services.deliver(row.kwargs["notice"], outbox_id=str(row.uuid))


def test_an_email_notice_arrives_once_with_its_content_and_no_image(case, facts, coordinator, smtp):
    notice = website_notice(case, coordinator)
    services.send_notice(acting=coordinator, notice=notice)
    assert run_outbox(notice) == "sent"
    assert run_outbox(notice) == "skipped"  # the sweeper re-sending the task sends nothing
    [(rcpt, raw)] = smtp.messages
    message = message_from_bytes(raw)
    assert rcpt == ["abuse@fotos-falsas.example"]
    assert message["Message-ID"] == notice.message_id
    assert message["Reply-To"] == "casos@grupo.example"
    text = message.get_payload(decode=True).decode()
    assert "https://fotos-falsas.example/galeria/123" in text
    assert not message.is_multipart()  # no attachment of any kind
    notice.refresh_from_db()
    assert notice.state == NoticeState.SENT and notice.sent_at is not None
    assert OutboxMessage.objects.get(kwargs__notice=str(notice.uuid)).done_at is not None


def test_a_notice_left_sending_by_a_dead_worker_is_resent_with_the_same_message_id(
    case, facts, coordinator, smtp
):
    notice = website_notice(case, coordinator)
    services.send_notice(acting=coordinator, notice=notice)
    assert services.claim(str(notice.uuid)) is not None  # the worker dies after this
    assert run_outbox(notice) == "busy"  # inside the lease: maybe still running
    Notice.objects.filter(pk=notice.pk).update(sending_at=timezone.now() - timedelta(minutes=10))
    assert run_outbox(notice) == "sent"
    [(_rcpt, raw)] = smtp.messages
    assert message_from_bytes(raw)["Message-ID"] == notice.message_id
    notice.refresh_from_db()
    assert notice.attempts == 2


def test_a_server_that_is_down_leaves_the_notice_queued_for_the_sweeper(
    case, facts, coordinator, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", 9, False
    notice = website_notice(case, coordinator)
    services.send_notice(acting=coordinator, notice=notice)
    assert run_outbox(notice) == "retry"
    notice.refresh_from_db()
    assert notice.state == NoticeState.QUEUED and notice.last_error
    assert OutboxMessage.objects.get(kwargs__notice=str(notice.uuid)).done_at is None


def test_an_api_notice_carries_its_idempotency_key_and_keeps_the_ticket(
    case, facts, coordinator, fake_api
):
    api_route = route("website", Basis.DSA)
    Route.objects.filter(pk=api_route.pk).update(channel="api", api_adapter="json_report")
    notice = website_notice(case, coordinator)
    services.send_notice(acting=coordinator, notice=notice)
    assert run_outbox(notice) == "sent"
    [(key, body)] = fake_api.requests
    assert key == notice.delivery_key
    assert body["urls"] == ["https://fotos-falsas.example/galeria/123"]
    notice.refresh_from_db()
    assert notice.ticket == "T-1"


def test_the_same_url_to_the_same_platform_and_basis_within_72_hours_is_refused(
    case, facts, coordinator
):
    first = website_notice(case, coordinator)
    services.send_notice(acting=coordinator, notice=first)
    with pytest.raises(services.NoticeRefused) as refused:
        website_notice(case, coordinator)
    assert refused.value.code == "repeat"
    assert "72" in refused.value.messages[0]
    again = services.prepare_notice(
        acting=coordinator,
        case=case,
        route=route("website", Basis.DSA),
        locations=[location_on(case, "fotos-falsas")],
        recipient="abuse@fotos-falsas.example",
        new_fact="The image was re-uploaded under a new address on the same page.",
    )
    assert again.repeat_of == first


def test_after_72_hours_the_same_notice_may_go_again(case, facts, coordinator):
    first = website_notice(case, coordinator)
    services.send_notice(acting=coordinator, notice=first)
    long_ago = timezone.now() - timedelta(hours=73)
    Notice.objects.filter(pk=first.pk).update(queued_at=long_ago, sent_at=long_ago)
    assert website_notice(case, coordinator).repeat_of is None


def test_a_rejection_needs_its_reason(case, facts, coordinator):
    notice = website_notice(case, coordinator)
    services.send_notice(acting=coordinator, notice=notice)
    Notice.objects.filter(pk=notice.pk).update(state="sent")
    with pytest.raises(services.ServiceError, match="rejection-needs-reason"):
        services.log_reply(acting=coordinator, notice=notice, text="No.", outcome="rejected")
    services.log_reply(
        acting=coordinator, notice=notice, text="No.", outcome="rejected", reason="not_illegal"
    )
    notice.refresh_from_db()
    assert notice.state == "rejected" and notice.rejection_reason == "not_illegal"


def test_a_web_form_notice_is_sent_when_the_caseworker_records_the_ticket(case, facts, coordinator):
    notice = services.prepare_notice(
        acting=coordinator,
        case=case,
        route=route("instagram", Basis.TAKE_IT_DOWN),
        locations=[location_on(case, "instagram")],
    )
    with pytest.raises(services.ServiceError):
        services.send_notice(acting=coordinator, notice=notice)
    services.record_submission(acting=coordinator, notice=notice, ticket="IG-778899")
    notice.refresh_from_db()
    assert notice.state == "sent" and notice.ticket == "IG-778899"
    assert notice.deadline_at - notice.sent_at == timedelta(hours=48)


class WorkerDied(BaseException):
    """Stands for SIGKILL at one point of a send (the real kill is in test_faults.py)."""


def test_a_worker_that_dies_after_the_server_accepted_the_email_does_not_send_it_again(
    case, facts, coordinator, smtp, monkeypatch
):
    notice = website_notice(case, coordinator)
    services.send_notice(acting=coordinator, notice=notice)
    real_move = services._move

    def die_before_recording_sent(found, state, **kwargs):
        if state == NoticeState.SENT:
            raise WorkerDied
        return real_move(found, state, **kwargs)

    monkeypatch.setattr(services, "_move", die_before_recording_sent)
    with pytest.raises(WorkerDied):
        run_outbox(notice)
    monkeypatch.setattr(services, "_move", real_move)
    assert len(smtp.messages) == 1  # the server said 250; we never recorded "sent"
    Notice.objects.filter(pk=notice.pk).update(sending_at=timezone.now() - timedelta(minutes=10))
    assert run_outbox(notice) == "sent"
    assert len(smtp.messages) == 1  # known delivered: finished, not sent again
    notice.refresh_from_db()
    assert notice.state == NoticeState.SENT and notice.attempts == 1


def test_a_task_arriving_inside_another_workers_lease_leaves_the_outbox_row_open(
    case, facts, coordinator, smtp
):
    notice = website_notice(case, coordinator)
    services.send_notice(acting=coordinator, notice=notice)
    assert services.claim(str(notice.uuid)) is not None  # another worker is sending
    assert run_outbox(notice) == "busy"
    row = OutboxMessage.objects.get(kwargs__notice=str(notice.uuid))
    assert row.done_at is None  # the sweeper will send the task again
    Notice.objects.filter(pk=notice.pk).update(sending_at=timezone.now() - timedelta(minutes=10))
    assert run_outbox(notice) == "sent"
    row.refresh_from_db()
    assert row.done_at is not None and len(smtp.messages) == 1


def test_the_sweeper_resolves_a_notice_stuck_sending_with_its_outbox_row_done(
    case, facts, coordinator, smtp
):
    notice = website_notice(case, coordinator)
    services.send_notice(acting=coordinator, notice=notice)
    services.claim(str(notice.uuid))
    OutboxMessage.objects.filter(kwargs__notice=str(notice.uuid)).update(done_at=timezone.now())
    assert services.resolve_stuck_sends(now=timezone.now()) == 0  # still inside the lease
    later = timezone.now() + timedelta(minutes=10)
    assert services.resolve_stuck_sends(now=later) == 1
    [fresh] = OutboxMessage.objects.filter(kwargs__notice=str(notice.uuid), done_at=None)
    assert services.deliver(str(notice.uuid), outbox_id=str(fresh.uuid)) == "sent"
    assert len(smtp.messages) == 1


def test_queued_email_notices_go_in_one_batch_each_once_with_its_own_message_id(
    case, facts, coordinator, smtp
):
    from vault.audit import verify_chain

    notices = [website_notice(case, coordinator)]
    for i in range(2):
        notices.append(
            services.prepare_notice(
                acting=coordinator,
                case=case,
                route=route("website", Basis.DSA),
                locations=[location_on(case, "fotos-falsas")],
                recipient="abuse@fotos-falsas.example",
                new_fact=f"A new copy appeared ({i}).",
            )
        )
    for notice in notices:
        services.send_notice(acting=coordinator, notice=notice)
    assert services.deliver_queued_email() == {"sent": 3, "retry": 0, "failed": 0, "withdrawn": 0}
    assert services.deliver_queued_email()["sent"] == 0  # nothing left, nothing twice
    ids = sorted(message_from_bytes(raw)["Message-ID"] for _rcpt, raw in smtp.messages)
    assert ids == sorted(n.message_id for n in notices)
    for notice in notices:
        notice.refresh_from_db()
        assert notice.state == NoticeState.SENT and notice.accepted_at and notice.sent_at
        assert run_outbox(notice) == "skipped"  # its own task only closes its row
    assert not OutboxMessage.objects.filter(task="takedowns.deliver_notice", done_at=None)
    assert verify_chain().ok


def test_a_batch_whose_server_is_down_leaves_every_notice_queued(
    case, facts, coordinator, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", 9, False
    notice = website_notice(case, coordinator)
    services.send_notice(acting=coordinator, notice=notice)
    assert services.deliver_queued_email()["retry"] == 1
    notice.refresh_from_db()
    assert notice.state == NoticeState.QUEUED and notice.last_error
