"""Signed anchors of the audit chain's head (vault/anchors.py, the beat task)."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from amparo.celery import app
from vault import anchors, audit, crypto, keys
from vault.models import AuditAnchor
from vault.tasks import anchor_audit_chain

pytestmark = pytest.mark.django_db


def _events(n):
    actor = audit.Actor.system("tests")
    with transaction.atomic():
        return [audit.record(f"test.event{i}", actor=actor, data={"i": i}) for i in range(n)]


def _as_superuser(sql, params):
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE vault_auditevent DISABLE TRIGGER vault_auditevent_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE vault_auditevent ENABLE TRIGGER vault_auditevent_append_only")


def test_the_beat_task_signs_the_chain_head_with_the_server_key():
    *_, head = _events(3)
    seq = anchor_audit_chain()
    anchor = AuditAnchor.objects.get()
    assert seq == anchor.seq == head.id and anchor.head_hash == head.hash
    assert anchor.key_id == keys.signing_key_id()
    assert crypto.verify_signature(
        keys.signing_public_key(), anchor.message(), bytes.fromhex(anchor.signature)
    )


def test_it_is_scheduled_at_the_configured_interval():
    entry = app.conf.beat_schedule["audit-anchor"]
    assert entry["task"] == "vault.tasks.anchor_audit_chain"
    assert entry["schedule"] == 600.0


def test_it_signs_nothing_new_while_the_head_has_not_moved():
    _events(2)
    first = anchors.sign_head()
    assert anchors.sign_head() == first
    _events(1)
    assert anchors.sign_head().seq > first.seq
    assert AuditAnchor.objects.count() == 2


def test_an_empty_log_has_no_anchor():
    assert anchors.sign_head() is None


def test_an_intact_log_and_its_anchors_verify(capsys):
    _events(2)
    anchors.sign_head()
    _events(2)
    anchors.sign_head()
    report = anchors.verify_anchors()
    assert report.ok and report.anchors == 2 and report.events == 4
    call_command("verify_audit")
    assert "intact: 4 events, 2 signed anchors" in capsys.readouterr().out


def test_it_detects_a_truncated_log():
    _events(3)
    anchor = anchors.sign_head()
    _as_superuser("DELETE FROM vault_auditevent WHERE id = %s", [anchor.seq])
    # The chain that is left is consistent: only the anchor shows that rows are gone.
    assert audit.verify_chain().ok
    report = anchors.verify_anchors()
    assert any("the log was truncated" in p for p in report.problems)
    with pytest.raises(CommandError, match="truncated"):
        call_command("verify_audit")


def test_it_detects_a_log_rewritten_with_fresh_hashes():
    first, second, _ = _events(3)
    anchor = anchors.sign_head()
    # Rewrite the second event and recompute every hash after it: the chain is consistent.
    _as_superuser("UPDATE vault_auditevent SET event = 'forged' WHERE id = %s", [second.id])
    prev = first.hash
    for event in audit.AuditEvent.objects.filter(id__gte=second.id).order_by("id"):
        new = audit.event_hash(prev_hash=prev, fields=audit._fields(event))
        _as_superuser(
            "UPDATE vault_auditevent SET prev_hash = %s, hash = %s WHERE id = %s",
            [prev, new, event.id],
        )
        prev = new
    assert audit.verify_chain().ok
    report = anchors.verify_anchors()
    assert report.problems == (
        f"event {anchor.seq} no longer has the hash its anchor signed: the log was rewritten",
    )


def test_it_detects_a_forged_anchor():
    _events(2)
    anchor = anchors.sign_head()
    AuditAnchor.objects.filter(pk=anchor.pk).update(head_hash="0" * 64)
    report = anchors.verify_anchors()
    assert any("the signature does not verify" in p for p in report.problems)


def test_it_names_an_anchor_signed_by_another_key():
    _events(1)
    anchor = anchors.sign_head()
    AuditAnchor.objects.filter(pk=anchor.pk).update(key_id="0123456789abcdef")
    assert any("signed by another key" in p for p in anchors.verify_anchors().problems)


def test_the_admin_shows_the_public_key():
    from tests.factories import client_for, make_user

    admin = make_user()
    admin.is_staff = admin.is_superuser = True
    admin.save()
    _events(1)
    anchors.sign_head()
    response = client_for(admin).get("/admin/vault/auditanchor/")
    assert response.status_code == 200
    assert crypto.public_key_to_b64(keys.signing_public_key()) in response.content.decode()


def test_the_public_key_can_be_printed_for_publishing(capsys):
    call_command("signing_public_key")
    out = capsys.readouterr().out
    assert keys.signing_key_id() in out and "BEGIN PUBLIC KEY" in out
    assert crypto.public_key_to_b64(keys.signing_public_key()) in out
