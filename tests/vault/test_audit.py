import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from vault import audit
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db


def _three_events():
    actor = audit.Actor.system("tests")
    with transaction.atomic():
        return [audit.record(f"test.event{i}", actor=actor, data={"i": i}) for i in range(3)]


def test_it_chains_each_event_to_the_previous_one():
    first, second, third = _three_events()
    assert first.prev_hash == audit.GENESIS
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert audit.verify_chain().ok
    assert audit.verify_chain().checked == 3


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_record_outside_a_transaction():
    with pytest.raises(RuntimeError):
        audit.record("test.event", actor=audit.Actor.system("tests"))


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE vault_auditevent SET event = 'forged' WHERE id = %s",
        "DELETE FROM vault_auditevent WHERE id = %s",
    ],
)
def test_it_refuses_update_and_delete_in_the_database(sql):
    first, _, _ = _three_events()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [first.id])
    assert AuditEvent.objects.get(id=first.id).event == "test.event0"


def _as_superuser_bypassing_trigger(sql, params):
    """What a database superuser can still do: switch the trigger off and edit."""
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE vault_auditevent DISABLE TRIGGER vault_auditevent_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE vault_auditevent ENABLE TRIGGER vault_auditevent_append_only")


def test_verify_audit_names_a_row_altered_by_a_superuser():
    _, second, _ = _three_events()
    _as_superuser_bypassing_trigger(
        "UPDATE vault_auditevent SET data = '{\"i\": 99}' WHERE id = %s", [second.id]
    )
    report = audit.verify_chain()
    assert report.broken_at == second.id
    with pytest.raises(CommandError, match=f"event id {second.id}"):
        call_command("verify_audit")


def test_verify_audit_notices_a_deleted_row():
    _, second, third = _three_events()
    _as_superuser_bypassing_trigger("DELETE FROM vault_auditevent WHERE id = %s", [second.id])
    assert audit.verify_chain().broken_at == third.id


def test_verify_audit_reports_an_intact_chain(capsys):
    _three_events()
    call_command("verify_audit")
    assert "intact: 3 events" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("ip", "expected"),
    [("203.0.113.77", "203.0.113.0/24"), ("2001:db8:1:2::5", "2001:db8:1::/48"), ("junk", "")],
)
def test_it_keeps_only_a_coarse_origin(ip, expected):
    assert audit.coarse_origin(ip) == expected


def test_many_events_recorded_at_once_extend_the_same_chain():
    actor = audit.Actor.system("tests")
    with transaction.atomic():
        first = audit.record("case.submitted", actor=actor)
        batch = audit.record_many(
            [{"event": "notice.sent", "data": {"n": i}} for i in range(3)], actor=actor
        )
        last = audit.record("case.triaged", actor=actor)
    stored = list(AuditEvent.objects.filter(id__gte=first.id).order_by("id"))
    assert [e.event for e in stored] == ["case.submitted"] + ["notice.sent"] * 3 + ["case.triaged"]
    assert [e.prev_hash for e in stored[1:]] == [e.hash for e in stored[:-1]]
    assert batch[0].prev_hash == first.hash and last.prev_hash == batch[-1].hash
    assert audit.verify_chain().ok
