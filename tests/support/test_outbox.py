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
