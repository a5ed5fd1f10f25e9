import json
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from support import outbox
from support.models import OutboxMessage
from support.outbox import outbox_task

pytestmark = pytest.mark.django_db

CALLS: list[str] = []


@outbox_task("tests.record_call")
def record_call(*, thing: str) -> None:
    CALLS.append(thing)


def queued_messages() -> list[dict]:
    """Messages waiting in the real broker's default queue."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]


@pytest.fixture
def empty_queue():
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("celery")
    yield
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("celery")


def test_it_dispatches_after_commit(empty_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = outbox.enqueue("tests.record_call", thing="abc-123")
    message.refresh_from_db()
    assert message.dispatched_at is not None
    [queued] = queued_messages()
    assert queued["headers"]["task"] == "tests.record_call"
    assert queued["headers"]["id"].startswith(str(message.uuid))


def test_nothing_is_dispatched_when_the_transaction_rolls_back(
    empty_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        outbox.enqueue("tests.record_call", thing="abc")
        transaction.set_rollback(True)
    assert not OutboxMessage.objects.exists()
    assert queued_messages() == []


def test_a_dispatch_lost_while_the_broker_was_down_is_resent_by_the_sweeper(
    local_services, empty_queue, django_capture_on_commit_callbacks
):
    local_services.redis.stop()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            message = outbox.enqueue("tests.record_call", thing="lost-1")
        message.refresh_from_db()
        assert message.dispatched_at is None  # the broker refused; the row is kept
        assert outbox.sweep() == 0  # still down: nothing sent, nothing lost
    finally:
        local_services.redis.start()
    assert queued_messages() == []
    assert outbox.sweep() == 1
    message.refresh_from_db()
    assert message.dispatched_at is not None
    [queued] = queued_messages()
    assert queued["headers"]["id"].startswith(str(message.uuid))


def test_the_sweeper_resends_a_message_the_broker_lost_after_dispatch(empty_queue):
    message = OutboxMessage.objects.create(
        task="tests.record_call",
        kwargs={"thing": "x"},
        dispatched_at=timezone.now() - timedelta(seconds=settings.OUTBOX_REDISPATCH_AFTER + 1),
        dispatch_count=1,
    )
    assert outbox.sweep() == 1
    message.refresh_from_db()
    assert message.dispatch_count == 2


def test_the_sweeper_leaves_recent_and_done_messages_alone(empty_queue):
    OutboxMessage.objects.create(task="tests.record_call", kwargs={}, dispatched_at=timezone.now())
    OutboxMessage.objects.create(task="tests.record_call", kwargs={}, done_at=timezone.now())
    assert outbox.sweep() == 0
    assert queued_messages() == []


def test_a_task_runs_once_however_often_it_is_delivered():
    CALLS.clear()
    message = OutboxMessage.objects.create(task="tests.record_call", kwargs={"thing": "once"})
    record_call(outbox_id=str(message.uuid), thing="once")
    record_call(outbox_id=str(message.uuid), thing="once")
    assert CALLS == ["once"]
    message.refresh_from_db()
    assert message.done_at is not None


@pytest.mark.parametrize(
    "value",
    ["María López", "https://example.org/x", "a" * 65, {"nested": 1}, ["list"], 1.5, True],
)
def test_it_refuses_free_content_in_task_arguments(value):
    with pytest.raises(ValueError, match="must be an id"):
        outbox.enqueue("tests.record_call", thing=value)
    assert not OutboxMessage.objects.exists()


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "teal").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.django_db(transaction=True)
def test_it_lets_other_audited_writes_through_while_an_image_is_processed(
    monkeypatch, settings, tmp_path
):
    """The worker decodes and fingerprints outside any transaction, so the audit
    chain's lock is not held while it does; a family's write meanwhile completes."""
    import threading

    from django.db import connection

    from support import members
    from support.models import ContextFile
    from support.tasks import process_evidence
    from tests.factories import make_case
    from vault import images
    from vault import services as vault_services
    from vault.audit import Actor
    from vault.models import AuditEvent

    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    org = members.create_organisation(name="Grupo lento", actor=Actor.system("tests"))
    case = make_case(org)
    blob = vault_services.store_stream([_png()], actor=Actor.system("tests"), filename="a.png")
    context_file = ContextFile.objects.create(case=case, blob=blob)
    row = OutboxMessage.objects.create(task="support.process_evidence", kwargs={})

    decoding, finish = threading.Event(), threading.Event()
    real_open = images.open_untrusted

    def slow_open(data):
        decoding.set()
        finish.wait(30)
        return real_open(data)

    monkeypatch.setattr(images, "open_untrusted", slow_open)
    errors = []

    def worker():
        try:
            process_evidence(outbox_id=str(row.uuid), file=str(context_file.uuid))
        except Exception as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)
        finally:
            from django.db import connection as worker_connection

            worker_connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert decoding.wait(30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '3s'")
        try:
            members.create_organisation(name="Mientras tanto", actor=Actor.system("tests"))
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
        assert thread.is_alive()  # the write went through while the image was still open
    finally:
        finish.set()
        thread.join(30)
    assert errors == []
    row.refresh_from_db()
    assert row.done_at is not None and row.leased_until is None
    assert AuditEvent.objects.filter(event="blob.processed", object_id=blob.uuid).exists()


def test_a_task_delivered_while_another_worker_holds_its_lease_is_skipped():
    CALLS.clear()
    message = OutboxMessage.objects.create(
        task="tests.record_call",
        kwargs={"thing": "held"},
        leased_until=timezone.now() + timedelta(minutes=5),
    )
    record_call(outbox_id=str(message.uuid), thing="held")
    assert CALLS == []
    message.refresh_from_db()
    assert message.done_at is None


def test_a_task_whose_lease_lapsed_runs_again():
    CALLS.clear()
    message = OutboxMessage.objects.create(
        task="tests.record_call",
        kwargs={"thing": "lapsed"},
        leased_until=timezone.now() - timedelta(seconds=1),
    )
    record_call(outbox_id=str(message.uuid), thing="lapsed")
    assert CALLS == ["lapsed"]


def test_a_failed_task_gives_its_lease_back_for_the_retry():
    message = OutboxMessage.objects.create(task="tests.fail", kwargs={})
    with pytest.raises(ZeroDivisionError):
        always_fails(outbox_id=str(message.uuid))
    message.refresh_from_db()
    assert message.leased_until is None and message.done_at is None


def test_a_worker_entry_point_refuses_to_run_inside_a_transaction():
    message = OutboxMessage.objects.create(task="tests.record_call", kwargs={"thing": "x"})
    with transaction.atomic(), pytest.raises(RuntimeError, match="durable"):
        record_call(outbox_id=str(message.uuid), thing="x")
    with transaction.atomic(), pytest.raises(RuntimeError, match="durable"):
        record_call(thing="x")


@outbox_task("tests.fail")
def always_fails() -> None:
    raise ZeroDivisionError


def test_a_mail_sent_again_after_a_worker_died_carries_the_same_message_id(settings, org_admin):
    from django.core import mail

    from support.emails import send_invitation_email
    from support.members import invite_member
    from support.models import Role

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    invitation = invite_member(actor=org_admin, email="nueva@example.org", role=Role.CASEWORKER)
    row = OutboxMessage.objects.get(task="support.send_invitation_email")
    send_invitation_email(outbox_id=str(row.uuid), invitation=str(invitation.uuid))
    # The worker died after the mail server's 250, before the row was marked done.
    OutboxMessage.objects.filter(pk=row.pk).update(done_at=None, leased_until=None)
    send_invitation_email(outbox_id=str(row.uuid), invitation=str(invitation.uuid))
    first, second = (m.message() for m in mail.outbox)
    assert first["Message-ID"] == second["Message-ID"] == f"<outbox-{row.uuid}@amparo.invalid>"
    assert first["To"] == "nueva@example.org"
