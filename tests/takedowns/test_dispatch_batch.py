"""The batch path's own parts: the message built straight to bytes says what Django's
EmailMessage says, and the acceptance notes written by a thread (outside any
transaction, as a worker runs) reach the database before the batch records sent."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from support.models import OutboxMessage
from takedowns import services
from takedowns.channels import DeliveryError, EmailTransport
from takedowns.models import Basis, Notice, NoticeState, Route
from takedowns.tasks import deliver_notice
from tests.takedowns.helpers import ensure_registry_seed, location_on, route
from tests.takedowns.test_dispatch import fake_api, smtp, website_notice  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

HEADERS = ("Subject", "From", "To", "Reply-To", "Message-ID", "X-Amparo-Notice")
HEADERS += ("Content-Type", "Content-Transfer-Encoding", "MIME-Version")


def _said(raw: bytes) -> dict:
    parsed = message_from_bytes(raw, policy=policy.default)  # unfolded and decoded
    # Stripped: the email package folds a long encoded subject right after "Subject:",
    # which leaves Django's with a leading space.
    said = {name: str(parsed[name]).strip() for name in HEADERS}
    said["body"] = parsed.get_payload(decode=True).decode(parsed.get_content_charset())
    said["date"] = bool(parsed["Date"])
    return said


@pytest.mark.parametrize(
    "subject",
    [
        "Short ASCII subject",
        "A long ASCII subject that goes well past one header line of seventy-six chars",
        "Notificación de contenido ilícito (DSA art. 16) — ref. 1A2B3C4D",
        "Ñandú 🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂 ünïcödé split across encoded words — ref. 0F",
    ],
)
def test_the_built_message_says_what_djangos_email_message_says(case, facts, coordinator, subject):
    notice = Notice.objects.select_related("organisation__takedown_settings").get(
        pk=website_notice(case, coordinator).pk
    )
    notice.subject = subject
    transport = EmailTransport()
    built = transport.message_bytes(notice)
    django = transport.message(notice, None).message().as_bytes(linesep="\r\n")
    assert _said(built) == _said(django)
    assert _said(built)["Subject"] == subject
    assert b"\r\n" in built and b"\n" not in built.replace(b"\r\n", b"")  # CRLF only
    assert all(len(line) <= 998 for line in built.split(b"\r\n"))


def test_a_body_with_a_line_too_long_for_8bit_goes_djangos_way(case, facts, coordinator, smtp):  # noqa: F811
    notice = website_notice(case, coordinator)
    long_line = "https://fotos-falsas.example/galeria/" + "á" * 1200
    notice.body = f"Retiren:\n{long_line}\n"
    notice.save()
    assert EmailTransport().message_bytes(notice) is None
    services.send_notice(acting=coordinator, notice=notice)
    assert services.deliver_queued_email()["sent"] == 1
    [(_rcpt, raw)] = smtp.messages
    parsed = message_from_bytes(raw)
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert long_line in parsed.get_payload(decode=True).decode()


def test_a_subject_with_a_line_break_is_refused_not_sent(case, facts, coordinator):
    notice = website_notice(case, coordinator)
    notice.subject = "Notice\r\nBcc: everyone@example.org"
    with pytest.raises(DeliveryError) as refused:
        EmailTransport().message_bytes(notice)
    assert refused.value.permanent


def _queue(case, coordinator, count):
    notices = []
    for i in range(count):
        notice = services.prepare_notice(
            acting=coordinator,
            case=case,
            route=route("website", Basis.DSA),
            locations=[location_on(case, "fotos-falsas")],
            recipient="abuse@fotos-falsas.example",
            new_fact=f"Copy {i}." if i else "",
        )
        notices.append(services.send_notice(acting=coordinator, notice=notice))
    return notices


@pytest.fixture
def seeded():
    ensure_registry_seed()  # a transactional test starts from a flushed database


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_thread_writes_every_note_before_sent_is_recorded(
    seeded,
    case,
    facts,
    coordinator,
    smtp,  # noqa: F811
    monkeypatch,
):
    notices = _queue(case, coordinator, 4)
    seen_at_recording = []
    real_record = services._record_sent_many

    def record(accepted):  # what the database holds when the batch records sent
        seen_at_recording.extend(
            Notice.objects.filter(pk__in=[n.pk for n in accepted]).values_list(
                "accepted_at", flat=True
            )
        )
        return real_record(accepted)

    monkeypatch.setattr(services, "_record_sent_many", record)
    assert not connection.in_atomic_block  # so the notes go through the thread
    assert services.deliver_queued_email()["sent"] == 4
    assert len(seen_at_recording) == 4 and all(seen_at_recording)
    assert len(smtp.messages) == 4
    for notice in notices:
        notice.refresh_from_db()
        assert notice.state == NoticeState.SENT and notice.accepted_at <= notice.sent_at


@pytest.mark.django_db(transaction=True)
def test_a_note_for_an_attempt_another_worker_took_over_is_not_written(
    seeded, case, facts, coordinator
):
    [notice] = _queue(case, coordinator, 1)
    claimed = services.claim(str(notice.uuid))
    Notice.objects.filter(pk=notice.pk).update(attempts=claimed.attempts + 1)  # reclaimed
    notes = services.AcceptanceNotes()
    assert not notes.inline
    notes.note(claimed)
    notes.close()
    notice.refresh_from_db()
    assert notice.accepted_at is None  # not ours any more: the other worker's outcome stands


@pytest.mark.django_db(transaction=True)
def test_the_tasks_of_rows_a_batch_closed_finish_without_a_query_here_and_with_one_elsewhere(
    seeded,
    case,
    facts,
    coordinator,
    smtp,  # noqa: F811
):
    notices = _queue(case, coordinator, 3)
    assert services.deliver_queued_email()["sent"] == 3
    rows = [
        OutboxMessage.objects.get(task="takedowns.deliver_notice", kwargs__notice=str(n.uuid))
        for n in notices
    ]
    assert all(row.done_at is not None for row in rows)
    with CaptureQueriesContext(connection) as queries:
        for notice, row in zip(notices, rows, strict=True):
            assert deliver_notice.run(notice=str(notice.uuid), outbox_id=str(row.uuid)) == "done"
    assert len(queries) == 0  # this process closed them: it remembers
    services._CLOSED_HERE.clear()  # another worker process, which did not
    with CaptureQueriesContext(connection) as queries:
        assert deliver_notice.run(notice=str(notices[0].uuid), outbox_id=str(rows[0].uuid)) == (
            "done"
        )
    assert len(queries) == 1
    assert len(smtp.messages) == 3


def _row(notice):
    return OutboxMessage.objects.get(
        task="takedowns.deliver_notice", kwargs__notice=str(notice.uuid)
    )


def test_the_tasks_own_email_goes_first_in_the_batch_it_runs(case, facts, coordinator, smtp):  # noqa: F811
    notices = _queue(case, coordinator, 3)
    last = notices[-1]
    assert deliver_notice.run(notice=str(last.uuid), outbox_id=str(_row(last).uuid)) == "sent"
    ids = [message_from_bytes(raw)["Message-ID"] for _rcpt, raw in smtp.messages]
    assert ids[0] == last.message_id and sorted(ids) == sorted(n.message_id for n in notices)
    for notice in notices:
        notice.refresh_from_db()
        assert notice.state == NoticeState.SENT and _row(notice).done_at is not None
    assert deliver_notice.run(notice=str(last.uuid), outbox_id=str(_row(last).uuid)) == "done"


def test_a_task_for_an_api_notice_still_delivers_it_the_single_way(
    case,
    facts,
    coordinator,
    fake_api,  # noqa: F811
):
    api_route = route("website", Basis.DSA)
    Route.objects.filter(pk=api_route.pk).update(channel="api", api_adapter="json_report")
    [notice] = _queue(case, coordinator, 1)
    assert deliver_notice.run(notice=str(notice.uuid), outbox_id=str(_row(notice).uuid)) == "sent"
    notice.refresh_from_db()
    assert notice.state == NoticeState.SENT and _row(notice).done_at is not None
    assert [key for key, _body in fake_api.requests] == [notice.delivery_key]
